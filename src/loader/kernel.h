// A loaded kernel library and a C++ way to call it. Kernel owns the dlopen handle (it is never
// closed while a KernelFunction referring to it lives); KernelFunction checks khub::Tensor
// arguments against the manifest signature (names, roles, dtypes, ranks, devices, contiguity),
// fills attribute defaults, allocates the declared workspace, calls through the C ABI and turns a
// failure status into khub::Error(kKernel) naming the kernel, repo, revision and variant.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "core/tensor.h"
#include "khub/kernel_abi.h"
#include "loader/manifest.h"
#include "loader/metadata.h"
#include "loader/shared_library.h"
#include "loader/trust_policy.h"

namespace khub::loader {

// Where a loaded kernel came from.
struct KernelIdentity {
  std::string repo;           // "khub-community/rmsnorm" ("" for a bare local path)
  std::string revision;       // immutable revision id, or "local" for LOCAL_KERNELS / local paths
  std::string variant;        // "khub1-cpu-x86_64-linux"
  std::filesystem::path dir;  // the variant folder
  std::string source;         // "local hub /srv/hub", "LOCAL_KERNELS", "path"

  // "khub-community/rmsnorm@3f2a1b09c4d2 [khub1-cpu-x86_64-linux]"
  std::string label() const;
};

using AttrValue = std::variant<int64_t, double, bool, std::string>;

struct KernelArgs {
  std::vector<std::pair<std::string, Tensor>> tensors = {};  // by signature name, any order
  std::vector<std::pair<std::string, AttrValue>> attrs = {};
};

struct ExecOptions {
  void* stream = nullptr;  // cudaStream_t for CUDA kernels; nullptr = the default stream
  int num_threads = 0;     // CPU: 0 = the kernel's choice
};

class Kernel;

class KernelFunction {
 public:
  const FunctionInfo& info() const { return *info_; }
  const Kernel& kernel() const { return *kernel_; }
  // Calls the function. Throws Error(kInvalidArgument) for arguments that break the signature and
  // Error(kKernel) when the kernel reports a failure.
  void operator()(const KernelArgs& args, const ExecOptions& options = {}) const;

 private:
  friend class Kernel;
  KernelFunction(std::shared_ptr<const Kernel> kernel, const FunctionInfo* info, khub_kernel_fn fn)
      : kernel_(std::move(kernel)), info_(info), fn_(fn) {}
  std::shared_ptr<const Kernel> kernel_;
  const FunctionInfo* info_;
  khub_kernel_fn fn_;
};

struct KernelLayer {
  const LayerInfo* info;
  KernelFunction forward;
  std::optional<KernelFunction> backward;
};

class Kernel : public std::enable_shared_from_this<Kernel> {
 public:
  // Only the loader constructs kernels (load_kernel_variant), after every check passed.
  Kernel(KernelIdentity identity, VariantMetadata metadata, SharedLibrary library,
         ManifestInfo manifest, std::vector<khub_kernel_fn> functions, TrustVerdict trust = {},
         TrustSubject trust_subject = {});

  const KernelIdentity& identity() const { return image_->identity; }
  const VariantMetadata& metadata() const { return image_->metadata; }
  const ManifestInfo& manifest() const { return image_->manifest; }
  const SharedLibrary& library() const { return image_->library; }
  // What the trust policy of the call that returned this handle decided (signer, verdict). A
  // memoized kernel handed to a later call under another policy is the same library behind a
  // handle carrying that call's verdict (with_trust).
  const TrustVerdict& trust() const { return trust_; }
  // What that decision was made on: the statement of the loaded bytes and the signature files.
  const TrustSubject& trust_subject() const { return image_->trust_subject; }
  // The same loaded library (one dlopen, one manifest) under another call's verdict.
  std::shared_ptr<const Kernel> with_trust(TrustVerdict trust) const;

  bool has_function(const std::string& name) const {
    return image_->manifest.function(name) != nullptr;
  }
  bool has_layer(const std::string& name) const { return image_->manifest.layer(name) != nullptr; }
  // Throw Error(kNotFound) listing what the manifest has.
  KernelFunction function(const std::string& name) const;
  KernelLayer layer(const std::string& name) const;

 private:
  // What one load produced; shared by every handle of it, never changed.
  struct Image {
    KernelIdentity identity;
    VariantMetadata metadata;
    SharedLibrary library;
    ManifestInfo manifest;
    std::vector<khub_kernel_fn> functions;  // parallel to manifest.functions
    TrustSubject trust_subject;
  };
  Kernel(std::shared_ptr<const Image> image, TrustVerdict trust)
      : image_(std::move(image)), trust_(std::move(trust)) {}
  std::shared_ptr<const Image> image_;
  TrustVerdict trust_;
};

}  // namespace khub::loader
