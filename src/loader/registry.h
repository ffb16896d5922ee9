// The process-wide registry of loaded kernels. A variant is loaded once (memoized by repo,
// revision and variant; local folders by their real path) and then shared; several revisions of
// one repo load side by side, each its own RTLD_LOCAL library. Kernels are never unloaded: code
// from them may sit in function slots anywhere in the process. The memo never bypasses trust:
// every hit re-runs the trust decision under the caller's options (policy, scope, locked
// signers), and a load made with verification off never serves a call that asks for it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "loader/variant_loader.h"

namespace khub::loader {

class KernelRegistry {
 public:
  static KernelRegistry& global();

  // Returns the memoized kernel or loads it (thread-safe; a failed load is not memoized). A
  // memoized kernel this call's trust policy refuses throws Error(kVerification), as a fresh load
  // would, and stays loaded for those who hold it.
  std::shared_ptr<const Kernel> load(const KernelIdentity& identity,
                                     const LoadOptions& options = {});
  // The kernels loaded so far, in load order.
  std::vector<std::shared_ptr<const Kernel>> loaded() const;
  // The memo key: "org/repo@revision/variant", or "local:<real path>".
  static std::string key(const KernelIdentity& identity);
};

}  // namespace khub::loader
