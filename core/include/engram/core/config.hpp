#pragma once
// Experiment files (YAML) -> validated network_spec. Every key is checked: an unknown key,
// a value with the wrong unit, a dangling name is a config_error naming file, line,
// column and key, with the nearest valid key when there is one.
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "engram/core/model.hpp"
#include "engram/core/spec.hpp"

namespace engram {

// A YAML value as read, with where it was, for sections that core accepts without
// interpreting them (the `input` section, read by datasets/). No yaml-cpp type leaks.
struct config_node {
    enum class kind { null, scalar, sequence, map };
    kind type = kind::null;
    std::string scalar;                // kind::scalar
    std::vector<std::string> keys;     // kind::map, in file order
    std::vector<config_node> values;   // kind::map: one per key; kind::sequence: the items
    std::vector<std::pair<int, int>> key_marks;  // kind::map: (line, column) of each key; 0 = --set
    int line = 0, column = 0;          // 1-based; 0 = unknown
    bool from_override = false;        // set (or changed) with --set

    bool is_map() const { return type == kind::map; }
    bool is_scalar() const { return type == kind::scalar; }
    // The value of key `k` of a map, or null.
    const config_node* find(const std::string& k) const;
};

// Reads a section that core hands on uninterpreted (input, classification): values and
// errors at the place of a node (file, line, column, dotted key; --set for overrides).
struct config_section {
    std::string file;
    [[noreturn]] void fail(const config_node& n, const std::string& key, const std::string& what,
                           const std::string& suggestion = {}) const;
    void check_keys(const config_node& n, const std::string& key, const std::vector<std::string>& allowed) const;
    std::string scalar(const config_node& n, const std::string& key) const;
    double quantity(const config_node& n, const std::string& key, dimension dim) const;
    std::uint64_t integer(const config_node& n, const std::string& key) const;
    bool boolean(const config_node& n, const std::string& key) const;
    std::vector<std::string> strings(const config_node& n, const std::string& key) const;  // a scalar or a list
};

struct experiment {
    std::string path;           // file it came from ("<string>" for text)
    std::string resolved_yaml;  // the experiment after overrides, as YAML text
    network_spec spec;
    bool duration_given = false;          // simulation.duration was in the file or --set
    std::optional<config_node> input;     // the top-level `input` section, uninterpreted
    std::optional<config_node> classification;  // the `classification` section (models/lsm)
    std::optional<config_node> spinnaker2;      // the `spinnaker2` section (backends/spinnaker2)
};

// Changes the simulated time of a loaded experiment (spec and resolved_yaml).
void set_duration(experiment& ex, double duration_ms);

// `overrides` are "dotted.key=value" strings (the --set option); each value is parsed as
// YAML. They are applied to the document before validation.
experiment load_experiment(const std::string& path, const model_registry& models,
                           const std::vector<std::string>& overrides = {});
experiment parse_experiment(const std::string& yaml_text, const std::string& name,
                            const model_registry& models,
                            const std::vector<std::string>& overrides = {});

// Checks cross references and ranges of a spec built in C++ (load_* call it too).
void validate(const network_spec& spec, const model_registry& models);

}  // namespace engram
