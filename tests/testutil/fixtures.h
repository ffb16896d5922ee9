// Paths of the kernel fixtures built once at build time (tests/loader/CMakeLists.txt):
//   scale-v1/<variant>/      `khub build` of tests/loader/fixtures/scale (out = x * alpha)
//   scale-v2/<variant>/      the same with -DSCALE_OFFSET=1 (out = x * alpha + 1)
//   libs/libscale_abi2.so    a library whose manifest claims kernel ABI major 2
//   libs/libscale_extra.so   a library exporting khub_scale_debug_hook, which no manifest lists
// and helpers that assemble variant folders around them.
#pragma once

#include <filesystem>
#include <string>

#include "loader/digest.h"
#include "loader/metadata.h"
#include "loader/system_info.h"
#include "loader/variant.h"
#include "testutil/temp_dir.h"

namespace khub::testing {

inline std::filesystem::path fixtures_dir() { return KHUB_TEST_FIXTURES; }

// The name of the CPU variant this machine builds: khub1-cpu-<cpu>-<os>.
inline std::string host_cpu_variant() {
  auto sys = loader::SystemInfo::host();
  return loader::khub_variant_name(sys.abi_major, *loader::parse_backend_token("cpu"), sys.cpu,
                                   sys.os);
}

inline std::filesystem::path scale_v1() { return fixtures_dir() / "scale-v1" / host_cpu_variant(); }
inline std::filesystem::path scale_v2() { return fixtures_dir() / "scale-v2" / host_cpu_variant(); }

// Rewrites <variant>/metadata.json from `md`, recomputing the digest over the folder's files
// (what a malicious or careless publisher can do: the digest matches, the content is bad).
inline void rewrite_metadata(const std::filesystem::path& variant, loader::VariantMetadata md,
                             bool recompute_digest = true) {
  if (recompute_digest) md.digest = loader::compute_variant_digest(variant);
  write_file(variant / "metadata.json", loader::metadata_to_json(md).dump(2));
}

// A variant folder <root>/build/<variant>/ holding a copy of `library` as libscale.so, with the
// good scale fixture's metadata (manifest included) and a fresh digest.
inline std::filesystem::path make_variant_with_library(const std::filesystem::path& root,
                                                       const std::filesystem::path& library) {
  std::filesystem::path dir = root / "build" / host_cpu_variant();
  std::filesystem::create_directories(dir);
  std::filesystem::copy_file(library, dir / "libscale.so",
                             std::filesystem::copy_options::overwrite_existing);
  rewrite_metadata(dir, loader::read_metadata(scale_v1()));
  return dir;
}

}  // namespace khub::testing
