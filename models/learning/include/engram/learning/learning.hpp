#pragma once
// The whole learning module: losses, optimisers, feature normalisation, readouts, metrics.
#include "engram/learning/features.hpp"
#include "engram/learning/loss.hpp"
#include "engram/learning/metrics.hpp"
#include "engram/learning/optimizer.hpp"
#include "engram/learning/readout.hpp"
