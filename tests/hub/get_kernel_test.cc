// get_kernel / get_local_kernel / has_kernel over real local hubs, LOCAL_KERNELS and
// KHUB_HUB_PATH.
#include "hub/get_kernel.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include "core/error.h"
#include "hub/source/local_hub.h"
#include "hub/source/local_kernels.h"
#include "hub/store/publish.h"
#include "loader/digest.h"
#include "loader/metadata.h"
#include "loader/registry.h"
#include "testutil/fixtures.h"
#include "testutil/scoped_env.h"

namespace khub::hub {
namespace {

using khub::testing::copy_tree;
using khub::testing::host_cpu_variant;
using khub::testing::ScopedEnv;
using khub::testing::TempDir;

// One hub with scale v1.0.0 and v1.1.0 on branch v1, built once for all tests here.
struct Hub : ::testing::Test {
  static inline TempDir* tmp;
  static inline std::string rev1, rev2;
  static void SetUpTestSuite() {
    tmp = new TempDir;
    copy_tree(khub::testing::scale_v1(), *tmp / "b1" / host_cpu_variant());
    copy_tree(khub::testing::scale_v2(), *tmp / "b2" / host_cpu_variant());
    rev1 = publish_kernel(*tmp / "b1", *tmp / "hub", {.tag = "v1.0.0"}).revision;
    rev2 = publish_kernel(*tmp / "b2", *tmp / "hub", {.tag = "v1.1.0"}).revision;
  }
  static void TearDownTestSuite() { delete tmp; }
  static std::string hub_dir() { return (*tmp / "hub").string(); }

  ScopedEnv hub_path{"KHUB_HUB_PATH", hub_dir().c_str()};
  ScopedEnv local{"LOCAL_KERNELS", nullptr};

  static std::vector<float> run(const loader::Kernel& k, float x) {
    Tensor in = Tensor::from_vector<float>({x}, {1}, DType::kF32);
    Tensor out = Tensor::empty({1}, DType::kF32);
    k.function("scale_forward")({.tensors = {{"x", in}, {"out", out}}, .attrs = {{"alpha", 2.0}}});
    return out.to_float_vector();
  }
};

TEST_F(Hub, TwoVersionsFromOneHubSideBySide) {
  auto a = get_kernel("khub-test/scale@v1.0.0");
  auto b = get_kernel("khub-test/scale@v1.1.0:Scale");
  EXPECT_EQ(a->identity().revision, rev1);
  EXPECT_EQ(b->identity().revision, rev2);
  EXPECT_EQ(run(*a, 3), std::vector<float>{6});
  EXPECT_EQ(run(*b, 3), std::vector<float>{7});
  // The default (highest vN branch) and a constraint resolve to the same memoized kernels.
  EXPECT_EQ(get_kernel("khub-test/scale").get(), b.get());
  EXPECT_EQ(get_kernel("khub-test/scale@<1.1").get(), a.get());
  EXPECT_EQ(get_kernel("khub-test/scale@" + rev1).get(), a.get());
}

TEST_F(Hub, LookupReportsResolutionAndTrace) {
  KernelLookup l = lookup_kernel("khub-test/scale@^1.0", {}, false);
  EXPECT_EQ(l.resolution.revision, rev2);
  EXPECT_EQ(l.resolution.ref, "v1.1.0");
  EXPECT_NE(l.source.find("local hub"), std::string::npos);
  ASSERT_TRUE(l.selection.chosen());
  auto j = l.to_json();
  EXPECT_EQ(j["revision"], rev2);
  EXPECT_EQ(j["variants"][0]["name"], host_cpu_variant());
  EXPECT_EQ(j["selected"], host_cpu_variant());
}

TEST_F(Hub, LayerOrFunctionMustExist) {
  try {
    get_kernel("khub-test/scale@v1:RMSNorm");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kNotFound);
    EXPECT_NE(
        std::string(e.what()).find("no layer or function 'RMSNorm' (layers: Scale; functions: "
                                   "scale_forward, scale_backward)"),
        std::string::npos)
        << e.what();
  }
  EXPECT_NO_THROW(get_kernel("khub-test/scale@v1:scale_backward"));
}

TEST_F(Hub, NoFittingVariantShowsTheTrace) {
  KernelOptions o;
  loader::SystemInfo gpu;
  gpu.device = DeviceType::kCUDA;
  gpu.runtime_version = "13.0";
  gpu.arch = "9.0";
  o.system = gpu;
  try {
    get_kernel("khub-test/scale@v1", o);
    FAIL();
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_EQ(e.kind(), ErrorKind::kNotFound);
    EXPECT_NE(m.find("no variant of khub-test/scale@" + rev2), std::string::npos) << m;
    EXPECT_NE(m.find(host_cpu_variant() +
                     ": rejected [backend]: backend cpu, selecting for a cuda device"),
              std::string::npos)
        << m;
  }
  EXPECT_FALSE(has_kernel("khub-test/scale@v1", o));
}

TEST_F(Hub, HasKernel) {
  EXPECT_TRUE(has_kernel("khub-test/scale"));
  EXPECT_TRUE(has_kernel("khub-test/scale@v1.1.0"));
  EXPECT_FALSE(has_kernel("khub-test/scale@v9"));
  EXPECT_FALSE(has_kernel("khub-test/missing"));
  EXPECT_THROW(has_kernel("not a ref"), Error);
}

TEST_F(Hub, ErrorsListWhatExistsPerSource) {
  try {
    get_kernel("khub-test/scale@v2");
    FAIL();
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("local hub " + hub_dir() + ": khub-test/scale: no version branch v2"),
              std::string::npos)
        << m;
    EXPECT_NE(m.find("tags: v1.1.0, v1.0.0"), std::string::npos) << m;
  }
}

TEST_F(Hub, SearchPathFirstMatchWins) {
  // A second hub holding only v1.0.0, first on the path: @v1.1.0 still resolves from the second.
  TempDir other;
  publish_kernel(*tmp / "b1", other.path(), {.tag = "v1.0.0"});
  std::string path = other.path().string() + ":" + hub_dir();
  ScopedEnv env("KHUB_HUB_PATH", path.c_str());
  EXPECT_EQ(lookup_kernel("khub-test/scale@v1.1.0", {}, false).source, "local hub " + hub_dir());
  EXPECT_EQ(lookup_kernel("khub-test/scale@v1.0.0", {}, false).source,
            "local hub " + other.path().string());
}

TEST_F(Hub, EmptyHubPathReplacesTheDefault) {
  ScopedEnv env("KHUB_HUB_PATH", "");
  EXPECT_TRUE(hub_search_path().empty());
  try {
    get_kernel("khub-test/scale");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no kernel sources"), std::string::npos) << e.what();
  }
}

TEST_F(Hub, BundledHubIsNextToTheExecutable) {
  ScopedEnv env("KHUB_HUB_PATH", nullptr);
  auto c = bundled_hub_candidates();
  ASSERT_EQ(c.size(), 2u);
  auto exe = std::filesystem::read_symlink("/proc/self/exe");
  EXPECT_EQ(c[0], (exe.parent_path().parent_path() / "hub").lexically_normal());
  EXPECT_EQ(c[1], (exe.parent_path().parent_path() / "share/khub/hub").lexically_normal());
  for (const auto& p : hub_search_path()) EXPECT_TRUE(std::filesystem::is_directory(p));
}

TEST_F(Hub, LocalKernelsWinAndIgnoreTheRevision) {
  std::string value = "khub-test/other=/nowhere:khub-test/scale=" + (*tmp / "b2").string();
  ScopedEnv env("LOCAL_KERNELS", value.c_str());
  KernelLookup l = lookup_kernel("khub-test/scale@v1.0.0", {}, false);
  EXPECT_EQ(l.source, "LOCAL_KERNELS");
  // The folder's revision is its content address: the id the same files would get as a hub
  // revision (hub/source/revision_id.h), 40 hex digits.
  EXPECT_EQ(l.resolution.revision, local_folder_revision(*tmp / "b2"));
  EXPECT_TRUE(is_revision_id(l.resolution.revision)) << l.resolution.revision;
  ASSERT_EQ(l.resolution.notes.size(), 1u);
  EXPECT_NE(l.resolution.notes[0].find("@v1.0.0 ignored"), std::string::npos);
  auto k = get_kernel("khub-test/scale@v1.0.0");
  EXPECT_EQ(k->identity().revision, l.resolution.revision);
  EXPECT_EQ(run(*k, 1), std::vector<float>{3});  // the v2 build: 2x + 1
}

TEST_F(Hub, LocalFolderRevisionIsTheContentAddress) {
  TempDir t;
  copy_tree(*tmp / "b1", t / "build");
  const std::string rev = local_folder_revision(t.path());
  // Independent of the folder's shape: project, build folder and one variant folder agree.
  EXPECT_EQ(local_folder_revision(t / "build"), rev);
  EXPECT_EQ(local_folder_revision(t / "build" / host_cpu_variant()), rev);
  // The same files published to a hub get the same id (a revision holding only build/).
  TempDir hub;
  EXPECT_EQ(publish_kernel(t.path(), hub.path(), {.repo_id = "khub-test/scale"}).revision, rev);
  // A signature does not change it; any other file does.
  khub::testing::write_file(
      t / "build" / host_cpu_variant() / "signatures" / "0123456789abcdef.sig", "x");
  EXPECT_EQ(local_folder_revision(t.path()), rev);
  khub::testing::write_file(t / "build" / host_cpu_variant() / "notes.txt", "new\n");
  EXPECT_NE(local_folder_revision(t.path()), rev);
}

// A kernels.lock entry (KernelOptions::locks) pins the revision and the variants a load may use
// and checks metadata.json against the lock; a LOCAL_KERNELS folder is no way around it.
TEST_F(Hub, LockedLoadsUseTheLockedRevisionAndVariants) {
  auto md_digest = [](const std::filesystem::path& v) {
    std::string raw;
    loader::read_metadata(v, &raw);
    return "sha256-" + loader::to_hex(loader::sha256_bytes(raw));
  };
  std::filesystem::path v1 = LocalHubSource(hub_dir()).revision_dir("khub-test/scale", rev1) /
                             "build" / host_cpu_variant();
  auto locks = std::make_shared<std::map<std::string, LockedKernel>>();
  (*locks)["khub-test/scale"] = {rev1, {{host_cpu_variant(), {md_digest(v1), {}}}}, "kernels.lock"};
  KernelOptions opts;
  opts.locks = locks;
  // The default (branch v1) is v1.1.0, and the reference asks for it: the lock wins.
  auto k = get_kernel("khub-test/scale@v1.1.0", opts);
  EXPECT_EQ(k->identity().revision, rev1);
  EXPECT_EQ(run(*k, 3), std::vector<float>{6});  // v1.0.0: 2x
  // A metadata.json other than the locked one is refused, naming both digests.
  (*locks)["khub-test/scale"].variants[host_cpu_variant()].metadata_digest =
      "sha256-" + std::string(64, '0');
  try {
    get_kernel("khub-test/scale", opts);
    ADD_FAILURE() << "a variant that differs from the lock loaded";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kVerification);
    EXPECT_NE(std::string(e.what()).find("kernels.lock locks sha256-000"), std::string::npos)
        << e.what();
  }
  // Only locked variants are candidates.
  (*locks)["khub-test/scale"].variants = {{"khub1-cpu-aarch64-linux", {}}};
  EXPECT_FALSE(lookup_kernel("khub-test/scale", opts, false).selection.chosen());
  // LOCAL_KERNELS overriding a locked repo with other files: refused, not silently unlocked.
  (*locks)["khub-test/scale"].variants = {{host_cpu_variant(), {}}};
  std::string value = "khub-test/scale=" + (*tmp / "b2").string();
  ScopedEnv env("LOCAL_KERNELS", value.c_str());
  try {
    get_kernel("khub-test/scale", opts);
    ADD_FAILURE() << "LOCAL_KERNELS bypassed the lock";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("locks revision " + rev1), std::string::npos) << e.what();
  }
}

TEST_F(Hub, MalformedLocalKernels) {
  for (const char* bad : {"khub-test/scale", "=/x", "noslash=/x", "khub-test/scale="}) {
    ScopedEnv env("LOCAL_KERNELS", bad);
    try {
      get_kernel("khub-test/scale");
      ADD_FAILURE() << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument) << bad;
      EXPECT_NE(std::string(e.what()).find("LOCAL_KERNELS entry"), std::string::npos) << e.what();
    }
  }
}

TEST_F(Hub, GetLocalKernelAcceptsEveryFolderShape) {
  auto a = get_local_kernel(*tmp / "b1");                       // a build folder
  auto b = get_local_kernel(*tmp / "b1" / host_cpu_variant());  // one variant folder
  // Loaded once: the same library (each handle carries its own call's trust verdict, which names
  // the path that call gave).
  EXPECT_EQ(&a->library(), &b->library());
  EXPECT_EQ(a->identity().revision, local_folder_revision(*tmp / "b1"));
  TempDir project;
  copy_tree(*tmp / "b2", project / "build");  // a project with build/
  EXPECT_EQ(run(*get_local_kernel(project.path()), 1), std::vector<float>{3});
  EXPECT_THROW(get_local_kernel(project / "nope"), Error);
}

TEST_F(Hub, TamperedRevisionIsRefused) {
  TempDir hub2;
  PublishResult r = publish_kernel(*tmp / "b1", hub2.path(), {.repo_id = "khub-test/tampered"});
  std::filesystem::path lib = hub2 / "khub-test/tampered/revisions" / r.revision / "build" /
                              host_cpu_variant() / "libscale.so";
  std::filesystem::permissions(lib, std::filesystem::perms::owner_write,
                               std::filesystem::perm_options::add);
  std::string bytes = khub::testing::read_file(lib);
  bytes[bytes.size() - 10] ^= 0x01;
  khub::testing::write_file(lib, bytes);
  ScopedEnv env("KHUB_HUB_PATH", hub2.path().c_str());
  try {
    get_kernel("khub-test/tampered");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kVerification);
    EXPECT_NE(std::string(e.what()).find("hash mismatch for \"libscale.so\""), std::string::npos)
        << e.what();
  }
  for (const auto& k : loader::KernelRegistry::global().loaded()) {
    EXPECT_NE(k->identity().repo, "khub-test/tampered");
  }
}

TEST_F(Hub, HostileVariantNamesNeverReachTheFilesystem) {
  LocalHubSource src(hub_dir());
  EXPECT_THROW(src.materialize_variant("khub-test/scale", rev1, ".."), Error);
  EXPECT_THROW(src.materialize_variant("khub-test/scale", rev1, "../../etc"), Error);
  EXPECT_THROW(src.read_file("khub-test/scale", rev1, "../refs/heads/v1"), Error);
  EXPECT_THROW(src.revision_dir("khub-test/scale", "../../../etc/passwd"), Error);
  EXPECT_THROW(src.repo_dir("../x"), Error);
  // A source that lists a hostile folder name: selection skips it as unparseable.
  loader::Selection s =
      loader::select_variant({"../" + host_cpu_variant()}, loader::SystemInfo::host(),
                             [](const std::string&) -> loader::VariantMetadata {
                               throw std::logic_error("must not be read");
                             });
  EXPECT_FALSE(s.chosen());
  EXPECT_EQ(s.decisions[0].reason, loader::RejectReason::kUnparseable);
}

}  // namespace
}  // namespace khub::hub
