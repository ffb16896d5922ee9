#include "hub/http/http_source.h"

#include <set>

#include "core/error.h"
#include "core/logging.h"
#include "hub/http/snapshot.h"
#include "hub/ref/repo_names.h"

namespace khub::hub::net {
namespace {

constexpr uint64_t kMaxSmallFile = 16u << 20;

// Transport failures (no HTTP answer at all) mean the hub is unreachable from here.
bool is_unreachable(const Error& e) {
  auto* he = dynamic_cast<const HttpError*>(&e);
  return he && he->status() == 0 && e.kind() == ErrorKind::kNetwork;
}

// Endpoints found unreachable in this process: skipped by every later lookup.
std::mutex& unreachable_mu() {
  static std::mutex mu;
  return mu;
}
std::map<std::string, std::string>& unreachable_endpoints() {  // endpoint -> why
  static std::map<std::string, std::string> m;
  return m;
}
bool endpoint_unreachable(const std::string& endpoint, std::string* why = nullptr) {
  std::lock_guard<std::mutex> lock(unreachable_mu());
  auto it = unreachable_endpoints().find(endpoint);
  if (it == unreachable_endpoints().end()) return false;
  if (why) *why = it->second;
  return true;
}

}  // namespace

HttpHubSource::HttpHubSource(HubConfig config) : config_(std::move(config)) {}

std::string HttpHubSource::description() const {
  std::string why;
  if (!config_.offline && endpoint_unreachable(config_.endpoint, &why)) {
    return "HTTP hub " + config_.endpoint + " (unreachable: " + why + ")";
  }
  return config_.offline
             ? "HTTP hub cache " + config_.cache_root.string() + " (HF_HUB_OFFLINE)"
             : "HTTP hub " + config_.endpoint + " (cache " + config_.cache_root.string() + ")";
}

RemoteRepo& HttpHubSource::repo(const std::string& repo_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& slot = repos_[repo_id];
  if (!slot) slot = std::make_unique<RemoteRepo>(config_, RepoRef{RepoType::kKernel, repo_id});
  return *slot;
}

bool HttpHubSource::has_repo(const std::string& repo_id) {
  if (!is_valid_repo_id(repo_id)) return false;
  if (config_.offline) {
    HubCache cache(config_.cache_root);
    std::error_code ec;
    return std::filesystem::is_directory(
        cache.repo_dir(RepoRef{RepoType::kKernel, repo_id}) / "snapshots", ec);
  }
  if (endpoint_unreachable(config_.endpoint)) return false;
  // The probe: one quick attempt, so that a machine without network is not slowed down.
  HubConfig probe_cfg = config_;
  probe_cfg.retry.max_attempts = 2;
  probe_cfg.retry.base_delay_s = 0.2;
  probe_cfg.connect_timeout_ms = std::min<long>(config_.connect_timeout_ms, 3000);
  probe_cfg.request_timeout_ms = std::min<long>(config_.request_timeout_ms, 10000);
  RemoteRepo probe(probe_cfg, RepoRef{RepoType::kKernel, repo_id});
  try {
    RefList refs = probe.list_refs();  // also records the refs in the cache for offline use
    std::lock_guard<std::mutex> lock(mu_);
    probed_refs_[repo_id] = std::move(refs);
    return true;
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::kNotFound) return false;
    if (is_unreachable(e)) {
      {
        std::lock_guard<std::mutex> lock(unreachable_mu());
        if (!unreachable_endpoints().emplace(config_.endpoint, e.what()).second) return false;
      }
      log_warn("the HTTP hub ", config_.endpoint, " cannot be reached (", e.what(),
               "); looking up kernels without it (set HF_HUB_OFFLINE=1 to use only the cache)");
      return false;
    }
    throw;
  }
}

khub::hub::RefList HttpHubSource::list_refs(const std::string& repo_id) {
  RefList refs;
  bool have = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = probed_refs_.find(repo_id);
    if (it != probed_refs_.end()) {
      refs = std::move(it->second);
      probed_refs_.erase(it);
      have = true;
    }
  }
  if (!have) refs = repo(repo_id).list_refs();
  khub::hub::RefList out;
  for (const auto& b : refs.branches) out.branches[b.name] = b.commit;
  for (const auto& t : refs.tags) out.tags[t.name] = t.commit;
  return out;
}

bool HttpHubSource::has_revision(const std::string& repo_id, const std::string& revision) {
  if (!is_commit_hash(revision)) return false;
  HubCache cache(config_.cache_root);
  RepoRef ref{RepoType::kKernel, repo_id};
  if (cache.read_tree(ref, revision)) return true;
  if (config_.offline) {
    std::error_code ec;
    return std::filesystem::is_directory(cache.snapshot_dir(ref, revision), ec);
  }
  try {
    return repo(repo_id).repo_info(revision).sha == revision;
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::kNotFound) return false;
    throw;
  }
}

std::vector<TreeEntry> HttpHubSource::tree(const std::string& repo_id,
                                           const std::string& revision) {
  // The whole listing: one paginated request, then cached for good (a commit never changes).
  return repo(repo_id).list_tree(revision, "", true);
}

std::vector<khub::hub::TreeEntry> HttpHubSource::list_files(const std::string& repo_id,
                                                            const std::string& revision) {
  std::vector<khub::hub::TreeEntry> out;
  for (const auto& e : tree(repo_id, revision)) {
    if (e.is_dir) continue;
    out.push_back({e.path, e.size, e.lfs_sha256.value_or("")});
  }
  return out;
}

std::vector<std::string> HttpHubSource::list_variants(const std::string& repo_id,
                                                      const std::string& revision) {
  return variant_names(tree(repo_id, revision));
}

std::string HttpHubSource::read_file(const std::string& repo_id, const std::string& revision,
                                     const std::string& path) {
  check_repo_path(path, "a file request");
  bool listed = false;
  for (const auto& e : tree(repo_id, revision)) {
    if (e.path != path || e.is_dir) continue;
    listed = true;
    if (e.size > kMaxSmallFile) fail(ErrorKind::kFormat, repo_id, "/", path, ": too large");
  }
  if (!listed) fail(ErrorKind::kNotFound, repo_id, "@", revision, ": no file ", path);
  SnapshotRequest req;
  req.revision = revision;
  req.allow_prefixes = {path};
  req.verify_metadata_digests = false;
  SnapshotResult snap = snapshot_download(repo(repo_id), req);
  auto text = read_small_file(snap.dir / path);
  if (!text) fail(ErrorKind::kIo, "cannot read ", (snap.dir / path).string());
  return *text;
}

khub::hub::MaterializedVariant HttpHubSource::materialize_variant(const std::string& repo_id,
                                                                  const std::string& revision,
                                                                  const std::string& variant) {
  check_repo_path("build/" + variant, "a variant name");
  if (variant.find('/') != std::string::npos) {
    fail(ErrorKind::kInvalidArgument, "variant name '", variant, "' contains '/'");
  }
  SnapshotRequest req;
  req.revision = revision;
  req.allow_prefixes = {"build/" + variant};
  RemoteRepo& r = repo(repo_id);
  SnapshotResult snap = snapshot_download(r, req);
  // Snapshot files are links into blobs/: both live in the repo's cache folder.
  return {snap.dir / "build" / variant, r.cache().repo_dir(r.repo())};
}

void register_http_hub_source() {
  static std::once_flag once;
  std::call_once(once, [] {
    khub::hub::register_source_provider([](khub::hub::HubSources& sources) {
      sources.add(std::make_shared<HttpHubSource>(HubConfig::from_env()));
    });
  });
}

namespace {
// Linking this object library is what adds the HTTP hub to every lookup.
const bool kRegistered = (register_http_hub_source(), true);
}  // namespace

}  // namespace khub::hub::net
