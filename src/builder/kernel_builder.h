// `khub build`: compiles a kernel project (build.toml) into variant folders
// `<out>/khub<ABI>-<backend>-<cpu>-<os>/` holding the kernel library and metadata.json.
//
// Per backend: every source group is compiled (g++ for C/C++, nvcc for .cu whenever nvcc is
// present) with -fvisibility=hidden -fno-gnu-unique and path-independent flags; the objects are
// linked once to read the manifest (dlopen + khub_kernel_manifest()), then again with a version
// script that exports exactly khub_kernel_manifest and the manifest's symbols; the result must
// pass the loader's own checks (ELF exports, manifest validation). metadata.json records name, id,
// version, license, backend {type, archs}, library, digest (sha256 of every file), provenance
// (source commit and dirty flag), source-digest and the manifest.
//
// Reproducible: no timestamps, sources compiled from the project folder with relative paths,
// -ffile-prefix-map for absolute include paths, a fixed -frandom-seed per file; the same sources
// and toolchain give the same digests. A variant whose source digest (project files, khub ABI
// header, toolchain versions, defines) and provenance are unchanged is not rebuilt.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace khub::builder {

struct BuildOptions {
  std::filesystem::path out;          // "" -> <project>/build
  std::vector<std::string> backends;  // empty -> every backend of build.toml (cuda is skipped
                                      // with a note when nvcc is absent)
  std::vector<std::string> defines;   // NAME or NAME=VALUE, passed as -D to every compile
  bool force = false;                 // rebuild even when up to date
  int jobs = 0;                       // parallel compiles; 0 -> the number of CPUs
  // Progress: each compile of a variant that finished (its label, count so far, count in all).
  std::function<void(const std::string& variant, const std::string& step, size_t done,
                     size_t total)>
      on_progress = nullptr;
};

struct BuiltVariant {
  std::string variant;  // "khub1-cpu-x86_64-linux"
  std::filesystem::path dir;
  std::string id;
  std::string backend;
  std::vector<std::string> archs;
  bool up_to_date = false;  // nothing was rebuilt
};

struct BuildResult {
  std::string name;
  std::string repo_id;  // build.toml [general.hub] repo-id, "" when absent
  std::vector<BuiltVariant> variants;
  std::vector<std::string> notes;  // e.g. "cuda: skipped, nvcc not found"
};

// Throws Error(kFormat) for a bad build.toml, Error(kIo) for a failed compile (naming the command)
// and Error(kVerification) when the library breaks the ABI rules.
BuildResult build_kernel(const std::filesystem::path& project, const BuildOptions& options = {});

// The khub include folder the builder compiles against (holds khub/kernel_abi.h):
// $KHUB_INCLUDE_DIR, else this source tree's include/, else <exe>/../include.
std::filesystem::path khub_include_dir();

}  // namespace khub::builder
