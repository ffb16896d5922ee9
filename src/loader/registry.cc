#include "loader/registry.h"

#include <map>
#include <mutex>

namespace khub::loader {
namespace {

struct State {
  std::mutex mu;
  std::map<std::string, std::shared_ptr<const Kernel>> by_key;
  std::vector<std::shared_ptr<const Kernel>> order;
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
  if (auto it = s.by_key.find(k); it != s.by_key.end()) return it->second;
  auto kernel = load_kernel_variant(identity, options);
  s.by_key.emplace(k, kernel);
  s.order.push_back(kernel);
  return kernel;
}

std::vector<std::shared_ptr<const Kernel>> KernelRegistry::loaded() const {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  return s.order;
}

}  // namespace khub::loader
