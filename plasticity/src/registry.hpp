#pragma once
#include "engram/core/model.hpp"
namespace engram {
void register_stdp(model_registry& r);
void register_astrocyte(model_registry& r);
}  // namespace engram
