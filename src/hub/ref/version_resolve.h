// Version resolution (docs/design.md §3): a KernelRef's REV plus a repo's refs -> one immutable
// revision id. Errors list what exists (version branches, other branches, tags).
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "hub/ref/kernel_ref.h"
#include "hub/ref/semver.h"

namespace khub::hub {

// The refs of one repo: name -> revision id.
struct RefList {
  std::map<std::string, std::string> branches;
  std::map<std::string, std::string> tags;
};

struct Resolution {
  std::string revision;  // the immutable revision id
  std::string ref;       // the ref it came from ("v1", "v1.1.0", "main", "" for a commit)
  std::string how;       // "tag v1.1.0 (highest of 2 tags matching >=1.0)", "branch v1", ...
  std::vector<std::string> notes;  // e.g. "a newer major version v2 exists"
};

// Version branches v<N> by N, descending.
std::vector<std::pair<int, std::string>> major_branches(const RefList& refs);
// Tags that parse as versions, by version descending (highest first).
std::vector<std::pair<SemVer, std::string>> version_tags(const RefList& refs);
// "version branches: v2, v1; other branches: main; tags: v2.0.0, v1.1.0, v1.0.0"
std::string describe_refs(const RefList& refs);

// Resolves ref.rev against refs. `revision_exists` answers whether a commit id is present in the
// source (for RevKind::kCommit). Throws Error(kNotFound) naming the repo and listing the refs.
Resolution resolve_revision(const KernelRef& ref, const RefList& refs,
                            const std::function<bool(const std::string&)>& revision_exists);

}  // namespace khub::hub
