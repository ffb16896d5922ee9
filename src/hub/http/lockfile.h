// Project kernel lists (kernels.toml), lockfiles (kernels.lock) and locked loads.
//
// kernels.toml lists the kernels a project uses, modeled on HF's pyproject.toml
// `[tool.kernels.dependencies]` (which `khub lock` also reads from a pyproject.toml):
//
//   [dependencies]
//   "khub-community/rmsnorm" = 1                 # major version: the branch v1
//   "khub-community/activation" = "v1.2.0"       # a revision: tag, branch, commit, or (with the
//                                                # hub resolver linked) a constraint ">=1.2,<2"
//   "khub-community/rotary" = { version = 1, variants = ["khub1-cpu-x86_64-linux"] }
//   "org/other" = { revision = "main", repo-type = "model" }
//
// kernels.lock is HF's JSON format — an array with one object per kernel: repo_id, sha (the
// commit) and variants {name: {hash: "sha256-<hex>", hash_type: "git_lfs_concat"}}, the hash
// computed exactly as HF's `kernels lock` does (sorted (path-in-variant, LFS sha256 or git blob id)
// pairs, SHA-256 over path bytes followed by raw hash bytes). khub adds, in a key HF ignores:
//   "khub": {"repo_type": "kernel", "requested": "1", "ref": "v1",
//            "variants": {name: {"metadata": "sha256-<hex of metadata.json>", "files": N,
//                                "bytes": B, "signers": ["<key id>", ...]}}}
// `signers` are the keys whose signature of this repo, commit and variant verifies, covers the
// locked metadata.json and is trusted by the trust policy at lock time (loader/trust_policy.h);
// a locked fetch refuses the variant when none of them signs it any more.
// The metadata digest pins metadata.json, whose digest.files pins every other file of the variant.
// A locked load (locked_variant) makes no network request and checks the cached tree against the
// lock hash, each snapshot file against its blob, and metadata.json against the lock.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "hub/http/hf_api.h"

namespace khub::hub::net {

struct KernelDependency {
  RepoRef repo;
  std::string spec;  // "1" (major), "v1.2.0", ">=1.2,<2", "main", a commit; "" = the default
  std::vector<std::string> variants;  // empty = every variant is locked
};

// Reads kernels.toml ([dependencies]) or pyproject.toml ([tool.kernels.dependencies]).
std::vector<KernelDependency> read_kernel_list(const fs::path& file);

struct VariantLock {
  std::string hash;  // "sha256-<hex>"
  std::string hash_type = "git_lfs_concat";
  std::string metadata_digest;  // "sha256-<hex>" of build/<v>/metadata.json; "" if none
  size_t files = 0;
  uint64_t bytes = 0;
  std::vector<std::string> signers;  // key ids (see above); empty: locked unsigned
};

struct KernelLock {
  RepoRef repo;
  std::string sha;
  std::map<std::string, VariantLock> variants;
  std::string requested;  // the spec from kernels.toml
  std::string ref;        // the branch/tag it resolved to ("" for a commit)
};

std::vector<KernelLock> read_lockfile(const fs::path& file);
std::string lockfile_json(const std::vector<KernelLock>& locks);
void write_lockfile(const fs::path& file, const std::vector<KernelLock>& locks);

// HF's git_lfs_concat hash of the files under build/<variant>/ in a tree listing.
std::string variant_lock_hash(const std::vector<TreeEntry>& tree, const std::string& variant);

// Turns a dependency spec into a branch, tag or commit given the repo's refs. The default handles
// integers ("1" -> branch v1), exact branch/tag names, commits, and "" (the highest vN branch, else
// main); constraints (">=1.2,<2", "^1.2") need the hub resolver of hub/ to be passed in.
using RevisionResolver = std::function<std::string(const RefList& refs, const std::string& spec)>;
std::string default_revision_resolver(const RefList& refs, const std::string& spec);

// Resolves a dependency on the hub and computes its lock (downloads each locked variant's
// metadata.json into the cache to record our digest).
KernelLock lock_kernel(RemoteRepo& repo, const KernelDependency& dep,
                       const RevisionResolver& resolve = default_revision_resolver);

// Pre-fetches the locked variants of a lock into the cache and verifies them against the lock,
// then, for variants the lock records signers for, applies the trust policy with them (a changed
// signer is refused, loader/trust_policy.h; loading applies the whole policy again).
// `variants` empty = every locked variant. Returns the snapshot directory.
fs::path fetch_locked(const HubConfig& config, const KernelLock& lock,
                      const std::vector<std::string>& variants = {});

// The cached, verified folder build/<variant> of a locked kernel. Never touches the network;
// kNotFound (with the `khub download --lock` hint) when the cache lacks it, kVerification when
// the cache does not match the lock.
fs::path locked_variant(const HubConfig& config, const KernelLock& lock,
                        const std::string& variant);

}  // namespace khub::hub::net
