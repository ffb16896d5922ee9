// Hub directories for the web page tests, the browser test and the page benchmark
// (docs/design.md §12): real kernel repos in the local hub format — variants with metadata.json
// and manifests, tags and branches over two revisions, a README, bench/results — a model repo, a
// private repo, a repo full of hostile strings (README, ref, file, variant, license, layer and
// benchmark names that try to run script), a folder whose name is no repo id, and any number of
// small generated kernel repos.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace khub::test {

struct FixtureFile {
  std::string path;
  std::string content;
};

// Writes a revision (content-addressed) and points the branches and tags at it; returns its id.
std::string write_revision(const std::filesystem::path& root, const std::string& repo_id,
                           const std::vector<FixtureFile>& files,
                           const std::vector<std::string>& branches,
                           const std::vector<std::string>& tags);

// The repos described above; `hostile` adds evil_org/_x-y and the "<script>" folder.
void write_demo_hub(const std::filesystem::path& root, bool hostile = true);
// `n` generated repos bulk/kernel-0000... with a CPU and a CUDA variant each.
void write_bulk_repos(const std::filesystem::path& root, int n);

// What a test may check against (the demo hub's facts).
inline constexpr const char* kHostileMarker = "window.__pwned=1";
inline constexpr int kRmsnormBenchPoints = 9;  // points of the first chart of rmsnorm's bench

}  // namespace khub::test
