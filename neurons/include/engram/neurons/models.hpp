#pragma once
// The neuron and source models engram ships. Each registers its descriptor table and
// factory by name; core/ knows none of them.
#include "engram/core/model.hpp"

namespace engram {

void register_lif_models(model_registry& r);     // lif_curr_exp, lif_curr_delta, lif_cond_exp
void register_source_models(model_registry& r);  // poisson, spike_array
void register_lif_discrete(model_registry& r);    // lif_discrete (NALSM's neuron)
void register_threshold_model(model_registry& r);  // threshold (NIR's Threshold node)
// Everything engram ships: the models above and plasticity/'s rules and modulators.
void register_builtin_models(model_registry& r);

// A registry with every built-in model (built once).
const model_registry& builtin_models();

// The widest vectors the hand-written float LIF kernels use (the fused update and
// threshold passes): 512 (AVX-512, where the build machine has it: -march=native), 256
// (AVX2) or 0 (none: the update loops the compiler vectorises by itself and the
// flag-byte threshold pass). Every width gives the same spikes and state to the last bit
// (tests/test_reference.cpp runs each). limit_kernel_vector_bits caps the width for the
// whole process (0, 256 or 512; a cap above what was compiled has no effect); set it
// before a run, not during one.
int kernel_vector_bits();
void limit_kernel_vector_bits(int bits);

}  // namespace engram
