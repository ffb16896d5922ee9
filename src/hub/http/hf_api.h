// The subset of the Hugging Face Hub API that kernel clients use, for one repository:
//   GET  /api/{kernels|models}/{org}/{name}[/revision/{rev}]     repo info (sha, siblings)
//   GET  /api/{kernels|models}/{org}/{name}/refs                 branches and tags -> commit
//   GET  /api/{kernels|models}/{org}/{name}/tree/{rev}[/{path}]?recursive=true   (Link-paginated)
//   GET  /{kernels/}{org}/{name}/resolve/{rev}/{path}            file bytes (X-Repo-Commit, ETag,
//                                                                X-Linked-Etag, redirects)
// With HF_HUB_OFFLINE=1 (config.offline) every query is answered from the cache and the network is
// never touched; a query the cache cannot answer fails with kNotFound saying what to pre-fetch.
// This is the interface the resolver (hub/) calls; the loader never sees it (it gets directories).
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "hub/http/http_client.h"
#include "hub/http/hub_config.h"
#include "hub/ref/hub_types.h"
#include "hub/store/hub_cache.h"

namespace khub::hub::net {

struct FileMetadata {
  std::string commit;    // X-Repo-Commit
  std::string etag;      // X-Linked-Etag or ETag, quotes and W/ removed
  uint64_t size = 0;     // X-Linked-Size or Content-Length
  std::string location;  // where the bytes are (after a redirect) or the resolve URL
};

class RemoteRepo {
 public:
  RemoteRepo(HubConfig config, RepoRef repo);

  const RepoRef& repo() const { return repo_; }
  const HubConfig& config() const { return config_; }
  const HubCache& cache() const { return cache_; }
  const HttpClient& http() const { return http_; }

  // Branches and tags with the commit each points to. Online, the listing is also saved in the
  // cache so that offline queries can answer it later.
  RefList list_refs();
  // Info at a revision ("" = the hub's default branch); `sha` is the resolved commit.
  RepoInfo repo_info(const std::string& revision = "");
  // Entries under `prefix` ("" = the whole repo) at a revision. Every path is validated: a hostile
  // name (absolute, "..", NUL, control characters) fails the whole listing with kFormat. A full
  // recursive listing is saved in the cache (trees/<commit>.json).
  std::vector<TreeEntry> list_tree(const std::string& revision, const std::string& prefix = "",
                                   bool recursive = true);
  // A branch, tag or commit -> the commit id. A 40-hex commit is returned unchanged; offline, a
  // branch or tag resolves through the cache's refs/<name>.
  std::string resolve_commit(const std::string& revision);
  // HEAD of a file's resolve URL (no redirect followed), as huggingface_hub's get_hf_file_metadata.
  FileMetadata file_metadata(const std::string& revision, const std::string& path);
  // Downloads one file to `dest` (atomic, resumable, verified against the tree's hash).
  void download_file(const std::string& revision, const std::string& path, const fs::path& dest);

  std::string api_url(const std::string& suffix) const;  // {endpoint}/api/kernels/{id}{suffix}
  std::string file_url(const std::string& revision, const std::string& path) const;

  // HTTP requests issued by this object's queries (not by parallel blob downloads).
  int requests() const { return requests_.load(); }

 private:
  HttpResponse get_json(const std::string& url, const char* what);
  void require_online(const char* what) const;

  HubConfig config_;
  RepoRef repo_;
  HubCache cache_;
  HttpClient http_;
  std::atomic<int> requests_{0};
};

// Parsers of the Hub's JSON shapes (exposed for tests). `source` names the URL for messages.
RefList parse_refs_json(std::string_view body, const std::string& source);
std::vector<TreeEntry> parse_tree_json(std::string_view body, const std::string& source);
RepoInfo parse_repo_info_json(std::string_view body, const std::string& source);
// Strips W/ and quotes from an ETag header.
std::string normalize_etag(std::string_view etag);

}  // namespace khub::hub::net
