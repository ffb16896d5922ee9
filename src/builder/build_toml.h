// build.toml: how a kernel project is built (docs/build-toml.md is the reference). The shape
// follows HF kernel-builder's edition-5 file where the concepts coincide ([general], repeatable
// [kernel.<name>] source groups with a backend, src, include, cxx-flags, cuda-capabilities) so
// kernel authors meet familiar keys; unknown keys are errors that list the allowed ones.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace khub::builder {

struct SourceGroup {
  std::string name;                  // the <name> of [kernel.<name>]
  std::string backend;               // "cpu" or "cuda"
  std::vector<std::string> src;      // relative to the project folder
  std::vector<std::string> include;  // relative include folders
  std::vector<std::string> cxx_flags;
  std::vector<std::string> cuda_flags;
  std::vector<std::string> cuda_capabilities;  // empty: the default list
  std::vector<std::string> ld_flags;
};

struct BuildConfig {
  std::filesystem::path project;  // the folder holding build.toml
  std::string name;
  int version = 0;
  std::string license;
  std::vector<std::string> backends;
  std::string repo_id;  // [general.hub] repo-id, "" when absent
  std::vector<SourceGroup> kernels;

  // Groups of one backend, in file order.
  std::vector<const SourceGroup*> groups_for(const std::string& backend) const;
};

// The CUDA capabilities compiled when a group lists none.
const std::vector<std::string>& default_cuda_capabilities();

// Parses <project>/build.toml. Throws Error(kFormat) naming the file, the line and the key, or
// Error(kNotFound) when there is no build.toml.
BuildConfig parse_build_toml(const std::filesystem::path& project);
BuildConfig parse_build_toml_text(const std::string& text, const std::filesystem::path& project);

}  // namespace khub::builder
