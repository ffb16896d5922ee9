// kernelize: for every kernel-replaceable layer of a model, decide — key → device → capability →
// mode — which kernel layer runs, load it lazily (only keys the model has; each kernel once),
// check that it can honour the layer (mode gating, dtypes, declared constraints) and fill the
// layer's forward slot (and, in training mode, its backward slot), or leave the reference and
// record why. The report says, per key, which kernel (repo, immutable revision, variant) runs or
// why the reference does.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/device.h"
#include "core/dtype.h"
#include "hub/get_kernel.h"
#include "kernelize/kernel_config.h"
#include "kernelize/kernel_mapping.h"
#include "layers/layer.h"
#include "loader/kernel.h"

namespace khub {

struct KernelizeOptions {
  Device device = Device::cpu();
  int capability = 0;        // CUDA/ROCm major*10+minor; 0 = detect
  std::optional<Mode> mode;  // explicit mode; else derived from `training`
  bool training = false;
  bool use_fallback = true;         // false: a layer with no usable kernel is an error
  bool strict = false;              // every fallback (load failures included) is an error
  bool use_default_mapping = true;  // use_kernels: the khub-community defaults
  std::optional<KernelConfig> kernel_config;
  std::string attn_implementation;       // "org/repo[@REV][:fn]": the Attention key's kernel
  DType activation_dtype = DType::kF32;  // what the layers' inputs will be
  // A project's kernels.lock (hub::LockedKernel by repo id): mapped kernels of a locked repo load
  // at the locked revision and variants, checked against the lock. Null: no lockfile.
  std::shared_ptr<const std::map<std::string, hub::LockedKernel>> kernel_locks;
};

struct KeyDecision {
  std::string key;
  int64_t layers = 0;                            // instances of this key in the model
  std::string kernel_ref;                        // the mapping's reference ("" when none applied)
  std::optional<loader::KernelIdentity> kernel;  // set when a kernel runs
  std::string kernel_layer;                      // the kernel's layer name
  std::string signer;         // key id of the trusted signature ("" when unsigned)
  std::string trust_verdict;  // the trust policy's verdict ("signed", "unsigned-warned", ...)
  Mode matched_mode = Mode::kFallback;
  std::string reason;  // why the reference forward runs ("" when a kernel runs)
};

struct KernelReport {
  Mode mode = Mode::kInference;
  Device device;
  double seconds = 0.0;  // time the last kernelize took (resolution, loads, verification, binding)
  std::vector<KeyDecision> keys;

  const KeyDecision* find(const std::string& key) const;
  std::string table() const;
  // [{"key", "layers", "kernel": {"repo","revision","variant","layer"} | null, "reason"}]
  nlohmann::json to_json() const;
};

// Loads a kernel for a mapping reference on a device (default: hub::get_kernel /
// get_local_kernel). Throws on failure; kernelize turns that into a per-key fallback.
using KernelLoadFn =
    std::function<std::shared_ptr<const loader::Kernel>(const KernelLayerRef& ref, Device device)>;
// `locks`: KernelizeOptions::kernel_locks, applied to every load.
KernelLoadFn default_kernel_loader(
    std::shared_ptr<const std::map<std::string, hub::LockedKernel>> locks = nullptr);

class Kernelizer {
 public:
  explicit Kernelizer(KernelLoadFn load = default_kernel_loader()) : load_(std::move(load)) {}
  KernelReport kernelize(const std::vector<KernelizableLayer*>& layers, const KernelizeOptions& o);

 private:
  std::shared_ptr<const loader::Kernel> load_memoized(const KernelLayerRef& ref, Device device,
                                                      std::string* error);

  KernelLoadFn load_;
  std::map<std::string, std::shared_ptr<const loader::Kernel>> loaded_;
  std::map<std::string, std::string> failed_;
  std::set<std::string> warned_;
};

// Binds one layer instance to a kernel layer in `mode` (kernelize's effective mode: in
// Mode::kTraining the backward slot is bound too, from the kernel layer's backward function, or
// neither slot is). Returns "" on success, else why it cannot (the layer keeps its reference
// forward and backward). Implemented per layer type in kernel_bindings.cc.
std::string bind_kernel_layer(KernelizableLayer& layer, const loader::Kernel& kernel,
                              const std::string& kernel_layer, const KernelizeOptions& o,
                              Mode mode);

}  // namespace khub
