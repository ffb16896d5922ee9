// The huggingface_hub cache layout, byte-compatible with Python's so both share one cache:
//   <root>/kernels--org--name/blobs/<etag>                 file contents (sha256 for LFS files,
//                                                          git blob id otherwise)
//   <root>/kernels--org--name/refs/<revision>              the commit a branch/tag resolved to
//   <root>/kernels--org--name/snapshots/<commit>/<path>    relative symlinks into blobs/
//   <root>/kernels--org--name/trees/<commit>.json          huggingface_hub's tree-listing cache
//   <root>/.locks/kernels--org--name/<etag>.lock           per-blob download locks (as Python)
// khub adds, in places Python ignores:
//   <root>/kernels--org--name/khub/refs.json               last full refs listing (offline refs)
//   <root>/.locks/kernels--org--name/snapshot-<commit>.lock  one downloader per snapshot
// Everything is written atomically (temp file + rename), so a crash never leaves a partial blob,
// ref or listing in place, and a snapshot link is made only after its blob is complete.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "hub/ref/hub_types.h"

namespace khub::hub::net {

namespace fs = std::filesystem;

// Writes `content` to `path` through a temp file in the same directory and a rename.
void write_file_atomic(const fs::path& path, std::string_view content);
std::optional<std::string> read_small_file(const fs::path& path);

class HubCache {
 public:
  explicit HubCache(fs::path root);
  const fs::path& root() const { return root_; }

  fs::path repo_dir(const RepoRef& repo) const;
  fs::path blob_path(const RepoRef& repo, const std::string& etag) const;
  fs::path snapshot_dir(const RepoRef& repo, const std::string& commit) const;
  fs::path blob_lock_path(const RepoRef& repo, const std::string& etag) const;
  fs::path snapshot_lock_path(const RepoRef& repo, const std::string& commit) const;

  // refs/<name>: the commit a branch or tag resolved to on the last online query.
  std::optional<std::string> read_ref(const RepoRef& repo, const std::string& name) const;
  void write_ref(const RepoRef& repo, const std::string& name, const std::string& commit) const;
  // Every refs/<name> file (names may contain '/').
  std::vector<std::pair<std::string, std::string>> list_ref_files(const RepoRef& repo) const;

  // The full refs listing of the last online list_refs().
  std::optional<RefList> read_refs_listing(const RepoRef& repo) const;
  void write_refs_listing(const RepoRef& repo, const RefList& refs) const;

  // trees/<commit>.json (files only, as huggingface_hub writes it). nullopt when absent or
  // unreadable; entries with unsafe paths make the whole listing unreadable.
  std::optional<std::vector<TreeEntry>> read_tree(const RepoRef& repo,
                                                  const std::string& commit) const;
  void write_tree(const RepoRef& repo, const std::string& commit,
                  const std::vector<TreeEntry>& files) const;

  // True when snapshots/<commit>/<path> is a link to the complete blob for `etag`.
  bool has_snapshot_file(const RepoRef& repo, const std::string& commit, const std::string& path,
                         const std::string& etag) const;
  bool has_blob(const RepoRef& repo, const std::string& etag) const;
  // Points snapshots/<commit>/<path> at blobs/<etag> (relative symlink, replaced atomically).
  void link_snapshot_file(const RepoRef& repo, const std::string& commit, const std::string& path,
                          const std::string& etag) const;
  // Every snapshot file present (regular files reached through links), as repo paths.
  std::vector<std::string> list_snapshot_files(const RepoRef& repo,
                                               const std::string& commit) const;

 private:
  fs::path root_;
};

}  // namespace khub::hub::net
