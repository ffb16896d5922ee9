// Where kernel repos come from (docs/design.md §6). A RepoSource answers the questions the loader
// needs — which refs exist, which files a revision holds, and "give me build/<variant>/ as a local
// folder" — for one kind of storage. khub_hub implements the local ones (LOCAL_KERNELS overrides
// and local hub directories); the HTTP side (cache + Hub API) implements the same interface and
// registers itself with register_source_provider(), so resolution and loading never care where
// files live.
//
// Order, first match wins: LOCAL_KERNELS -> local hub directories (KHUB_HUB_PATH, or the bundled
// hub when unset) -> providers registered by other parts (the cache, then the HTTP hub).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "hub/ref/kernel_ref.h"
#include "hub/ref/version_resolve.h"

namespace khub::hub {

struct TreeEntry {
  std::string path;  // relative POSIX path inside the revision, e.g.
                     // "build/khub1-cpu-x86_64-linux/metadata.json"
  uint64_t size = 0;
  std::string sha256;  // lower-case hex, "" when the source does not know it without hashing
};

struct MaterializedVariant {
  std::filesystem::path dir;         // the local build/<variant>/ folder
  std::filesystem::path trust_root;  // every file (symlinks resolved) must stay inside it
};

class RepoSource {
 public:
  virtual ~RepoSource() = default;

  // "local hub /srv/khub-hub", "LOCAL_KERNELS", "https://huggingface.co"
  virtual std::string description() const = 0;
  // Unversioned sources (LOCAL_KERNELS) map a repo to a folder: refs are empty, REVs are ignored
  // and the revision is current_revision(), the folder's content address (revision_id.h).
  virtual bool versioned() const { return true; }
  // The revision an unversioned source holds now; versioned sources are never asked.
  virtual std::string current_revision(const std::string& repo_id);
  // Whether files come from the network (an HTTP hub, or the cache it filled): the trust policy's
  // "remote" unsigned rule applies to them (loader/trust_policy.h).
  virtual bool remote() const { return false; }

  virtual bool has_repo(const std::string& repo_id) = 0;
  virtual RefList list_refs(const std::string& repo_id) = 0;
  virtual bool has_revision(const std::string& repo_id, const std::string& revision) = 0;
  // Every file of a revision, sorted by path.
  virtual std::vector<TreeEntry> list_files(const std::string& repo_id,
                                            const std::string& revision) = 0;
  // The folder names under build/ (default: derived from list_files).
  virtual std::vector<std::string> list_variants(const std::string& repo_id,
                                                 const std::string& revision);
  // A small file of a revision (metadata.json): Error(kNotFound) when absent.
  virtual std::string read_file(const std::string& repo_id, const std::string& revision,
                                const std::string& path) = 0;
  // build/<variant>/ of a revision as a local folder (a remote source downloads it first).
  virtual MaterializedVariant materialize_variant(const std::string& repo_id,
                                                  const std::string& revision,
                                                  const std::string& variant) = 0;
};

// The ordered list of sources one lookup consults.
class HubSources {
 public:
  HubSources() = default;
  HubSources(HubSources&&) = default;
  HubSources& operator=(HubSources&&) = default;

  // LOCAL_KERNELS, then the local hub directories of hub_search_path(), then every registered
  // provider. Throws Error(kInvalidArgument) for a malformed LOCAL_KERNELS. Defined with the
  // registry of providers (source_registry.h), which knows the local implementations.
  static HubSources from_environment();

  void add(std::shared_ptr<RepoSource> source) { sources_.push_back(std::move(source)); }
  const std::vector<std::shared_ptr<RepoSource>>& sources() const { return sources_; }

  struct Resolved {
    std::shared_ptr<RepoSource> source;
    Resolution resolution;
  };
  // The first source that has the repo and resolves the REV (an unversioned source that has the
  // repo always resolves, to "local"). Throws Error(kNotFound) listing, per source, what exists.
  Resolved resolve(const KernelRef& ref) const;
  // The first source that has the repo, or nullptr.
  std::shared_ptr<RepoSource> find_repo(const std::string& repo_id) const;

 private:
  std::vector<std::shared_ptr<RepoSource>> sources_;
};

}  // namespace khub::hub
