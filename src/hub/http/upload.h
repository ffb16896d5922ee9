// Publishing a built kernel to an HTTP hub (`khub serve`): the client side of serve's upload
// protocol (see serve/hub_server.h). Files are content-addressed: the hub is asked which blobs it
// lacks, those are uploaded (in parallel, each checked by the server against its sha256), then one
// commit call builds the revision and moves the branch and tags. The revision id comes back from
// the hub (a content hash of the tree, so publishing the same tree twice gives the same id).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "hub/http/hub_config.h"
#include "hub/ref/hub_types.h"

namespace khub::hub::net {

struct UploadOptions {
  std::string branch = "main";              // "" = move no branch
  std::vector<std::string> extra_branches;  // moved too (e.g. "main" when publishing v2)
  std::vector<std::string> tags;  // tags never move: re-tagging another revision is refused
  // The new tree is this branch's current tree (when it exists) minus the `replace` folders, plus
  // the uploaded files: how `khub publish` replaces its variants and keeps the others.
  std::string base_branch;
  std::vector<std::string> replace;
  bool create_repo = true;
  bool is_private = false;            // only when the repo is created
  std::optional<std::string> parent;  // refuse unless `branch` is at this revision
  std::string path_in_repo;           // upload `dir` under this folder ("" = the repo root)
};

struct UploadResult {
  std::string revision;
  int files = 0;
  int uploaded = 0;  // blobs the hub did not have yet
  uint64_t uploaded_bytes = 0;
  bool new_revision = false;
  bool created_repo = false;
};

// Uploads every regular file under `dir` (symlinks and special files are refused) as one revision
// of `repo`. Needs config.token with write access on the hub.
UploadResult upload_revision(const HubConfig& config, const RepoRef& repo,
                             const std::filesystem::path& dir, const UploadOptions& options);

}  // namespace khub::hub::net
