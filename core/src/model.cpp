#include "engram/core/model.hpp"

#include "engram/core/errors.hpp"

namespace engram {

const param_info* model_info::find_param(const std::string& n) const {
    for (const auto& p : params)
        if (p.name == n) return &p;
    return nullptr;
}

int model_info::state_index(const std::string& n) const {
    for (std::size_t i = 0; i < state.size(); ++i)
        if (state[i].name == n) return static_cast<int>(i);
    return -1;
}

int model_info::receptor_index(const std::string& n) const {
    for (std::size_t i = 0; i < receptors.size(); ++i)
        if (receptors[i].name == n) return static_cast<int>(i);
    return -1;
}

void model_registry::add(model_info info) {
    if (find(info.name)) throw spec_error("model registry", "model '" + info.name + "' registered twice");
    models_.push_back(std::move(info));
}

const model_info* model_registry::find(const std::string& name) const {
    for (const auto& m : models_)
        if (m.name == name) return &m;
    return nullptr;
}

const model_info& model_registry::get(const std::string& name) const {
    if (const auto* m = find(name)) return *m;
    const std::string s = nearest(name, names());
    throw spec_error("", "unknown model '" + name + "'" +
                             (s.empty() ? std::string() : " (did you mean '" + s + "'?)"));
}

std::vector<std::string> model_registry::names() const {
    std::vector<std::string> v;
    for (const auto& m : models_) v.push_back(m.name);
    return v;
}

}  // namespace engram
