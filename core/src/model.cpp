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

namespace {
template <class T>
const param_info* find_in(const std::vector<param_info>& v, const std::string& n) {
    for (const auto& p : v)
        if (p.name == n) return &p;
    return nullptr;
}
}  // namespace

const param_info* rule_info::find_param(const std::string& n) const { return find_in<rule_info>(params, n); }
const param_info* modulator_info::find_param(const std::string& n) const { return find_in<modulator_info>(params, n); }
const rule_option* rule_info::find_option(const std::string& n) const {
    for (const auto& o : options)
        if (o.name == n) return &o;
    return nullptr;
}

void model_registry::add_rule(rule_info info) {
    if (find_rule(info.name)) throw spec_error("model registry", "plasticity rule '" + info.name + "' registered twice");
    rules_.push_back(std::move(info));
}
const rule_info* model_registry::find_rule(const std::string& name) const {
    for (const auto& r : rules_)
        if (r.name == name) return &r;
    return nullptr;
}
std::vector<std::string> model_registry::rule_names() const {
    std::vector<std::string> v;
    for (const auto& r : rules_) v.push_back(r.name);
    return v;
}
void model_registry::add_modulator(modulator_info info) {
    if (find_modulator(info.name)) throw spec_error("model registry", "modulator '" + info.name + "' registered twice");
    modulators_.push_back(std::move(info));
}
const modulator_info* model_registry::find_modulator(const std::string& name) const {
    for (const auto& r : modulators_)
        if (r.name == name) return &r;
    return nullptr;
}
std::vector<std::string> model_registry::modulator_names() const {
    std::vector<std::string> v;
    for (const auto& r : modulators_) v.push_back(r.name);
    return v;
}

}  // namespace engram
