#include "engram/core/cpus.hpp"

#include <algorithm>
#include <cmath>
#include <exception>
#include <fstream>
#include <sstream>
#include <thread>

#if defined(__linux__)
#include <sched.h>
#endif

namespace engram {

namespace {

std::optional<std::string> read_text(const std::string& path) {
    std::ifstream f(path);
    if (!f) return std::nullopt;
    std::ostringstream s;
    s << f.rdbuf();
    return s.str();
}

std::optional<double> quota_over_period(long long quota, long long period) {
    if (quota <= 0 || period <= 0) return std::nullopt;
    return static_cast<double>(quota) / static_cast<double>(period);
}

void keep_least(std::optional<double>& least, std::optional<double> q) {
    if (q && (!least || *q < *least)) least = q;
}

#if defined(__linux__)
// The least quota over the process's cgroup and its ancestors (v2), or its cpu cgroup
// (v1, where a container usually sees its own cgroup at the mount's root).
std::optional<double> cgroup_quota() {
    const auto self = read_text("/proc/self/cgroup");
    if (!self) return std::nullopt;
    std::optional<double> least;
    std::istringstream lines(*self);
    for (std::string line; std::getline(lines, line);) {
        // hierarchy-ID:controllers:path
        const auto a = line.find(':'), b = line.find(':', a == std::string::npos ? a : a + 1);
        if (a == std::string::npos || b == std::string::npos) continue;
        const std::string controllers = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
        if (line.compare(0, a, "0") == 0 && controllers.empty()) {  // v2: walk up to the root
            std::string p = path;
            while (true) {
                if (const auto t = read_text("/sys/fs/cgroup" + (p == "/" ? std::string() : p) + "/cpu.max")) keep_least(least, cpu_max_quota(*t));
                if (p.empty() || p == "/") break;
                p = p.substr(0, p.find_last_of('/'));
            }
            continue;
        }
        std::istringstream cs(controllers);
        bool cpu = false;
        for (std::string c; std::getline(cs, c, ',');) cpu = cpu || c == "cpu";
        if (!cpu) continue;
        for (const char* mount : {"/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct"})
            for (const std::string& dir : {std::string(mount) + (path == "/" ? std::string() : path), std::string(mount)}) {
                const auto q = read_text(dir + "/cpu.cfs_quota_us"), p = read_text(dir + "/cpu.cfs_period_us");
                if (q && p) keep_least(least, cfs_quota(*q, *p));
            }
    }
    return least;
}
#endif

}  // namespace

std::optional<double> cpu_max_quota(const std::string& text) {
    std::istringstream s(text);
    std::string quota;
    long long period = 0;
    if (!(s >> quota >> period) || quota == "max") return std::nullopt;
    try {
        std::size_t used = 0;
        const long long q = std::stoll(quota, &used);
        if (used != quota.size()) return std::nullopt;
        return quota_over_period(q, period);
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

std::optional<double> cfs_quota(const std::string& quota_us, const std::string& period_us) {
    std::istringstream q(quota_us), p(period_us);
    long long quota = 0, period = 0;
    if (!(q >> quota) || !(p >> period)) return std::nullopt;
    return quota_over_period(quota, period);
}

int usable_cpus() {
    int n = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
#if defined(__linux__)
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0) n = std::max(1, CPU_COUNT(&set));
    if (const auto q = cgroup_quota()) n = std::min(n, std::max(1, static_cast<int>(std::ceil(*q - 1e-9))));
#endif
    return n;
}

}  // namespace engram
