// A local hub directory (docs/design.md §6) — what `khub publish` writes and `khub serve` serves:
//
//   <root>/<org>/<repo>/refs/heads/<branch>     one line: a revision id (40 lower-case hex)
//   <root>/<org>/<repo>/refs/tags/<tag>
//   <root>/<org>/<repo>/revisions/<revision>/   an immutable file tree (build/<variant>/...)
//
// Readers ignore entries whose names are not valid (".tmp-*" folders of an interrupted publish,
// malformed ref files), so a crash while publishing never exposes a half-written revision.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "hub/source/repo_source.h"

namespace khub::hub {

class LocalHubSource : public RepoSource {
 public:
  explicit LocalHubSource(std::filesystem::path root);

  std::string description() const override;
  bool has_repo(const std::string& repo_id) override;
  RefList list_refs(const std::string& repo_id) override;
  bool has_revision(const std::string& repo_id, const std::string& revision) override;
  std::vector<TreeEntry> list_files(const std::string& repo_id,
                                    const std::string& revision) override;
  std::vector<std::string> list_variants(const std::string& repo_id,
                                         const std::string& revision) override;
  std::string read_file(const std::string& repo_id, const std::string& revision,
                        const std::string& path) override;
  MaterializedVariant materialize_variant(const std::string& repo_id, const std::string& revision,
                                          const std::string& variant) override;

  const std::filesystem::path& root() const { return root_; }
  // <root>/<org>/<repo>; throws Error(kInvalidArgument) for an invalid repo id.
  std::filesystem::path repo_dir(const std::string& repo_id) const;
  // <root>/<org>/<repo>/revisions/<revision>; throws for a malformed revision id.
  std::filesystem::path revision_dir(const std::string& repo_id, const std::string& revision) const;
  // Repo ids present in this hub ("org/repo"), sorted.
  std::vector<std::string> list_repos() const;

 private:
  std::filesystem::path root_;
};

// Whether `s` is a revision id: 40 lower-case hex digits.
bool is_revision_id(const std::string& s);
// Splits "org/repo" after validating both parts; throws Error(kInvalidArgument).
std::pair<std::string, std::string> split_repo_id(const std::string& repo_id);

}  // namespace khub::hub
