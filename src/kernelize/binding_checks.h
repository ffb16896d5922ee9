// Internal to kernelize/: the checks every layer binding makes of a kernel function's signature
// (kernel_bindings.cc, kernel_bindings_moe.cc), and the bindings kept in files of their own.
#pragma once

#include <algorithm>
#include <string>

#include "core/stream.h"
#include "kernelize/kernelize.h"

namespace khub {

class MoELayer;
class DecodeStepLayer;

namespace binding {

// Kernels launch on the host's current stream of the tensors' device (nullptr on the CPU), so
// they are ordered with khub's own ops and can be captured with them.
inline loader::ExecOptions on_current_stream(const Tensor& t) {
  return {.stream = current_stream(t.device())};
}

// "" when f has every named argument; else which one is missing. `role`: "forward" or "backward".
inline std::string check_args(const loader::FunctionInfo& f,
                              std::initializer_list<const char*> names,
                              const char* role = "forward") {
  for (const char* n : names) {
    bool found = std::any_of(f.args.begin(), f.args.end(),
                             [&](const loader::ArgInfo& a) { return a.name == n; });
    if (!found) {
      return std::string("does not match the layer contract: its ") + role + " '" + f.name +
             "' has no argument '" + n + "' (docs/layer-contracts.md)";
    }
  }
  return "";
}

inline bool supports_dtype(const loader::FunctionInfo& f, const std::string& arg, DType dtype) {
  for (const loader::ArgInfo& a : f.args) {
    if (a.name != arg) continue;
    if (!a.same_as.empty()) return supports_dtype(f, a.same_as, dtype);
    return std::find(a.dtypes.begin(), a.dtypes.end(), dtype) != a.dtypes.end();
  }
  return false;
}

inline std::string dtype_reason(const loader::FunctionInfo& f, const std::string& arg,
                                DType dtype) {
  for (const loader::ArgInfo& a : f.args) {
    if (a.name == arg) {
      return "supports " + (a.dtypes_text.empty() ? f.dtypes_text : a.dtypes_text) + " for '" +
             arg + "', not " + std::string(dtype_name(dtype));
    }
  }
  return "has no argument '" + arg + "'";
}

}  // namespace binding

// kernel_bindings_moe.cc: the `MoE` layer (inference only).
std::string bind_moe(MoELayer& m, const loader::KernelFunction& fwd, const std::string& desc,
                     const KernelizeOptions& o);

// kernel_bindings_decode_step.cc: the `DecodeStep` layer (inference only).
std::string bind_decode_step(DecodeStepLayer& s, const loader::KernelFunction& fwd,
                             const std::string& desc, const KernelizeOptions& o);

}  // namespace khub
