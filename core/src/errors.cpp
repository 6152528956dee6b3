#include "engram/core/errors.hpp"

#include <algorithm>
#include <vector>

namespace engram {
namespace {
std::string format_config(const std::string& file, int line, int column, const std::string& key,
                          const std::string& what, const std::string& suggestion) {
    std::string s = file.empty() ? std::string("<input>") : file;
    if (line > 0) {
        s.append(":").append(std::to_string(line));
        if (column > 0) s.append(":").append(std::to_string(column));
    }
    s.append(": ");
    if (!key.empty()) s.append("key '").append(key).append("': ");
    s.append(what);
    if (!suggestion.empty()) s.append(" (did you mean '").append(suggestion).append("'?)");
    return s;
}
}  // namespace

config_error::config_error(std::string file, int line, int column, std::string key,
                           std::string what, std::string suggestion)
    : error(format_config(file, line, column, key, what, suggestion)),
      file_(std::move(file)), key_(std::move(key)), message_(std::move(what)),
      suggestion_(std::move(suggestion)), line_(line), column_(column) {}

spec_error::spec_error(std::string where, std::string what)
    : error(where.empty() ? what : where + ": " + what), where_(std::move(where)) {}

io_error::io_error(std::string path, std::string op, std::string what)
    : error("cannot " + op + " '" + path + "': " + what), path_(std::move(path)) {}

std::size_t edit_distance(const std::string& a, const std::string& b) {
    std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        cur[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
            cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
        }
        std::swap(prev, cur);
    }
    return prev[b.size()];
}

}  // namespace engram
