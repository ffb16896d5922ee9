// Loads one variant folder, refusing anything that does not check out — in an order that runs no
// kernel code until the files are known to be the published ones:
//   1. metadata.json parses (kebab-case schema, hostile paths refused);
//   2. the digest of every file matches, no file missing or unlisted (receipt makes warm loads a
//      stat; options can turn verification off for a developer's own build folder);
//   3. the kernel library is opened once and read through that descriptor (library_image.h); its
//      bytes match the digest, and its ELF .dynsym exports exactly khub_kernel_manifest plus the
//      metadata manifest's symbols;
//   4. the trust policy (trust_policy.h) decides, on those bytes and on the metadata.json bytes
//      parsed in step 1, whether a trusted key signed this repo, revision and variant — the one
//      trust check of every source; a refusal is Error(kVerification) naming repo, revision,
//      variant, file and key;
//   5. dlopen(RTLD_NOW | RTLD_LOCAL) of a sealed private copy of those bytes; the manifest's ABI
//      major equals ours (both numbers in the error), every field validates, and it equals the
//      metadata.json manifest;
//   6. every function symbol resolves.
// Variants are memoized in a process-wide registry (registry.h), so this runs once per variant;
// a later request for a memoized variant re-runs step 4 under its own policy (recheck_trust).
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <string_view>

#include "loader/kernel.h"
#include "loader/trust_policy.h"

namespace khub::loader {

struct LoadOptions {
  bool verify = true;                // check digests (refuses variants without a digest)
  bool use_receipt = true;           // a valid receipt skips re-hashing
  std::filesystem::path trust_root;  // files must resolve inside it (empty: the variant folder)
  TrustScope scope = TrustScope::kLocal;      // which unsigned rule applies (trust_policy.h)
  std::vector<std::string> locked_signers;    // key ids kernels.lock recorded (a locked load)
  std::shared_ptr<const TrustPolicy> policy;  // null: active_trust_policy()
  // Called with the library's path once every check has passed, just before the checked bytes
  // are loaded. Tests replace the file on disk here to show that what loads is what was checked.
  std::function<void(const std::filesystem::path& library)> after_checks;
};

// The trust check of step 4 without loading: hashes the variant's files from disk (the library's
// from `library_bytes` when given) and evaluates the policy. `khub info` and `khub verify` report
// it; the loader runs the same code on the bytes it loads.
TrustVerdict check_variant_trust(const KernelIdentity& identity, const std::string& metadata_bytes,
                                 const LoadOptions& options,
                                 const std::string_view* library_bytes = nullptr,
                                 const std::filesystem::path& library = {});

// Step 4 again for a kernel already loaded, under another call's options: the policy
// (options.policy, else the active one), scope, source and locked signers of that call, on the
// statement and signatures the kernel was loaded with (not the files on disk now).
TrustVerdict recheck_trust(const Kernel& kernel, const KernelIdentity& identity,
                           const LoadOptions& options);

// Runs every check above and returns the loaded kernel. Throws khub::Error (kNotFound, kFormat,
// kVerification, kIo) naming the variant and the check that failed.
std::shared_ptr<const Kernel> load_kernel_variant(KernelIdentity identity,
                                                  const LoadOptions& options = {});

// The library file of a variant: metadata "library" when set, else the only *.so / *.dylib /
// *.dll at the top of the folder. Throws Error(kNotFound) when there is none (or several).
std::filesystem::path find_kernel_library(const std::filesystem::path& variant_dir,
                                          const VariantMetadata& md);

}  // namespace khub::loader
