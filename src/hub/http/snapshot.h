// snapshot_download: a revision of a repository (or the part of it under some folders, e.g. one
// variant's build/<variant>/) made present in the cache, verified, as a local directory the loader
// can read. The steps:
//   1. revision -> commit (a commit needs no network when the cache has what is asked for);
//   2. the tree listing of the commit (cached as trees/<commit>.json; immutable);
//   3. under a per-snapshot file lock, so that N processes (e.g. 8 ranks) download once: the
//      variants' metadata.json first, then every missing file in parallel, each checked against
//      the listing's hash (LFS sha256 or git blob id) and against metadata.json's digest.files;
//   4. blobs renamed into place, then snapshot links made; refs/<revision> recorded.
// A warm call with a commit makes no network request; offline (HF_HUB_OFFLINE=1) it answers from
// the cache or fails saying what is missing.
#pragma once

#include <string>
#include <vector>

#include "hub/http/hf_api.h"

namespace khub::hub::net {

struct SnapshotRequest {
  std::string revision = "main";  // branch, tag or commit
  // Folders or files to fetch ("build/khub1-cpu-x86_64-linux"); empty = the whole repository.
  std::vector<std::string> allow_prefixes;
  // Check files against the digest list of each variant's metadata.json (build/<v>/metadata.json).
  bool verify_metadata_digests = true;
};

struct SnapshotResult {
  fs::path dir;  // <cache>/<repo folder>/snapshots/<commit>
  std::string commit;
  std::vector<std::string> files;  // repo paths present for this request
  int downloaded = 0;              // files fetched by this call
  uint64_t bytes_downloaded = 0;
  int api_requests = 0;  // refs/info/tree requests made by this call
};

SnapshotResult snapshot_download(RemoteRepo& repo, const SnapshotRequest& req);

// True when `path` is under one of `prefixes` (a prefix names a folder or a file; empty list =
// everything) and is not Python bytecode (*.pyc, __pycache__/), which is never fetched.
bool path_selected(const std::string& path, const std::vector<std::string>& prefixes);

// The variant folders ("build/<name>") present in a tree listing.
std::vector<std::string> variant_names(const std::vector<TreeEntry>& tree);

}  // namespace khub::hub::net
