// The data a hub answers with, in the shapes of the Hugging Face Hub API: refs (branches, tags),
// tree entries (with LFS and git object ids) and repository info.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <string_view>

namespace khub::hub::net {

enum class RepoType { kModel, kKernel, kDataset, kSpace };

// "kernel" -> kKernel etc.; kInvalidArgument lists the accepted names otherwise.
RepoType parse_repo_type(std::string_view name);
std::string_view repo_type_name(RepoType t);         // "kernel"
std::string_view repo_type_api_segment(RepoType t);  // "kernels" as in /api/kernels/...
std::string_view repo_type_url_prefix(RepoType t);   // "kernels/" ("" for models)

struct RepoRef {
  RepoType type = RepoType::kKernel;
  std::string id;  // "org/name"

  // "kernels--org--name": the folder of this repo in the huggingface_hub cache.
  std::string cache_folder() const;
  // "kernels/org/name" (models: "org/name"), for messages.
  std::string display() const;
  // Parses "[kernels/|models/|datasets/|spaces/]org/name"; `default_type` when unprefixed.
  static RepoRef parse(std::string_view text, RepoType default_type = RepoType::kKernel);
};

struct GitRef {
  std::string name;    // "v1", "main", "v1.2.0"
  std::string ref;     // "refs/heads/v1", "refs/tags/v1.2.0"
  std::string commit;  // target revision id
};

struct RefList {
  std::vector<GitRef> branches;
  std::vector<GitRef> tags;
  bool from_cache = false;  // answered offline from the cache (may be incomplete)
  // The commit of a branch or tag by name; nullopt when neither exists.
  std::optional<std::string> find(std::string_view name) const;
};

struct TreeEntry {
  std::string path;
  bool is_dir = false;
  uint64_t size = 0;
  std::string oid;                        // git blob id (files) or git tree id (directories)
  std::optional<std::string> lfs_sha256;  // LFS files: sha256 of the content
  std::optional<std::string> xet_hash;
  // What the hub's /resolve endpoint reports as ETag and what names the blob in the cache.
  const std::string& etag() const { return lfs_sha256 ? *lfs_sha256 : oid; }
};

struct RepoInfo {
  std::string id;
  std::string sha;  // commit of the requested revision
  bool is_private = false;
  std::string last_modified;
  std::vector<std::string> files;  // siblings' rfilename
  bool from_cache = false;
};

}  // namespace khub::hub::net
