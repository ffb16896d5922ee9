// Does a variant's `backend.archs` cover the device? Never load a variant whose code cannot run
// on the device (HF kernels #707: a kernel without the device's SASS called exit(1) at launch).
//
// CUDA (archs as written by nvcc targets; `X.Y` is compute capability X.Y):
//   "X.Y"      SASS sm_XY: runs on capability X.Z with Z >= Y (binary compatible within a major).
//   "X.Ya"     arch-specific SASS sm_XYa (e.g. 9.0a, wgmma): runs only on exactly X.Y.
//   "X.Yf"     family-specific SASS sm_XYf (CUDA 12.9+): runs on X.Z with Z >= Y.
//   "X.Y+PTX"  SASS plus PTX compute_XY: the driver JIT-compiles the PTX for any capability >= X.Y.
//              ("X.Ya+PTX" PTX is arch-specific and runs only on X.Y.)
// ROCm: gfx targets match exactly (target features such as ":xnack-" are ignored); the generic
//   targets gfx9-generic, gfx9-4-generic, gfx10-1-generic, gfx10-3-generic, gfx11-generic and
//   gfx12-generic cover their documented members.
// Metal: GPU families "appleN" / "macN" are cumulative: "apple7" runs on apple7 and newer.
// XPU: AOT device names match exactly ("pvc", "bmg"); "spir64" (JIT SPIR-V) runs on every device.
#pragma once

#include <string>
#include <vector>

#include "loader/variant.h"

namespace khub::loader {

// How well an arch runs on the device: higher is better.
enum class ArchFit { kNone = 0, kJit = 1, kCompatible = 2, kExact = 3 };
std::string_view arch_fit_name(ArchFit fit);  // "none", "jit", "compatible", "exact"

struct ArchMatch {
  ArchFit fit = ArchFit::kNone;
  std::string arch;  // the entry of `archs` that gives the best fit
};

// The best fit of `archs` on a device of `device_arch`. Throws Error(kFormat) naming the entry
// when an arch string is malformed (e.g. "9.x", "sm90"), and Error(kInvalidArgument) when
// `device_arch` is malformed.
ArchMatch best_arch_match(BackendKind backend, const std::vector<std::string>& archs,
                          const std::string& device_arch);

// Validates one arch string for a backend (the builder and metadata parsing use it); returns an
// empty string when valid, else what is wrong.
std::string check_arch_string(BackendKind backend, const std::string& arch);

}  // namespace khub::loader
