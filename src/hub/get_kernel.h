// The kernel API (HF kernels' get_kernel / get_local_kernel / has_kernel, docs/design.md §3–§6):
//
//   auto k = khub::hub::get_kernel("khub-community/rmsnorm@v1:RMSNorm");
//   auto layer = k->layer("RMSNorm");
//   layer.forward({.tensors = {{"x", x}, {"weight", w}, {"out", out}}, .attrs = {{"eps", 1e-6}}});
//
// A lookup resolves the reference to one revision (sources.h, version_resolve.h), lists the
// revision's variants and selects one for the device with a full trace (loader/variant_select.h),
// reading only metadata.json of the candidates; get_kernel then materializes the chosen variant,
// verifies its digest, and loads it through the process-wide registry (loader/registry.h).
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/device.h"
#include "hub/ref/kernel_ref.h"
#include "hub/source/source_registry.h"
#include "loader/kernel.h"
#include "loader/system_info.h"
#include "loader/trust_policy.h"
#include "loader/variant_select.h"

namespace khub::hub {

// A project's kernels.lock entry for one repo, as a load applies it (hub/http/lockfile.h reads
// the file; docs/design.md §6.5): the load uses the locked revision whatever the reference asks
// for, selects among the locked variants only, and refuses a variant whose metadata.json (which
// pins every other file through its digest) or whose signer differs from the lock.
struct LockedKernel {
  std::string revision;  // the locked commit
  struct Variant {
    std::string metadata_digest;       // "sha256-<hex>" of build/<v>/metadata.json ("" unpinned)
    std::vector<std::string> signers;  // trusted key ids at lock time (empty: locked unsigned)
  };
  std::map<std::string, Variant> variants;
  std::string lockfile;  // where it came from, for errors
};

struct KernelOptions {
  Device device = Device::cpu();  // the device to select a variant for
  // Replaces detection of the machine (tests synthesize GPUs; `khub info --device` passes one).
  std::optional<loader::SystemInfo> system;
  bool verify = true;  // digest verification before the first dlopen
  // The sources to consult; default: HubSources::from_environment().
  std::shared_ptr<const HubSources> sources;
  // Key ids a kernels.lock recorded for the kernel: a load whose trusted signers include none of
  // them is refused (loader/trust_policy.h). Empty: not a locked load.
  std::vector<std::string> locked_signers;
  // The trust policy to apply; null: loader::active_trust_policy().
  std::shared_ptr<const loader::TrustPolicy> trust_policy;
  // kernels.lock entries by repo id (LockedKernel); a repo without one loads unlocked.
  std::shared_ptr<const std::map<std::string, LockedKernel>> locks;
  // loader::LoadOptions::after_checks (tests: a file replaced between check and load).
  std::function<void(const std::filesystem::path& library)> after_checks;
};

struct KernelLookup {
  KernelRef ref;
  std::string source;                       // description of the source that answered
  std::shared_ptr<RepoSource> repo_source;  // the source itself (to read more files)
  Resolution resolution;                    // revision, the ref it came from, how
  loader::Selection selection;
  // The chosen variant's folder (materialized), when one was selected.
  std::optional<MaterializedVariant> variant;

  // "khub-community/rmsnorm@v1 -> 3f2a1b09c4d2... (branch v1) from local hub /x"
  std::string summary() const;
  nlohmann::json to_json() const;
};

// What the trust policy says about the lookup's selected variant (materialized), without loading:
// signer and verdict, as the loader would decide them (`khub info`, `khub verify`).
loader::TrustVerdict lookup_trust(const KernelLookup& lookup, const KernelOptions& options = {});
// The same for a local folder's variant (revision: the folder's content address, revision_id.h).
loader::TrustVerdict local_variant_trust(const std::filesystem::path& variant_dir,
                                         const std::filesystem::path& trust_root,
                                         const KernelOptions& options = {});

// Resolves and selects without loading anything; `materialize` fetches the chosen variant's
// folder (a no-op for local sources). Throws Error(kNotFound) when the repo or revision does not
// exist; an empty selection is not an error here (see selection.chosen()).
KernelLookup lookup_kernel(const std::string& ref, const KernelOptions& options = {},
                           bool materialize = true);

// Resolves, selects, verifies and loads. Throws Error(kNotFound) with the variant trace when no
// variant fits, and the loader's errors (kFormat, kVerification, ...) when the chosen one fails a
// check. When the reference names a layer or function (":name"), it must exist in the kernel.
std::shared_ptr<const loader::Kernel> get_kernel(const std::string& ref,
                                                 const KernelOptions& options = {});

// Loads from a local folder (a kernel project with build/, a build folder, or one variant
// folder), selecting among its variants like get_kernel. Its revision is the folder's content
// address (hub/source/revision_id.h).
std::shared_ptr<const loader::Kernel> get_local_kernel(const std::filesystem::path& path,
                                                       const KernelOptions& options = {});
// The selection get_local_kernel would make, without loading.
loader::Selection select_local_variant(const std::filesystem::path& path,
                                       const KernelOptions& options = {});

// Whether the reference resolves and a variant fits the device (no download beyond metadata, no
// dlopen). Malformed references still throw Error(kInvalidArgument).
bool has_kernel(const std::string& ref, const KernelOptions& options = {});

// The SystemInfo options select for: options.system, else SystemInfo::detect(options.device).
loader::SystemInfo system_for(const KernelOptions& options);

}  // namespace khub::hub
