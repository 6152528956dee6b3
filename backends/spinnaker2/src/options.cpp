// The experiment's `spinnaker2:` section (docs/spinnaker2.md).
#include <algorithm>

#include "engram/spinnaker2/spinnaker2.hpp"

namespace engram::s2 {

namespace {

machine_spec preset_at(const config_section& s, const config_node& n, const std::string& key, const std::string& name) {
    const auto names = machine_presets();
    if (std::find(names.begin(), names.end(), name) == names.end())
        s.fail(n, key, "unknown machine preset '" + name + "'", "presets: chip (1 chip), board48 (48 chips)");
    return machine_preset(name);
}

machine_spec read_machine(const config_section& s, const config_node& n, const std::string& key) {
    if (n.is_scalar()) {
        return preset_at(s, n, key, n.scalar);
    }
    if (!n.is_map()) s.fail(n, key, "expected a preset name (chip, board48) or a mapping");
    s.check_keys(n, key, {"preset", "chips", "pes_per_chip", "sram_per_pe", "code_reserve", "router_entries",
                          "max_atoms_per_pe", "tick", "clock"});
    machine_spec m = machine_preset("chip");
    if (auto* p = n.find("preset")) {
        m = preset_at(s, *p, key + ".preset", s.scalar(*p, key + ".preset"));
    }
    if (auto* c = n.find("chips")) {
        const std::string k = key + ".chips";
        if (c->type != config_node::kind::sequence || c->values.empty())
            s.fail(*c, k, "expected a list of [x, y] chip coordinates");
        m.chips.clear();
        m.name = "custom";
        for (std::size_t i = 0; i < c->values.size(); ++i) {
            const auto& xy = c->values[i];
            const std::string ki = k + "[" + std::to_string(i) + "]";
            if (xy.type != config_node::kind::sequence || xy.values.size() != 2) s.fail(xy, ki, "expected [x, y]");
            const chip_xy cxy{static_cast<int>(s.integer(xy.values[0], ki)), static_cast<int>(s.integer(xy.values[1], ki))};
            if (m.chip_index(cxy) >= 0) s.fail(xy, ki, "chip listed twice");
            m.chips.push_back(cxy);
        }
    }
    auto positive = [&](const char* name, auto& field, std::uint64_t lo, std::uint64_t hi) {
        if (auto* v = n.find(name)) {
            const std::uint64_t x = s.integer(*v, key + "." + name);
            if (x < lo || x > hi)
                s.fail(*v, key + "." + name, "must be between " + std::to_string(lo) + " and " + std::to_string(hi));
            field = static_cast<std::remove_reference_t<decltype(field)>>(x);
        }
    };
    positive("pes_per_chip", m.pes_per_chip, 1, 192);
    positive("sram_per_pe", m.sram_per_pe, 1024, 1u << 30);
    positive("code_reserve", m.code_reserve, 0, 1u << 30);
    positive("router_entries", m.router_entries, 1, 1u << 24);
    positive("max_atoms_per_pe", m.max_atoms_per_pe, 1, 4096);
    if (auto* v = n.find("tick")) {
        m.tick_ms = s.quantity(*v, key + ".tick", dimension::time);
        if (!(m.tick_ms > 0)) s.fail(*v, key + ".tick", "must be positive");
    }
    if (auto* v = n.find("clock")) {
        // MHz as a plain number (150, 300) or Hz with a unit-less large number.
        const double c = std::stod(s.scalar(*v, key + ".clock"));
        m.clock_hz = c < 1e5 ? c * 1e6 : c;
        if (!(m.clock_hz > 0)) s.fail(*v, key + ".clock", "must be positive (MHz)");
    }
    if (m.code_reserve >= m.sram_per_pe) s.fail(n, key, "code_reserve leaves no SRAM for data");
    return m;
}

}  // namespace

map_options read_map_options(const experiment& ex) {
    map_options o;
    if (!ex.spinnaker2) return o;
    const config_section s{ex.path};
    const config_node& n = *ex.spinnaker2;
    const std::string key = "spinnaker2";
    if (!n.is_map()) s.fail(n, key, "expected a mapping");
    s.check_keys(n, key, {"machine", "atoms_per_pe", "formats", "weight_bits", "placement", "reference", "compression"});
    if (auto* m = n.find("machine")) o.machine = read_machine(s, *m, key + ".machine");
    if (auto* a = n.find("atoms_per_pe")) {
        if (!a->is_map()) s.fail(*a, key + ".atoms_per_pe", "expected a mapping population: neurons per PE");
        for (std::size_t i = 0; i < a->keys.size(); ++i) {
            const std::string k = key + ".atoms_per_pe." + a->keys[i];
            if (!ex.spec.find_population(a->keys[i])) s.fail(a->values[i], k, "no population named '" + a->keys[i] + "'");
            const std::uint64_t v = s.integer(a->values[i], k);
            if (v < 1 || v > 4096) s.fail(a->values[i], k, "must be between 1 and 4096");
            o.atoms_per_pe[a->keys[i]] = static_cast<std::uint32_t>(v);
        }
    }
    if (auto* f = n.find("formats")) {
        if (!f->is_map()) s.fail(*f, key + ".formats", "expected a mapping population: delayed | int8");
        for (std::size_t i = 0; i < f->keys.size(); ++i) {
            const std::string k = key + ".formats." + f->keys[i];
            if (!ex.spec.find_population(f->keys[i])) s.fail(f->values[i], k, "no population named '" + f->keys[i] + "'");
            const std::string v = s.scalar(f->values[i], k);
            if (v != "delayed" && v != "int8") s.fail(f->values[i], k, "expected delayed or int8");
            o.formats[f->keys[i]] = v;
        }
    }
    if (auto* w = n.find("weight_bits")) {
        const std::uint64_t b = s.integer(*w, key + ".weight_bits");
        if (b < 1 || b > 15) s.fail(*w, key + ".weight_bits", "must be between 1 and 15 (magnitude bits; 4 gives -15..15)");
        o.weight_bits = static_cast<int>(b);
    }
    if (auto* p = n.find("placement")) {
        const std::string k = key + ".placement";
        if (p->is_scalar()) {
            o.placement = p->scalar;
        } else {
            if (!p->is_map()) s.fail(*p, k, "expected a method name or a mapping");
            s.check_keys(*p, k, {"method", "seed", "iterations", "chip_hop_cost"});
            if (auto* v = p->find("method")) o.placement = s.scalar(*v, k + ".method");
            if (auto* v = p->find("seed")) o.placement_seed = s.integer(*v, k + ".seed");
            if (auto* v = p->find("iterations")) o.placement_iterations = s.integer(*v, k + ".iterations");
            if (auto* v = p->find("chip_hop_cost")) {
                o.chip_hop_cost = s.quantity(*v, k + ".chip_hop_cost", dimension::dimensionless);
                if (!(o.chip_hop_cost >= 0)) s.fail(*v, k + ".chip_hop_cost", "must not be negative");
            }
        }
        if (o.placement != "anneal" && o.placement != "greedy" && o.placement != "random")
            s.fail(*p, k, "unknown placement method '" + o.placement + "' (anneal, greedy, random)");
    }
    if (auto* r = n.find("reference")) {
        o.reference_ms = s.quantity(*r, key + ".reference", dimension::time);
        if (!(o.reference_ms >= 0)) s.fail(*r, key + ".reference", "must not be negative (0: no reference run)");
    }
    if (auto* c = n.find("compression")) {
        o.compression = s.scalar(*c, key + ".compression");
        if (o.compression != "when_needed" && o.compression != "always" && o.compression != "never")
            s.fail(*c, key + ".compression", "expected when_needed, always or never");
    }
    return o;
}

}  // namespace engram::s2
