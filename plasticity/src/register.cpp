#include "engram/plasticity/plasticity.hpp"
#include "registry.hpp"

namespace engram {

void register_plasticity(model_registry& r) {
    register_stdp(r);
    register_astrocyte(r);
}

}  // namespace engram
