// Internal to ops/ (CUDA builds): whether kernels may be launched as programmatic dependents.
#pragma once

#include "core/device.h"

namespace khub::ops::cuda {

// Compute capability 9.0 or newer, and the environment variable KHUB_CUDA_PDL is not "0" (read
// once; the switch exists to measure what programmatic dependent launch buys).
bool pdl_enabled(const Device& device);

}  // namespace khub::ops::cuda
