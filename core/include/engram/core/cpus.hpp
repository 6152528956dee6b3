#pragma once
// How many CPUs this process may use: what sizes the worker team, construction's thread
// arena and the choice of a recording thread of its own.
//
// std::thread::hardware_concurrency counts every CPU of the machine. A process is often
// allowed fewer: an affinity mask (taskset, a cgroup cpuset: Slurm's --cpus-per-task,
// docker --cpuset-cpus) or a CPU-time quota (cgroup cpu.max or cpu.cfs_quota_us: docker
// --cpus, Kubernetes limits). Workers that meet every step and wait by spinning lose far
// more than they gain when there are more of them than CPUs (coba_large on 2 workers
// confined to one CPU: 6.4 x slower than on 1).
#include <optional>
#include <string>

namespace engram {

// The CPUs of the calling thread's affinity mask, at most the quota of the process's
// cgroup (v2, or v1's cpu controller) rounded up, and at least 1.
int usable_cpus();

// The CPUs a cgroup's quota grants, from the text of a cgroup v2 `cpu.max` ("max 100000"
// or "QUOTA PERIOD", microseconds): QUOTA / PERIOD, or nothing where there is no limit
// or the text is not one.
std::optional<double> cpu_max_quota(const std::string& text);
// The same from cgroup v1's `cpu.cfs_quota_us` (-1: no limit) and `cpu.cfs_period_us`.
std::optional<double> cfs_quota(const std::string& quota_us, const std::string& period_us);

}  // namespace engram
