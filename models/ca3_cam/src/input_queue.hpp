#pragma once
// Spikes waiting to be emitted by a ca3_input source: step -> ascending neuron ids.
#include <cstdint>
#include <map>
#include <vector>

#include "engram/ca3/memory.hpp"

namespace engram::ca3 {

struct input_queue {
    std::map<std::uint64_t, std::vector<std::uint32_t>> spikes;
};

}  // namespace engram::ca3
