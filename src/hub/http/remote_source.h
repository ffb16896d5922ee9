// What the resolver (hub/) needs from an HTTP hub, in the terms of the local hub format: versions
// (branches and tags -> revision), the variants of a revision, a variant's metadata.json, and a
// variant folder made local and verified. Every answer goes through the cache, so with
// HF_HUB_OFFLINE=1 the same calls answer from what was fetched before (versions, variants, info,
// has_kernel and loads all work offline), and a commit-pinned fetch of a cached variant makes no
// request at all.
#pragma once

#include <string>
#include <vector>

#include "hub/http/hf_api.h"

namespace khub::hub::net {

class RemoteKernelSource {
 public:
  RemoteKernelSource(HubConfig config, RepoRef repo);

  RefList refs();
  std::string resolve(const std::string& revision);  // branch, tag or commit -> commit
  // Variant folder names under build/ at a commit ("khub1-cpu-x86_64-linux", "torch212-...").
  std::vector<std::string> variants(const std::string& commit);
  // The cached path of build/<variant>/metadata.json (downloaded alone: small, for selection).
  fs::path variant_metadata(const std::string& commit, const std::string& variant);
  // The cached, verified folder build/<variant> (only that variant is downloaded).
  fs::path fetch_variant(const std::string& commit, const std::string& variant);

  RemoteRepo& repo() { return repo_; }

 private:
  RemoteRepo repo_;
};

}  // namespace khub::hub::net
