#include "hub/kernel_locks.h"

#include "core/error.h"
#include "hub/http/lockfile.h"

namespace khub::hub {
namespace fs = std::filesystem;

std::shared_ptr<const std::map<std::string, LockedKernel>> read_kernel_locks(const fs::path& file) {
  auto out = std::make_shared<std::map<std::string, LockedKernel>>();
  for (const net::KernelLock& l : net::read_lockfile(file)) {
    if (l.repo.type != net::RepoType::kKernel) continue;  // models are not kernel loads
    LockedKernel k;
    k.revision = l.sha;
    k.lockfile = file.string();
    for (const auto& [name, v] : l.variants) k.variants[name] = {v.metadata_digest, v.signers};
    if (!out->emplace(l.repo.id, std::move(k)).second) {
      fail(ErrorKind::kFormat, file.string(), ": ", l.repo.id, " is locked twice");
    }
  }
  return out;
}

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

}  // namespace khub::hub
