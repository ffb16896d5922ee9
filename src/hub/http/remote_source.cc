#include "hub/http/remote_source.h"

#include "core/error.h"
#include "hub/http/snapshot.h"
#include "hub/ref/repo_names.h"

namespace khub::hub::net {

RemoteKernelSource::RemoteKernelSource(HubConfig config, RepoRef repo)
    : repo_(std::move(config), std::move(repo)) {}

RefList RemoteKernelSource::refs() { return repo_.list_refs(); }

std::string RemoteKernelSource::resolve(const std::string& revision) {
  return repo_.resolve_commit(revision);
}

std::vector<std::string> RemoteKernelSource::variants(const std::string& commit) {
  std::vector<std::string> out;
  try {
    for (const auto& e : repo_.list_tree(commit, "build", false)) {
      if (e.is_dir) out.push_back(e.path.substr(6));
    }
  } catch (const Error& e) {
    // A repository without build/ has no variants (the hub answers 404 EntryNotFound).
    if (e.kind() != ErrorKind::kNotFound ||
        std::string(e.what()).find("EntryNotFound") == std::string::npos) {
      throw;
    }
  }
  return out;
}

fs::path RemoteKernelSource::variant_metadata(const std::string& commit,
                                              const std::string& variant) {
  check_repo_path("build/" + variant, "a variant name");
  SnapshotRequest req;
  req.revision = commit;
  req.allow_prefixes = {"build/" + variant + "/metadata.json"};
  req.verify_metadata_digests = false;
  return snapshot_download(repo_, req).dir / "build" / variant / "metadata.json";
}

fs::path RemoteKernelSource::fetch_variant(const std::string& commit, const std::string& variant) {
  check_repo_path("build/" + variant, "a variant name");
  SnapshotRequest req;
  req.revision = commit;
  req.allow_prefixes = {"build/" + variant};
  return snapshot_download(repo_, req).dir / "build" / variant;
}

}  // namespace khub::hub::net
