#pragma once
// NIR 1.0 (Neuromorphic Intermediate Representation) graphs: export an engram network to
// the HDF5 layout that `nir.write` produces, and import such a file as a network_spec.
// The mapping, units and approximations are described in docs/nir.md.
//
// Units in the files engram writes (stated in the graph's metadata): time in seconds,
// voltage in mV, current in pA, resistance in GOhm (mV/pA). Import reads the graph's
// `time_unit` metadata ("s" or "ms") and assumes seconds when there is none.
#include <string>
#include <vector>

#include "engram/core/config.hpp"
#include "engram/core/engine.hpp"
#include "engram/core/errors.hpp"
#include "engram/core/model.hpp"
#include "engram/core/spec.hpp"

namespace engram::nir {

struct export_options {
    // Refuse (export_refused) instead of writing an approximation of what NIR cannot say.
    bool strict = false;
};

struct export_report {
    std::vector<std::string> approximations;  // one line per thing NIR could not say exactly
    std::size_t nodes = 0, edges = 0;
};

// Thrown by a strict export: lists every approximation the export would have made.
class export_refused : public error {
public:
    explicit export_refused(std::vector<std::string> items);
    const std::vector<std::string>& items() const { return items_; }

private:
    std::vector<std::string> items_;
};

// Writes `spec` as a NIR graph to `path`; `sim` (built from the same spec) supplies the
// instantiated synapses, so the Linear weight matrices are exactly the simulated network.
export_report export_nir(const network_spec& spec, const simulation& sim, const std::string& path,
                         const export_options& options = {});
export_report export_nir(const experiment& ex, const simulation& sim, const std::string& path,
                         const export_options& options = {});

// Reads a NIR graph. Input nodes become spike_array populations without spikes (set
// params["spike_times"] to drive them); LIF and IF become lif_curr_delta, CubaLIF
// lif_curr_exp, the non-spiking LI, I and CubaLI the same models with V_th = +inf (their
// v is recorded), Threshold the `threshold` model. Chains of Linear, Affine, Scale,
// Conv1d, Conv2d, SumPool2d, AvgPool2d, Flatten and Delay nodes between two populations
// become one from_list projection (the nonzero entries of the composed sparse matrix, on
// C-order indices); biases become constant currents (I_e, or step currents from t = 0
// where they differ between neurons). Unsupported or malformed graphs (including shapes
// that do not agree along an edge) throw io_error naming the node.
network_spec import_nir(const std::string& path, const model_registry& models);

// The same as an experiment (no YAML behind it): `overrides` may set simulation.* keys
// ("simulation.duration=2 s", seed, dt, threads, output); other keys are refused.
experiment import_nir_experiment(const std::string& path, const model_registry& models,
                                 const std::vector<std::string>& overrides = {});

// True for paths ending in ".nir" (what `engram run` treats as a NIR graph).
bool is_nir_path(const std::string& path);

}  // namespace engram::nir
