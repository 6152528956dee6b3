#pragma once
// One error hierarchy. Every error says what went wrong and where.
#include <stdexcept>
#include <string>

namespace engram {

class error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// A problem in an experiment file (or a --set override): names file, line, column, key.
class config_error : public error {
public:
    config_error(std::string file, int line, int column, std::string key, std::string what,
                 std::string suggestion = {});
    const std::string& file() const { return file_; }
    int line() const { return line_; }      // 1-based; 0 when unknown
    int column() const { return column_; }  // 1-based; 0 when unknown
    const std::string& key() const { return key_; }
    const std::string& suggestion() const { return suggestion_; }
    const std::string& message() const { return message_; }

private:
    std::string file_, key_, message_, suggestion_;
    int line_, column_;
};

// A network description that is well-formed YAML but cannot be built.
class spec_error : public error {
public:
    spec_error(std::string where, std::string what);
    const std::string& where() const { return where_; }

private:
    std::string where_;
};

// Reading or writing a file failed.
class io_error : public error {
public:
    io_error(std::string path, std::string op, std::string what);
    const std::string& path() const { return path_; }

private:
    std::string path_;
};

// Levenshtein distance and nearest-candidate lookup, for "did you mean" suggestions.
std::size_t edit_distance(const std::string& a, const std::string& b);
template <class Range>
std::string nearest(const std::string& word, const Range& candidates) {
    std::string best;
    std::size_t best_d = static_cast<std::size_t>(-1);
    for (const auto& c : candidates) {
        const std::size_t d = edit_distance(word, std::string(c));
        if (d < best_d) { best_d = d; best = std::string(c); }
    }
    if (best.empty() || best_d > std::max<std::size_t>(2, word.size() / 2)) return {};
    return best;
}

}  // namespace engram
