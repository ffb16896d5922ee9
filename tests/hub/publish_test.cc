#include "hub/store/publish.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdio>

#include "core/error.h"
#include "hub/source/local_hub.h"
#include "testutil/fixtures.h"

namespace khub::hub {
namespace {

using khub::testing::copy_tree;
using khub::testing::host_cpu_variant;
using khub::testing::rewrite_metadata;
using khub::testing::TempDir;
using khub::testing::write_file;

struct Publish : ::testing::Test {
  TempDir tmp;
  std::filesystem::path hub = tmp / "hub";
  std::filesystem::path v1 = tmp / "built-v1";
  std::filesystem::path v2 = tmp / "built-v2";
  void SetUp() override {
    copy_tree(khub::testing::scale_v1(), v1 / host_cpu_variant());
    copy_tree(khub::testing::scale_v2(), v2 / host_cpu_variant());
  }
  RefList refs() { return LocalHubSource(hub).list_refs("khub-test/scale"); }
};

// The documented pipeline, run with coreutils, must give the same id as revision_id().
std::string shell_revision_id(const std::filesystem::path& dir) {
  std::string cmd =
      "cd '" + dir.string() +
      "' && find . -type f -printf '%P\\n' | LC_ALL=C sort | xargs -d '\\n' sha256sum "
      "| sha256sum | cut -c1-40";
  FILE* p = popen(cmd.c_str(), "r");
  char buf[64] = {0};
  size_t n = fread(buf, 1, 40, p);
  pclose(p);
  return std::string(buf, n);
}

TEST_F(Publish, WritesTheLayoutAndIsContentAddressed) {
  PublishResult r = publish_kernel(v1, hub, {.tag = "v1.0.0"});
  EXPECT_EQ(r.repo_id, "khub-test/scale");  // from metadata repo-id
  EXPECT_TRUE(is_revision_id(r.revision));
  EXPECT_TRUE(r.created);
  EXPECT_EQ(r.refs_updated, (std::vector<std::string>{"heads/v1", "tags/v1.0.0", "heads/main"}));
  std::filesystem::path rev = hub / "khub-test/scale/revisions" / r.revision;
  EXPECT_TRUE(std::filesystem::exists(rev / "build" / host_cpu_variant() / "libscale.so"));
  EXPECT_TRUE(std::filesystem::exists(rev / "build" / host_cpu_variant() / "metadata.json"));
  EXPECT_EQ(khub::testing::read_file(hub / "khub-test/scale/refs/heads/v1"), r.revision + "\n");
  EXPECT_EQ(shell_revision_id(rev), r.revision);
  struct stat st;
  ASSERT_EQ(stat((rev / "build" / host_cpu_variant() / "libscale.so").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0222, 0u);  // published files are read-only

  // Publishing the same tree again gives the same id and moves nothing.
  PublishResult again = publish_kernel(v1, hub, {.tag = "v1.0.0"});
  EXPECT_EQ(again.revision, r.revision);
  EXPECT_TRUE(again.unchanged);
  PublishResult no_tag = publish_kernel(v1, hub);
  EXPECT_EQ(no_tag.revision, r.revision);
  EXPECT_FALSE(no_tag.created);
  EXPECT_TRUE(no_tag.refs_updated.empty());
}

TEST_F(Publish, SecondVersionMovesBranchAndMain) {
  PublishResult a = publish_kernel(v1, hub, {.tag = "v1.0.0"});
  PublishResult b = publish_kernel(v2, hub, {.tag = "v1.1.0"});
  EXPECT_NE(a.revision, b.revision);
  RefList r = refs();
  EXPECT_EQ(r.tags.at("v1.0.0"), a.revision);
  EXPECT_EQ(r.tags.at("v1.1.0"), b.revision);
  EXPECT_EQ(r.branches.at("v1"), b.revision);
  EXPECT_EQ(r.branches.at("main"), b.revision);
}

TEST_F(Publish, TagsAreImmutable) {
  publish_kernel(v1, hub, {.tag = "v1.0.0"});
  RefList before = refs();
  try {
    publish_kernel(v2, hub, {.tag = "v1.0.0"});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tag v1.0.0 already points to revision"),
              std::string::npos);
  }
  RefList after = refs();
  EXPECT_EQ(before.branches, after.branches);
  EXPECT_EQ(before.tags, after.tags);
  // Nothing half-written is left behind.
  for (const auto& e : std::filesystem::directory_iterator(hub / "khub-test/scale/revisions")) {
    EXPECT_EQ(e.path().filename().string().rfind(".tmp-", 0), std::string::npos);
  }
}

TEST_F(Publish, VersionConsistencyChecks) {
  EXPECT_THROW(publish_kernel(v1, hub, {.tag = "v2.0.0"}), Error);
  EXPECT_THROW(publish_kernel(v1, hub, {.branch = "v2"}), Error);
  EXPECT_THROW(publish_kernel(v1, hub, {.repo_id = "no-slash"}), Error);
  EXPECT_THROW(publish_kernel(v1, hub, {.tag = "../x"}), Error);
  EXPECT_FALSE(std::filesystem::exists(hub / "khub-test/scale/refs/heads/v1"));
}

TEST_F(Publish, VariantsMergeOnABranchAndNewBranchesStartEmpty) {
  PublishResult a = publish_kernel(v1, hub);
  // A second build publishing only another variant keeps the first one on the branch.
  std::filesystem::path other = tmp / "built-other";
  copy_tree(khub::testing::scale_v1(), other / "khub1-cpu-aarch64-linux");
  PublishResult b = publish_kernel(other, hub);
  LocalHubSource src(hub);
  EXPECT_EQ(src.list_variants("khub-test/scale", b.revision),
            (std::vector<std::string>{"khub1-cpu-aarch64-linux", host_cpu_variant()}));
  // A new branch starts from nothing.
  PublishResult c = publish_kernel(other, hub, {.branch = "dev"});
  EXPECT_EQ(src.list_variants("khub-test/scale", c.revision),
            (std::vector<std::string>{"khub1-cpu-aarch64-linux"}));
  EXPECT_EQ(refs().branches.at("main"), b.revision);  // dev is not a version branch
  (void)a;
}

TEST_F(Publish, OlderMajorDoesNotMoveMain) {
  PublishResult a = publish_kernel(v1, hub);
  loader::VariantMetadata md = loader::read_metadata(v2 / host_cpu_variant());
  md.version = 0;
  rewrite_metadata(v2 / host_cpu_variant(), md);
  PublishResult b = publish_kernel(v2, hub);
  EXPECT_EQ(refs().branches.at("v0"), b.revision);
  EXPECT_EQ(refs().branches.at("main"), a.revision);
}

TEST_F(Publish, RefusesBadBuilds) {
  // A tampered library (the digest no longer matches).
  std::string lib = khub::testing::read_file(v1 / host_cpu_variant() / "libscale.so");
  lib[100] ^= 1;
  write_file(v1 / host_cpu_variant() / "libscale.so", lib);
  EXPECT_THROW(publish_kernel(v1, hub), Error);
  // A symlink inside the build.
  std::filesystem::remove(v2 / host_cpu_variant() / "libscale.so");
  std::filesystem::create_symlink("/etc/hostname", v2 / host_cpu_variant() / "libscale.so");
  EXPECT_THROW(publish_kernel(v2, hub), Error);
  // Nothing to publish.
  std::filesystem::create_directories(tmp / "empty");
  EXPECT_THROW(publish_kernel(tmp / "empty", hub), Error);
  EXPECT_FALSE(std::filesystem::exists(hub / "khub-test/scale/refs/heads/v1"));
}

TEST_F(Publish, InterruptedPublishLeavesNothingVisible) {
  PublishResult a = publish_kernel(v1, hub);
  // What a crash mid-publish leaves: a temporary tree and a temporary ref file.
  write_file(hub / "khub-test/scale/revisions/.tmp-123-456/build/x/half.so", "half");
  write_file(hub / "khub-test/scale/refs/heads/.tmp-v1-123-456", "garbage");
  LocalHubSource src(hub);
  RefList r = src.list_refs("khub-test/scale");
  EXPECT_EQ(r.branches.size(), 2u);  // v1, main
  EXPECT_FALSE(src.has_revision("khub-test/scale", ".tmp-123-456"));
  publish_kernel(v2, hub);
  EXPECT_FALSE(std::filesystem::exists(hub / "khub-test/scale/revisions/.tmp-123-456"));
  (void)a;
}

TEST(RevisionId, OrderIndependentAndContentSensitive) {
  std::string a = revision_id({{"b", "11"}, {"a", "22"}});
  EXPECT_EQ(a, revision_id({{"a", "22"}, {"b", "11"}}));
  EXPECT_NE(a, revision_id({{"a", "22"}, {"b", "12"}}));
  EXPECT_EQ(a.size(), 40u);
}

// A kernel project's README.md and bench/results go with its variants (for khub serve's pages):
// from the project itself, or from --project for a separate build folder; a later publish with
// new results replaces the folder; bad results files and symlinks are refused, hub unchanged.
TEST_F(Publish, ShipsTheProjectsReadmeAndBenchmarkResults) {
  namespace fs = std::filesystem;
  fs::path project = tmp / "project";
  copy_tree(khub::testing::scale_v1(), project / "build" / host_cpu_variant());
  write_file(project / "build.toml", "[general]\nname = \"scale\"\n");
  write_file(project / "README.md", "# scale\n");
  write_file(project / "bench/results/2026-01-01-cpu.json", "{\"results\": []}\n");
  write_file(project / "bench/results/notes.txt", "not a results file\n");
  PublishResult r = publish_kernel(project, hub);
  EXPECT_EQ(r.docs, (std::vector<std::string>{"README.md", "bench/results/2026-01-01-cpu.json"}));
  fs::path rev = hub / "khub-test/scale/revisions" / r.revision;
  EXPECT_EQ(khub::testing::read_file(rev / "README.md"), "# scale\n");
  EXPECT_TRUE(fs::exists(rev / "bench/results/2026-01-01-cpu.json"));
  EXPECT_FALSE(fs::exists(rev / "bench/results/notes.txt"));
  EXPECT_FALSE(fs::exists(rev / "build.toml"));
  EXPECT_EQ(shell_revision_id(rev), r.revision);  // the docs are part of the content address
  // A build folder published with --project; new results replace the old ones, not add to them.
  fs::remove(project / "bench/results/2026-01-01-cpu.json");
  write_file(project / "bench/results/2026-02-01-cpu.json", "{\"results\": [1]}\n");
  PublishResult r2 = publish_kernel(v2, hub, {.docs_from = project});
  fs::path rev2 = hub / "khub-test/scale/revisions" / r2.revision;
  EXPECT_TRUE(fs::exists(rev2 / "bench/results/2026-02-01-cpu.json"));
  EXPECT_FALSE(fs::exists(rev2 / "bench/results/2026-01-01-cpu.json"));
  EXPECT_TRUE(fs::exists(rev2 / "README.md"));
  // Without docs, a publish keeps the branch's README and results.
  copy_tree(khub::testing::scale_v1(), tmp / "built-v1b" / host_cpu_variant());
  write_file(tmp / "built-v1b" / host_cpu_variant() / "notes.txt", "v1b\n");
  rewrite_metadata(tmp / "built-v1b" / host_cpu_variant(),
                   loader::read_metadata(tmp / "built-v1b" / host_cpu_variant()));
  PublishResult r3 = publish_kernel(tmp / "built-v1b", hub);
  EXPECT_TRUE(r3.docs.empty());
  EXPECT_TRUE(fs::exists(hub / "khub-test/scale/revisions" / r3.revision /
                         "bench/results/2026-02-01-cpu.json"));
  // Refused: a results file that is not a JSON object, a symlinked README.
  auto refs_before = refs();
  write_file(project / "bench/results/bad.json", "[1, 2");
  try {
    publish_kernel(v1, hub, {.docs_from = project});
    ADD_FAILURE() << "a broken results file was published";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("bad.json"), std::string::npos) << e.what();
  }
  fs::remove(project / "bench/results/bad.json");
  fs::remove(project / "README.md");
  fs::create_symlink("/etc/passwd", project / "README.md");
  EXPECT_THROW(publish_kernel(v1, hub, {.docs_from = project}), Error);
  EXPECT_EQ(refs().branches, refs_before.branches);
  EXPECT_THROW(publish_kernel(v1, hub, {.docs_from = tmp / "no-such-project"}), Error);
}

}  // namespace
}  // namespace khub::hub
