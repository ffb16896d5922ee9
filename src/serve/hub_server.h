// `khub serve`: a local hub directory (serve/hub_store.h) served over the subset of the Hugging
// Face Hub API that kernel clients use, so khub's client and the unchanged Python huggingface_hub
// client download from it as from huggingface.co:
//   GET  /api/{models|kernels|datasets}/{org}/{name}[/revision/{rev}][?blobs=true]   repo info
//   GET  /api/.../{org}/{name}/refs                                 branches and tags
//   GET  /api/.../{org}/{name}/tree/{rev}[/{path}]?recursive=true&cursor=N&limit=M
//        (Link: <...>; rel="next" pagination)
//   GET|HEAD /[kernels/|datasets/]{org}/{name}/resolve/{rev}/{path}  X-Repo-Commit, ETag (git
//        blob id); LFS-style files answer 302 with X-Linked-Etag (sha256) and X-Linked-Size to
//   GET|HEAD /_khub/lfs/{org}/{name}/{rev}/{path}                   the bytes (Range supported)
// Uploads (khub's own protocol, used by upload_revision / `khub publish --hub http://...`; every
// call needs a token with write access):
//   POST /api/.../{org}/{name}/khub/preupload  {"files":[{path,sha256,size}]} -> {"missing":[..]}
//   PUT  /api/khub/blobs/{sha256}              the bytes; checked against the sha256
//   POST /api/.../{org}/{name}/khub/commit     {"files":[{path,sha256,size,executable}],
//        "branch","tags","create_repo","private","parent"} -> {"commit": "<revision id>"}
// The Hub's own API too (hub_server_commit.cc, docs/hub-http.md): HEAD as a revision, /raw/,
// expand=, /commits/{rev}, POST /paths-info/{rev}; and, with a write token, /api/repos/create,
// /preupload/{rev}, the git-LFS batch /{repo}.git/info/lfs/objects/batch with its upload and
// verify links, the NDJSON /commit/{branch}, /branch/{name} and /tag/{rev}, as huggingface_hub's
// upload_folder / create_commit and @huggingface/hub's uploadFiles / commit send them.
// Browsers get server-rendered pages on the paths no route above takes: /, /{org}/{name} and
// /{org}/{name}/benchmarks (serve/web/site.h).
// Access: a repo with a `private` marker file answers only to a valid token (others get 401
// RepoNotFound, as the Hub does). Tokens come from --token-file: one per line, "TOKEN [read|write]"
// (default write), '#' comments. Without a token file private repos are unreachable and uploads
// refused. Every request is logged as one line.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "serve/faults.h"
#include "serve/hub_store.h"

namespace khub::serve {

struct ServeOptions {
  std::filesystem::path root;
  std::string host = "127.0.0.1";
  int port = 0;  // 0 = any free port
  std::optional<std::filesystem::path> token_file;
  std::string faults;                           // FaultPlan spec
  int threads = 64;                             // worker threads (one per open connection)
  int keep_alive_s = 5;                         // idle keep-alive connections close after this long
  size_t page_size = 1000;                      // tree entries per page
  std::function<void(const std::string&)> log;  // one line per request (default: stderr)
  RevisionIdFn revision_id;                     // for uploads (default: git tree id)
  // How long the web pages use what they read from the hub folder before looking again (changes
  // made through this server show at once: serve/web/catalog.h, "Freshness"); 0 = every request.
  std::chrono::milliseconds web_revalidate{250};  // as web::Catalog::kRevalidateAfter
  // Read the web index's listing and every repo's overview in the background as the server
  // starts (web::Catalog::prewarm), so the first page is answered from memory.
  bool web_prewarm = true;
};

class HubServer {
 public:
  explicit HubServer(ServeOptions options);
  ~HubServer();
  HubServer(const HubServer&) = delete;
  HubServer& operator=(const HubServer&) = delete;

  // Binds and serves on a background thread; returns the port. kIo when it cannot bind.
  int start();
  // Binds and serves on the calling thread until stop() (from another thread or a signal).
  void serve_forever();
  void stop();
  int port() const;
  std::string url() const;  // http://host:port
  FaultPlan& faults();
  HubStore& store();
  // Requests read but not yet logged (0 once every answered request is in the log).
  int in_flight() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Reads a token file as described above: token -> has write access.
std::map<std::string, bool> read_token_file(const std::filesystem::path& file);

}  // namespace khub::serve
