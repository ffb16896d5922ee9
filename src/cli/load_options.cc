#include "cli/load_options.h"

#include <filesystem>

#include "core/error.h"
#include "core/logging.h"
#include "hub/http/lockfile.h"

namespace khub::cli {
namespace fs = std::filesystem;

namespace {

// The project's kernels.lock: the nearest one above the working directory (the folder whose
// kernels.trust.toml the trust policy reads too, loader/trust_policy.h).
fs::path find_project_lock() {
  std::error_code ec;
  fs::path dir = fs::current_path(ec);
  if (ec) return {};
  for (; !dir.empty(); dir = dir.parent_path()) {
    if (fs::is_regular_file(dir / "kernels.lock", ec)) return dir / "kernels.lock";
    if (dir == dir.parent_path()) break;
  }
  return {};
}

}  // namespace

std::shared_ptr<const std::map<std::string, hub::LockedKernel>> read_kernel_locks(
    const fs::path& file) {
  auto out = std::make_shared<std::map<std::string, hub::LockedKernel>>();
  for (const hub::net::KernelLock& l : hub::net::read_lockfile(file)) {
    if (l.repo.type != hub::net::RepoType::kKernel) continue;  // models are not kernel loads
    hub::LockedKernel k;
    k.revision = l.sha;
    k.lockfile = file.string();
    for (const auto& [name, v] : l.variants) k.variants[name] = {v.metadata_digest, v.signers};
    if (!out->emplace(l.repo.id, std::move(k)).second) {
      fail(ErrorKind::kFormat, file.string(), ": ", l.repo.id, " is locked twice");
    }
  }
  return out;
}

LoadOptions load_options_from_args(const Args& args) {
  LoadOptions o;
  o.device = args.get_or("device", "cpu");
  o.dtype = args.get_or("dtype", "");
  o.use_kernels = args.has("use-kernels");
  if (args.has("kernel-config"))
    o.kernel_config = KernelConfig::from_file(args.get("kernel-config"));
  o.attn_implementation = args.get_or("attn-implementation", "");
  if (args.has("mode")) o.mode = mode_parse(args.get("mode"));
  o.strict = args.has("strict");
  const bool kernels = o.use_kernels || o.kernel_config || !o.attn_implementation.empty();
  std::string lock = args.get_or("kernels-lock", "");
  if (lock == "none") {
    // --kernels-lock none: the project's lockfile is not applied
  } else if (!lock.empty()) {
    o.kernel_locks = read_kernel_locks(lock);  // named: a missing file is an error
  } else if (kernels) {
    if (fs::path found = find_project_lock(); !found.empty()) {
      log_info("kernels: applying ", found.string(), " (--kernels-lock none to ignore it)");
      o.kernel_locks = read_kernel_locks(found);
    }
  }
  return o;
}

}  // namespace khub::cli
