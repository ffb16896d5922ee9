// LOCAL_KERNELS (HF's escape hatch, research §1.2): `org/repo=/path:org/other=/path` maps repos to
// local folders that win over every hub. A folder may be a kernel project (holding build/), a
// build folder (holding variant folders), or one variant folder (holding metadata.json). Local
// folders have no refs: a REV in the reference is ignored (noted in the resolution) and the
// revision is the folder's content address (revision_id.h: local_folder_revision), so signatures,
// pins and locks bind to exactly these files.
#pragma once

#include <filesystem>
#include <map>
#include <string>

#include "hub/source/repo_source.h"

namespace khub::hub {

class LocalKernelsSource : public RepoSource {
 public:
  // Parses the variable's value; Error(kInvalidArgument) names the malformed entry.
  static LocalKernelsSource parse(const std::string& value);
  explicit LocalKernelsSource(std::map<std::string, std::filesystem::path> repos)
      : repos_(std::move(repos)) {}

  std::string description() const override { return "LOCAL_KERNELS"; }
  bool versioned() const override { return false; }
  bool has_repo(const std::string& repo_id) override { return repos_.count(repo_id) > 0; }
  RefList list_refs(const std::string&) override { return {}; }
  std::string current_revision(const std::string& repo_id) override;
  bool has_revision(const std::string& repo_id, const std::string& revision) override {
    return revision == current_revision(repo_id);
  }
  std::vector<TreeEntry> list_files(const std::string& repo_id,
                                    const std::string& revision) override;
  std::vector<std::string> list_variants(const std::string& repo_id,
                                         const std::string& revision) override;
  std::string read_file(const std::string& repo_id, const std::string& revision,
                        const std::string& path) override;
  MaterializedVariant materialize_variant(const std::string& repo_id, const std::string& revision,
                                          const std::string& variant) override;

  const std::map<std::string, std::filesystem::path>& repos() const { return repos_; }

 private:
  std::filesystem::path folder(const std::string& repo_id) const;
  std::map<std::string, std::filesystem::path> repos_;
};

// The variant folders of a local kernel folder (see above): name -> folder, sorted by name.
// Throws Error(kNotFound) when the folder does not exist.
std::map<std::string, std::filesystem::path> local_variant_folders(
    const std::filesystem::path& path);

}  // namespace khub::hub
