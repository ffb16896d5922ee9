// Internal to kernelize/: the checks every layer binding makes of a kernel function's signature
// (kernel_bindings.cc, kernel_bindings_moe.cc), and the bindings kept in files of their own.
#pragma once

#include <algorithm>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "core/stream.h"
#include "kernelize/kernelize.h"

namespace khub {

class AttentionLayer;
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

// The checks of a backward function in training mode: "" when `bwd` exists, has the contract's
// arguments and takes `dtype` for `first` (the argument whose dtype the others follow); else why
// not, naming the backward function.
inline std::string check_backward(const std::optional<loader::KernelFunction>& bwd,
                                  std::initializer_list<const char*> names, const char* first,
                                  DType dtype) {
  if (!bwd) return "has no backward (training mode)";
  if (auto r = check_args(bwd->info(), names, "backward"); !r.empty()) return r;
  if (!supports_dtype(bwd->info(), first, dtype)) {
    return "backward '" + bwd->info().name + "' " + dtype_reason(bwd->info(), first, dtype);
  }
  return "";
}

// "" when the kernel's "head_dim" constraint (a list, when it declares one) has head_dim.
inline std::string check_head_dim(const loader::FunctionInfo& f, int64_t head_dim) {
  const nlohmann::json& c = f.constraints;
  if (c.contains("head_dim") && c["head_dim"].is_array()) {
    bool ok = false;
    for (const auto& v : c["head_dim"]) ok |= v.is_number_integer() && v.get<int64_t>() == head_dim;
    if (!ok)
      return "supports head_dim " + c["head_dim"].dump() + ", not " + std::to_string(head_dim);
  }
  return "";
}

}  // namespace binding

// kernel_bindings_attention.cc: the `Attention` layer (its backward in training mode).
std::string bind_attention(AttentionLayer& a, const loader::KernelLayer& kl,
                           const std::string& desc, const KernelizeOptions& o, bool training);

// kernel_bindings_moe.cc: the `MoE` layer (inference only).
std::string bind_moe(MoELayer& m, const loader::KernelFunction& fwd, const std::string& desc,
                     const KernelizeOptions& o);

// kernel_bindings_decode_step.cc: the `DecodeStep` layer (inference only).
std::string bind_decode_step(DecodeStepLayer& s, const loader::KernelFunction& fwd,
                             const std::string& desc, const KernelizeOptions& o);

}  // namespace khub
