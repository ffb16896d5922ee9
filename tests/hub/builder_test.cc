// build.toml parsing and `khub build`: reproducible outputs, skipping unchanged builds, the CUDA
// path whenever nvcc is present.
#include "builder/kernel_builder.h"

#include <gtest/gtest.h>

#include "builder/build_toml.h"
#include "builder/process.h"
#include "core/error.h"
#include "hub/get_kernel.h"
#include "loader/elf_symbols.h"
#include "loader/variant_loader.h"
#include "testutil/fixtures.h"

namespace khub::builder {
namespace {

using khub::testing::copy_tree;
using khub::testing::read_file;
using khub::testing::TempDir;
using khub::testing::write_file;

const std::filesystem::path kScale =
    std::filesystem::path(KHUB_SOURCE_DIR) / "tests/loader/fixtures/scale";
const std::filesystem::path kScaleCuda =
    std::filesystem::path(KHUB_SOURCE_DIR) / "tests/loader/fixtures/scale-cuda";

std::string toml_error(const std::string& text) {
  try {
    parse_build_toml_text(text, "/proj");
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kFormat);
    return e.what();
  }
  ADD_FAILURE() << "parsed:\n" << text;
  return "";
}

const char* kGeneral = R"([general]
name = "rmsnorm"
version = 1
license = "Apache-2.0"
backends = ["cpu"]
)";

TEST(BuildToml, ParsesGroups) {
  BuildConfig c = parse_build_toml(kScale);
  EXPECT_EQ(c.name, "scale");
  EXPECT_EQ(c.version, 1);
  EXPECT_EQ(c.repo_id, "khub-test/scale");
  ASSERT_EQ(c.kernels.size(), 1u);
  EXPECT_EQ(c.kernels[0].src, (std::vector<std::string>{"cpu/scale.cc", "cpu/scale_math.h"}));
  BuildConfig two = parse_build_toml_text(std::string(kGeneral) + R"(
[kernel.plain]
backend = "cpu"
src = ["cpu/a.cc"]
[kernel.avx512]
backend = "cpu"
src = ["cpu/b.cc"]
cxx-flags = ["-mavx512f"]
)",
                                          "/proj");
  ASSERT_EQ(two.groups_for("cpu").size(), 2u);
  EXPECT_EQ(two.kernels[1].cxx_flags, std::vector<std::string>{"-mavx512f"});
}

TEST(BuildToml, BackendTablesAndAliases) {
  BuildConfig c = parse_build_toml_text(R"([general]
name = "rmsnorm"
repo-id = "khub-community/rmsnorm"
version = 1
license = "Apache-2.0"
backends = ["cpu"]

[backend.cpu]
src = ["cpu/a.cc", "../common/isa.cc"]
include = ["../common"]
cxxflags = ["-O3"]
ldflags = ["-pthread"]
)",
                                        "/proj");
  EXPECT_EQ(c.repo_id, "khub-community/rmsnorm");
  ASSERT_EQ(c.kernels.size(), 1u);
  EXPECT_EQ(c.kernels[0].backend, "cpu");
  EXPECT_EQ(c.kernels[0].src[1], "../common/isa.cc");
  EXPECT_EQ(c.kernels[0].cxx_flags, std::vector<std::string>{"-O3"});
  EXPECT_EQ(c.kernels[0].ld_flags, std::vector<std::string>{"-pthread"});
  std::string both = std::string(kGeneral) +
                     "repo-id = \"a/b\"\n[general.hub]\nrepo-id = \"a/b\"\n" +
                     "[backend.cpu]\nsrc = [\"a.cc\"]\n";
  EXPECT_NE(toml_error(both).find("repo-id is given twice"), std::string::npos);
  EXPECT_NE(toml_error(std::string(kGeneral) + "[backend.cpu]\nsrc = [\"/abs/a.cc\"]\n")
                .find("absolute path"),
            std::string::npos);
  EXPECT_NE(toml_error(std::string(kGeneral) + "[backend.cuda]\nsrc = [\"a.cu\"]\n")
                .find("which general.backends does not list"),
            std::string::npos);
}

TEST(Build, SharedCodeOutsideTheProject) {
  // kernels/common holds a header the project includes with "../common": it feeds the source
  // digest, and the build does not depend on where the checkout lives.
  TempDir tmp;
  auto make_tree = [&](const std::filesystem::path& root) {
    copy_tree(kScale / "cpu", root / "scale2/cpu");
    std::filesystem::create_directories(root / "common");
    std::filesystem::rename(root / "scale2/cpu/scale_math.h", root / "common/scale_math.h");
    write_file(root / "scale2/build.toml", R"([general]
name = "scale"
version = 1
license = "Apache-2.0"
backends = ["cpu"]
[backend.cpu]
src = ["cpu/scale.cc"]
include = ["../common"]
cxxflags = ["-O2"]
)");
  };
  make_tree(tmp / "a/kernels");
  make_tree(tmp / "b/deeper/kernels");
  BuildOptions o;
  o.out = tmp / "out-a";
  BuildResult a = build_kernel(tmp / "a/kernels/scale2", o);
  o.out = tmp / "out-b";
  BuildResult b = build_kernel(tmp / "b/deeper/kernels/scale2", o);
  EXPECT_EQ(read_file(a.variants[0].dir / "libscale.so"),
            read_file(b.variants[0].dir / "libscale.so"));
  EXPECT_EQ(a.variants[0].id, b.variants[0].id);
  o.out = tmp / "out-a";
  EXPECT_TRUE(build_kernel(tmp / "a/kernels/scale2", o).variants[0].up_to_date);
  write_file(tmp / "a/kernels/common/scale_math.h",
             read_file(tmp / "a/kernels/common/scale_math.h") + "\n// changed\n");
  EXPECT_FALSE(build_kernel(tmp / "a/kernels/scale2", o).variants[0].up_to_date);
}

TEST(BuildToml, NonAsciiOnlyInStringsAndComments) {
  std::string group = "[backend.cpu]\nsrc = [\"a.cc\"]  # caf\xc3\xa9 \xe2\x80\x94 ok\n";
  BuildConfig c = parse_build_toml_text(
      "# \xc2\xa9 2026\n[general]\nname = \"kk\"\nversion = 1\nlicense = \"\xc2\xa9 \\\" #\"\n"
      "backends = [\"cpu\"]\n" +
          group,
      "/proj");
  EXPECT_EQ(c.license, "\xc2\xa9 \" #");
  // Between tokens it is an error with the line (toml++ 3.3 would hit undefined behaviour).
  EXPECT_NE(
      toml_error(std::string(kGeneral) + "\xd1\x9a = 1\n" + group).find("build.toml:6: non-ASCII"),
      std::string::npos);
}

TEST(BuildToml, ClearErrors) {
  std::string g = kGeneral;
  std::string group = "\n[kernel.k]\nbackend = \"cpu\"\nsrc = [\"a.cc\"]\n";
  EXPECT_NE(toml_error("[general\n").find("/proj/build.toml:1"), std::string::npos);
  EXPECT_NE(toml_error(g + group + "colour = 1\n")
                .find("build.toml:10: unknown key 'colour' in [kernel.k]"),
            std::string::npos)
      << toml_error(g + group + "colour = 1\n");
  EXPECT_NE(toml_error(g + group + "[torch]\nsrc = []\n").find("belongs to HF kernel-builder"),
            std::string::npos);
  EXPECT_NE(toml_error("[general]\nversion = 1\nlicense = \"x\"\nbackends = [\"cpu\"]\n" + group)
                .find("missing general.name"),
            std::string::npos);
  EXPECT_NE(
      toml_error("[general]\nname = \"Bad\"\nversion = 1\nlicense = \"x\"\nbackends = [\"cpu\"]\n" +
                 group)
          .find("must match"),
      std::string::npos);
  EXPECT_NE(toml_error("[general]\nname = \"kk\"\nversion = \"1\"\n")
                .find("version must be a non-negative integer"),
            std::string::npos);
  EXPECT_NE(toml_error(g).find("no source groups"), std::string::npos);
  EXPECT_NE(toml_error(g + "\n[kernel.k]\nbackend = \"cpu\"\nsrc = [\"a\\\\b.cc\"]\n")
                .find("must be a path relative to the project"),
            std::string::npos);
  EXPECT_NE(toml_error(g + "\n[kernel.k]\nbackend = \"cuda\"\nsrc = [\"a.cu\"]\n")
                .find("which general.backends does not list"),
            std::string::npos);
  std::string both =
      "[general]\nname = \"k1\"\nversion = 1\nlicense = \"x\"\nbackends = [\"cpu\", \"cuda\"]\n";
  EXPECT_NE(toml_error(both + group).find("backend 'cuda' has no source group"), std::string::npos);
  EXPECT_NE(
      toml_error(
          both + group +
          "\n[kernel.c]\nbackend = \"cuda\"\nsrc = [\"a.cu\"]\ncuda-capabilities = [\"sm_90\"]\n")
          .find("invalid CUDA arch 'sm_90'"),
      std::string::npos);
  EXPECT_NE(
      toml_error("[general]\nname = \"k1\"\nversion = 1\nlicense = \"x\"\nbackends = [\"metal\"]\n")
          .find("cannot be built here"),
      std::string::npos);
}

TEST(Build, ReproducibleAndSkipsUnchangedSources) {
  TempDir tmp;
  copy_tree(kScale, tmp / "scale");
  BuildOptions o;
  o.out = tmp / "out1";
  o.jobs = 1;
  BuildResult a = build_kernel(tmp / "scale", o);
  ASSERT_EQ(a.variants.size(), 1u);
  EXPECT_FALSE(a.variants[0].up_to_date);
  const auto& dir = a.variants[0].dir;
  EXPECT_EQ(dir.filename(), khub::testing::host_cpu_variant());
  loader::VariantMetadata md = loader::read_metadata(dir);
  EXPECT_EQ(md.backend, loader::BackendKind::kCpu);
  EXPECT_EQ(md.library, "libscale.so");
  EXPECT_EQ(md.id, a.variants[0].id);
  EXPECT_EQ(md.id.rfind("_scale_cpu_", 0), 0u);
  EXPECT_EQ(md.manifest["functions"].size(), 2u);
  EXPECT_EQ(
      loader::elf_exported_symbols(dir / "libscale.so"),
      (std::set<std::string>{"khub_kernel_manifest", "khub_scale_forward", "khub_scale_backward"}));

  // Unchanged sources: nothing is rebuilt.
  auto mtime = std::filesystem::last_write_time(dir / "libscale.so");
  BuildResult b = build_kernel(tmp / "scale", o);
  EXPECT_TRUE(b.variants[0].up_to_date);
  EXPECT_EQ(std::filesystem::last_write_time(dir / "libscale.so"), mtime);

  // Same sources elsewhere (another folder, forced): identical digests.
  copy_tree(kScale, tmp / "elsewhere/scale");
  BuildOptions o2 = o;
  o2.out = tmp / "out2";
  o2.force = true;
  BuildResult c = build_kernel(tmp / "elsewhere/scale", o2);
  EXPECT_EQ(loader::read_metadata(c.variants[0].dir).digest->files, md.digest->files);
  EXPECT_EQ(read_file(c.variants[0].dir / "libscale.so"), read_file(dir / "libscale.so"));

  // A changed header rebuilds, and a define changes the id.
  write_file(tmp / "scale/cpu/scale_math.h",
             read_file(tmp / "scale/cpu/scale_math.h") + "\n// edit\n");
  BuildResult d = build_kernel(tmp / "scale", o);
  EXPECT_FALSE(d.variants[0].up_to_date);
  EXPECT_NE(d.variants[0].id, md.id);
  o.defines = {"SCALE_OFFSET=1"};
  BuildResult e = build_kernel(tmp / "scale", o);
  EXPECT_NE(e.variants[0].id, d.variants[0].id);
}

TEST(Build, CompileErrorsNameTheCommand) {
  TempDir tmp;
  copy_tree(kScale, tmp / "scale");
  write_file(tmp / "scale/cpu/scale.cc", "this is not C++\n");
  BuildOptions o;
  o.out = tmp / "out";
  try {
    build_kernel(tmp / "scale", o);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kIo);
    EXPECT_NE(std::string(e.what()).find("compile cpu/scale.cc failed"), std::string::npos)
        << e.what();
  }
  // No half-built variant is left.
  EXPECT_FALSE(std::filesystem::exists(tmp / "out" / khub::testing::host_cpu_variant()));
}

TEST(Build, MissingSourceAndUnknownBackend) {
  TempDir tmp;
  copy_tree(kScale, tmp / "scale");
  std::filesystem::remove(tmp / "scale/cpu/scale.cc");
  BuildOptions o;
  o.out = tmp / "out";
  EXPECT_THROW(build_kernel(tmp / "scale", o), Error);
  o.backends = {"cuda"};
  EXPECT_THROW(build_kernel(kScale, o), Error);
}

TEST(Build, CudaWheneverNvccIsPresent) {
  if (find_program("nvcc").empty() && !std::filesystem::exists("/usr/local/cuda/bin/nvcc")) {
    GTEST_SKIP() << "nvcc not installed";
  }
  TempDir tmp;
  BuildOptions o;
  o.out = tmp / "out";
  BuildResult r = build_kernel(kScaleCuda, o);
  ASSERT_EQ(r.variants.size(), 1u);
  const BuiltVariant& v = r.variants[0];
  EXPECT_EQ(v.variant.rfind("khub1-cu", 0), 0u) << v.variant;
  loader::VariantMetadata md = loader::read_metadata(v.dir);
  EXPECT_EQ(md.backend, loader::BackendKind::kCuda);
  EXPECT_EQ(md.archs, (std::vector<std::string>{"8.0", "9.0a", "9.0+PTX"}));
  EXPECT_EQ(loader::elf_exported_symbols(v.dir / "libscale_cuda.so"),
            (std::set<std::string>{"khub_kernel_manifest", "khub_scale_cuda_forward"}));
  // Selection reads the archs: 8.6 runs the 8.0 SASS, 10.0 JITs the 9.0 PTX, 7.5 is refused.
  hub::KernelOptions opts;
  loader::SystemInfo gpu;
  gpu.device = DeviceType::kCUDA;
  auto runtime = loader::parse_variant_name(v.variant)->backend;
  gpu.runtime_version = runtime.version_str();
  for (auto [cap, fits] : {std::pair{"8.6", true}, std::pair{"9.0", true}, std::pair{"10.0", true},
                           std::pair{"7.5", false}}) {
    gpu.arch = cap;
    opts.system = gpu;
    EXPECT_EQ(hub::select_local_variant(tmp / "out", opts).chosen() != nullptr, fits) << cap;
  }
  // The library loads without a GPU (the CUDA runtime is linked statically).
  loader::KernelIdentity id;
  id.dir = v.dir;
  id.revision = "local";
  id.variant = v.variant;
  auto k = loader::load_kernel_variant(id);
  EXPECT_TRUE(k->layer("Scale").info->can_capture());
}

}  // namespace
}  // namespace khub::builder
