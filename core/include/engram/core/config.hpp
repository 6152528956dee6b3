#pragma once
// Experiment files (YAML) -> validated network_spec. Every key is checked: an unknown key,
// a value with the wrong unit, a dangling name is a config_error naming file, line,
// column and key, with the nearest valid key when there is one.
#include <string>
#include <utility>
#include <vector>

#include "engram/core/model.hpp"
#include "engram/core/spec.hpp"

namespace engram {

struct experiment {
    std::string path;           // file it came from ("<string>" for text)
    std::string resolved_yaml;  // the experiment after overrides, as YAML text
    network_spec spec;
};

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
