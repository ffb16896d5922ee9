// Read and write access to a local hub directory, the format `khub publish` writes and
// `khub serve` serves (docs/design.md §6):
//   <root>/<org>/<repo>/refs/heads/<branch>    a revision id
//   <root>/<org>/<repo>/refs/tags/<tag>        a revision id
//   <root>/<org>/<repo>/revisions/<rev>/...    an immutable file tree; <rev> is a content hash
//   <root>/<org>/<repo>/private                khub serve's marker: only token holders see it
//   <root>/.khub/uploads/<sha256>              blobs uploaded for a coming commit
// Revisions are immutable, so the index of a revision (sizes, git blob ids, sha256 of LFS-style
// files, git tree ids of folders) is computed once and kept in memory. Files that are not regular
// files or folders (symlinks, devices) are never indexed nor served.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "hub/ref/hub_types.h"

namespace khub::serve {

namespace fs = std::filesystem;
using hub::net::GitRef;
using hub::net::RefList;

// An error that maps to one HTTP answer: status, the Hub's X-Error-Code and a message.
class StoreError : public std::runtime_error {
 public:
  StoreError(int status, std::string code, const std::string& message)
      : std::runtime_error(message), status_(status), code_(std::move(code)) {}
  int status() const { return status_; }
  const std::string& code() const { return code_; }

 private:
  int status_;
  std::string code_;
};

struct IndexedEntry {
  std::string path;
  bool is_dir = false;
  uint64_t size = 0;
  std::string oid;     // git blob id (of the LFS pointer for LFS files) or git tree id
  std::string sha256;  // content sha256 (LFS files only)
  bool lfs = false;
  bool executable = false;
};

struct RevisionIndex {
  std::string revision;
  std::vector<IndexedEntry> entries;  // sorted by path
  std::map<std::string, size_t> by_path;
  std::string last_modified;  // ISO 8601 of the revision folder's mtime
  const IndexedEntry* find(const std::string& path) const;
};

// Files stored "like LFS" on the Hub (binary extensions, or >= 10 MB): listed with an lfs
// {oid: sha256} and served through a redirect, as huggingface.co does.
bool is_lfs_style(const std::string& path, uint64_t size);
// The LFS pointer text git would store for such a file.
std::string lfs_pointer(const std::string& sha256, uint64_t size);

struct CommitFile {
  std::string path;
  std::string sha256;
  uint64_t size = 0;
  bool executable = false;
};

struct CommitRequest {
  std::vector<CommitFile> files;
  std::string branch;                       // "" = no branch update
  std::vector<std::string> extra_branches;  // also moved to the new revision (e.g. "main")
  std::vector<std::string> tags;
  // Start from the tree of this branch (when it exists), minus the files under `replace`
  // folders: how `khub publish` replaces its variants and keeps the others.
  std::string base_branch;
  std::vector<std::string> replace;
  bool create_repo = false;
  bool is_private = false;
  std::optional<std::string> parent;  // expected current revision of `branch`
};

struct CommitOutcome {
  std::string revision;
  bool created_repo = false;
  bool new_revision = false;
};

// Computes the revision id of a finished tree.
using RevisionIdFn = std::function<std::string(const fs::path& tree)>;
// The local hub's content address (hub/store/publish.h revision_id(): 40 hex digits of the SHA-256
// of the sha256sum listing of every file), so an upload and `khub publish --hub DIR` of the same
// tree give the same id. The default RevisionIdFn.
std::string content_revision_id(const fs::path& tree);

class HubStore {
 public:
  explicit HubStore(fs::path root, RevisionIdFn revision_id = nullptr);
  const fs::path& root() const { return root_; }

  bool repo_exists(const std::string& repo_id) const;
  bool is_private(const std::string& repo_id) const;
  RefList refs(const std::string& repo_id) const;
  // A branch, tag, "refs/heads/x", "refs/tags/x" or revision id -> revision id.
  std::optional<std::string> resolve(const std::string& repo_id, const std::string& rev) const;
  // "main" if it exists, else the highest vN branch, else nullopt.
  std::optional<std::string> default_branch(const std::string& repo_id) const;
  std::shared_ptr<const RevisionIndex> index(const std::string& repo_id,
                                             const std::string& revision);
  fs::path revision_dir(const std::string& repo_id, const std::string& revision) const;

  // Uploads: blobs are staged by content hash, then a commit builds a revision from them.
  fs::path staged_blob(const std::string& sha256) const;
  bool has_staged_blob(const std::string& sha256, uint64_t size) const;
  fs::path upload_temp_path() const;
  CommitOutcome commit(const std::string& repo_id, const CommitRequest& req);

 private:
  fs::path repo_dir(const std::string& repo_id) const;
  fs::path root_;
  RevisionIdFn revision_id_;
  std::mutex mu_;         // guards indexes_
  std::mutex commit_mu_;  // one commit at a time (plus a file lock across processes)
  std::map<std::string, std::shared_ptr<const RevisionIndex>> indexes_;
};

}  // namespace khub::serve
