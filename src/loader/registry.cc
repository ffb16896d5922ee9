#include "loader/registry.h"

#include <map>
#include <mutex>
#include <set>

#include "core/error.h"
#include "core/logging.h"

namespace khub::loader {
namespace {

// One memoized variant: the load whose digests were checked, and one made with verification off
// (a developer's build folder). A verified load serves both kinds of request; an unverified one
// never serves a request that asks for verification.
struct Entry {
  std::shared_ptr<const Kernel> verified;
  std::shared_ptr<const Kernel> unverified;
};

struct State {
  std::mutex mu;
  std::map<std::string, Entry> by_key;
  std::vector<std::shared_ptr<const Kernel>> order;
  std::set<std::pair<const Kernel*, std::string>> warned;  // (kernel, reason) already logged
};

State& state() {
  static State* s = new State;  // never destroyed: kernels stay loaded for the process lifetime
  return *s;
}

}  // namespace

KernelRegistry& KernelRegistry::global() {
  static KernelRegistry r;
  return r;
}

std::string KernelRegistry::key(const KernelIdentity& id) {
  if (id.revision.empty() || id.revision == "local" || id.repo.empty()) {
    std::error_code ec;
    auto real = std::filesystem::canonical(id.dir, ec);
    // A local folder: its revision (a content address) changes with its files.
    return "local:" + (ec ? id.dir.string() : real.string()) + "@" + id.revision;
  }
  return id.repo + "@" + id.revision + "/" + id.variant;
}

std::shared_ptr<const Kernel> KernelRegistry::load(const KernelIdentity& identity,
                                                   const LoadOptions& options) {
  State& s = state();
  std::string k = key(identity);
  // Loading holds the lock: a kernel loads once even when threads race for it, and loads are rare.
  std::lock_guard<std::mutex> lock(s.mu);
  Entry& e = s.by_key[k];
  std::shared_ptr<const Kernel> hit = e.verified;
  if (!hit && !options.verify) hit = e.unverified;
  if (!hit) {
    auto kernel = load_kernel_variant(identity, options);
    (options.verify ? e.verified : e.unverified) = kernel;
    s.order.push_back(kernel);
    s.warned.insert({kernel.get(), kernel->trust().reason});
    return kernel;
  }
  // A hit is a load this call's trust policy has not seen: decide again, on what was loaded. A
  // refusal throws what a fresh load would and leaves the kernel to those who already hold it.
  TrustVerdict trust = recheck_trust(*hit, identity, options);
  if (!trust.allowed)
    fail(ErrorKind::kVerification, "cannot load ", identity.label(), ": ", trust.reason);
  if (trust.warning && s.warned.insert({hit.get(), trust.reason}).second) log_warn(trust.reason);
  // The caller sees its own verdict (who signed what it trusts, or why unsigned was allowed), not
  // the first load's: the same library behind a handle that carries this call's decision.
  const TrustVerdict& first = hit->trust();
  if (trust.verdict == first.verdict && trust.signers == first.signers &&
      trust.reason == first.reason && trust.warning == first.warning) {
    return hit;
  }
  return hit->with_trust(std::move(trust));
}

std::vector<std::shared_ptr<const Kernel>> KernelRegistry::loaded() const {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  return s.order;
}

}  // namespace khub::loader
