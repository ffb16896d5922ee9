// `khub publish`: puts built variants into a local hub directory (local_hub.h layout) as a new
// immutable revision and moves refs to it.
//
// The revision's tree is the target branch's current tree with the published variants replaced
// (HF's upload rule: other variants on the branch stay; a branch that does not exist yet starts
// empty). Its id is content-addressed (revision_id()), so publishing the same tree twice gives the
// same id and writes nothing. Files are copied into a temporary folder, verified against their
// metadata.json digests, and renamed into place in one step; refs are written to a temporary file
// and renamed. Publishes to one repo are serialized with a file lock. A crash at any point leaves
// the hub as it was, plus at most a ".tmp-*" folder that readers ignore and the next publish
// removes.
//
// Refs: refs/heads/<branch> (default v<metadata version>), refs/tags/<tag> when given (tags are
// immutable: re-publishing a tag is allowed only for the same revision, and then nothing moves),
// and refs/heads/main when the branch is main, when main does not exist yet, or when the branch
// is the highest version branch.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "hub/source/revision_id.h"
#include "loader/metadata.h"

namespace khub::hub {

struct PublishOptions {
  std::string repo_id;  // "" -> metadata "repo-id", else "khub-community/<name>"
  std::string tag;      // "" -> no tag
  std::string branch;   // "" -> "v<version>"
  // Private key files: each signs every variant of the new revision (loader/signature.h).
  std::vector<std::filesystem::path> sign_keys;
  // A kernel project whose README.md and bench/results/*.json are published with the variants
  // (what `khub serve` shows on the repo and benchmarks pages); they replace the branch's README.md
  // and, when the project has results, its whole bench/results/ folder. Empty: `built` itself
  // when it is a kernel project (holds build.toml), else none. Each results file must be a JSON
  // object; symlinks are refused.
  std::filesystem::path docs_from;
};

// The README.md and bench/results/*.json of a kernel project, as revision paths -> files, sorted;
// empty when it has neither. Throws Error(kNotFound) when `project` is not a folder and
// Error(kInvalidArgument) for a symlink or a results file that is not a JSON object.
std::map<std::string, std::filesystem::path> kernel_project_docs(
    const std::filesystem::path& project);

struct PublishResult {
  std::string repo_id;
  std::string revision;
  std::vector<std::string> variants;      // published
  std::vector<std::string> refs_updated;  // "heads/v1", "tags/v1.1.0", "heads/main"
  bool created = false;                   // the revision folder was written by this call
  bool unchanged = false;                 // the tag already named this revision: nothing moved
  std::vector<std::string> signatures;    // "build/<variant>/signatures/<key id>.sig" written
  std::vector<std::string> docs;          // README.md, bench/results/*.json published
  int dropped_signatures = 0;  // signatures of the base tree or the built folder left out: they
                               // name another revision, so they cannot vouch for this one
};

// `built`: a kernel project (with build/), a build folder of variant folders, or one variant
// folder. Throws Error(kInvalidArgument / kVerification / kIo) naming what is wrong; on error the
// hub is unchanged.
PublishResult publish_kernel(const std::filesystem::path& built, const std::filesystem::path& hub,
                             const PublishOptions& options = {});

// The checks every published variant passes (docs/design.md §6.2), shared by `khub publish` and
// commits to `khub serve` through the Hub's commit API: the folder name parses as a variant name,
// metadata.json is valid and its digest verifies (no file missing, changed or unlisted). Returns
// the metadata; throws Error(kInvalidArgument / kVerification) naming the variant and the problem.
loader::VariantMetadata check_publishable_variant(const std::filesystem::path& dir,
                                                  const std::string& variant_name);

// A revision tree of a kernel repo after a change to the variants `changed` (names under build/):
// build/ holds only folders, each changed variant that is still there passes
// check_publishable_variant, and they agree on the kernel's name and major version (version -1
// when none is left). As with publish, the variants a change leaves alone are not re-checked.
struct KernelTree {
  std::string name;
  int version = -1;
  std::vector<std::string> variants;  // the checked ones
};
KernelTree check_kernel_tree(const std::filesystem::path& tree,
                             const std::vector<std::string>& changed);

// The major version a branch name stands for ("v3" -> 3), or -1 ("main", "dev", "v1.2").
int major_of_branch(const std::string& name);

// Signs variants of a published revision in a local hub with `key`: writes
// build/<variant>/signatures/<key id>.sig (replacing that key's older signature) for each variant
// (empty: every variant). Takes the repo's publish lock. Returns the files written.
std::vector<std::string> sign_revision(const std::filesystem::path& hub, const std::string& repo_id,
                                       const std::string& revision,
                                       const std::filesystem::path& key_file,
                                       const std::vector<std::string>& variants = {});

// is_revision_signature_path() and revision_id(), the content address: hub/source/revision_id.h.

}  // namespace khub::hub
