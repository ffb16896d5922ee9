// Read and write access to a local hub directory, the format `khub publish` writes and
// `khub serve` serves (docs/design.md §6):
//   <root>/<org>/<repo>/refs/heads/<branch>    a revision id
//   <root>/<org>/<repo>/refs/tags/<tag>        a revision id
//   <root>/<org>/<repo>/revisions/<rev>/...    an immutable file tree; <rev> is a content hash
//   <root>/<org>/<repo>/private                khub serve's marker: only token holders see it
//   <root>/<org>/<repo>/gated                  khub serve's marker: readers need a token (401
//                                              GatedRepo without one)
//   <root>/<org>/<repo>/logs/commits.jsonl     khub serve's commit log: one JSON object a line,
//                                              {id, parent, title, message, author, date}
//   <root>/.khub/uploads/<sha256>              blobs uploaded for a coming commit
// Revisions are immutable, so the index of a revision (sizes, git blob ids, sha256 of LFS-style
// files, git tree ids of folders) is computed once and kept in memory — except for signature
// files (build/<variant>/signatures/<key id>.sig, docs/kernel-hub.md §8), which `khub sign` adds
// to a published revision without changing its id: the index is rebuilt when the folders that
// hold them change (signature_stamp()), so a running server serves new signatures at once. Files
// that are not regular files or folders (symlinks, devices) are never indexed nor served.
// generation() counts the changes made through the store, so caches of what it holds (the web
// pages' catalog, serve/web/catalog.h) see them at once without looking at the folder.
#pragma once

#include <atomic>
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

// Shared by hub_store.cc and hub_store_refs.cc.
namespace detail {
std::string iso_time(time_t t);  // ISO 8601, UTC, milliseconds .000
std::string random_suffix();     // unique among this host's processes and threads
void write_ref(const std::filesystem::path& file, const std::string& rev);
}  // namespace detail
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
  std::string last_modified;    // ISO 8601 of the revision folder's mtime
  std::string signature_stamp;  // HubStore::signature_stamp when indexed
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
  // Files or folders of the base tree to drop; each must exist there (the Hub's deletedFile /
  // deletedFolder). Unlike `replace`, a missing one is an error.
  std::vector<std::string> deletes;
  // The Hub's commit API: the branch must exist, except the first commit of a repo with no branch.
  bool require_branch = false;
  int parent_mismatch_status = 409;  // the Hub answers 412 when parentCommit is not the head
  std::string title, message;        // for the commit log
};

struct CommitOutcome {
  std::string revision;
  bool created_repo = false;
  bool new_revision = false;
  std::vector<std::string> refs_updated;  // "heads/v1", "heads/main", "tags/v1.0.0"
};

// One entry of a repo's history as `GET /api/.../commits/{rev}` lists it.
struct CommitLogEntry {
  std::string id;      // the revision id
  std::string parent;  // "" for the first commit, or when the history before it is unknown
  std::string title, message, author, date;
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
  // A `gated` marker file: as a gated repo on the Hub, only token holders may read it.
  bool is_gated(const std::string& repo_id) const;
  RefList refs(const std::string& repo_id) const;
  // A branch, tag, "refs/heads/x", "refs/tags/x" or revision id -> revision id.
  std::optional<std::string> resolve(const std::string& repo_id, const std::string& rev) const;
  // "main" if it exists, else the highest vN branch, else nullopt.
  std::optional<std::string> default_branch(const std::string& repo_id) const;
  std::shared_ptr<const RevisionIndex> index(const std::string& repo_id,
                                             const std::string& revision);
  // What changes when a signature is added to, replaced in or removed from a revision: inode, size
  // and nanosecond mtime of build/, of each build/<variant>/, its signatures/ folder and each file
  // in it (signature files are written by rename: a new inode). Listings and stats, no reads.
  std::string signature_stamp(const std::string& repo_id, const std::string& revision) const;
  fs::path revision_dir(const std::string& repo_id, const std::string& revision) const;

  // Uploads: blobs are staged by content hash, then a commit builds a revision from them.
  fs::path staged_blob(const std::string& sha256) const;
  bool has_staged_blob(const std::string& sha256, uint64_t size) const;
  fs::path upload_temp_path() const;
  CommitOutcome commit(const std::string& repo_id, const CommitRequest& req);

  // The Hub's repo and ref management. A repo is created empty (no branch: its first commit makes
  // one); 409 when it exists. A new branch starts at `revision`; in a kernel repo a vN branch must
  // hold major version N ("" = an empty tree). Tags never move: 409 when the tag exists.
  bool create_repo(const std::string& repo_id, bool is_private);
  void create_branch(const std::string& repo_id, const std::string& branch,
                     const std::string& revision, bool overwrite);
  void create_tag(const std::string& repo_id, const std::string& tag, const std::string& revision);
  // The history of `revision` (a revision id the log knows), newest first, at most `limit`
  // entries. A revision the log does not know (written by `khub publish --hub DIR`) is one entry
  // without a parent.
  std::vector<CommitLogEntry> history(const std::string& repo_id, const std::string& revision,
                                      size_t limit);
  // Incremented when commit, create_repo, create_branch or create_tag returns or throws (after
  // its writes): a cache that read the folder at generation g and still sees g saw every change
  // made through this store. Changes made behind its back (`khub publish --hub DIR`, `khub sign`)
  // do not count.
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }

 private:
  fs::path repo_dir(const std::string& repo_id) const;
  // Kernel rules for moving `branch` (and tags) to a tree whose variants `changed` (nullptr: only
  // refs move, nothing changed): see hub_store.cc.
  void check_kernel_refs(const std::string& repo_id, const fs::path& tree,
                         const std::vector<std::string>* changed, const std::string& branch,
                         const std::vector<std::string>& tags,
                         std::vector<std::string>* follow_main);
  void append_log(const std::string& repo_id, const CommitLogEntry& e);
  fs::path root_;
  RevisionIdFn revision_id_;
  std::mutex mu_;         // guards indexes_
  std::mutex commit_mu_;  // one commit at a time (plus a file lock across processes)
  std::map<std::string, std::shared_ptr<const RevisionIndex>> indexes_;
  std::atomic<uint64_t> generation_{0};
  // Bumps generation_ when the write that holds it ends, however it ends.
  struct GenerationBump {
    std::atomic<uint64_t>& g;
    ~GenerationBump() { g.fetch_add(1, std::memory_order_acq_rel); }
  };
};

}  // namespace khub::serve
