// Unit tests of the hub client's building blocks against references nobody here wrote: published
// SHA test vectors, git's own object ids (`git hash-object`, `git write-tree`), and lock hashes
// computed with Python's hashlib the way HF's `kernels lock` does.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

#include "hub/http/hf_api.h"
#include "hub/http/http_client.h"
#include "hub/http/lockfile.h"
#include "hub/http/snapshot.h"
#include "hub/ref/repo_names.h"
#include "hub/store/content_hash.h"
#include "hub_test_util.h"
#include "serve/faults.h"

namespace khub::test {
namespace {

TEST(ContentHash, KnownVectors) {
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  Hasher h(HashAlgo::kSha512);
  h.update("abc");
  EXPECT_EQ(
      h.finish_hex(),
      "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c2"
      "3a3feebbd454d4423643ce80e2a9ac94fa54ca49f");
  // `echo hello | git hash-object --stdin`
  EXPECT_EQ(git_blob_id("hello\n"), "ce013625030ba8dba906f756967f9e9ca394464a");
  EXPECT_EQ(git_blob_id(""), "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
  Hasher raw(HashAlgo::kSha256);
  raw.update("abc");
  std::string b64 = base64_encode(raw.finish_raw());
  EXPECT_EQ(b64, "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=");
  EXPECT_EQ(to_hex(base64_decode(b64)), sha256_hex("abc"));
}

TEST(ContentHash, ParseDigestForms) {
  std::string hex = sha256_hex("abc");
  for (std::string form : {hex, "sha256-" + hex, "sha256:" + hex,
                           std::string("ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=")}) {
    Digest d = parse_digest(form);
    EXPECT_EQ(d.algo, HashAlgo::kSha256) << form;
    EXPECT_EQ(d.hex(), hex) << form;
  }
  EXPECT_THROW(parse_digest("sha256-abc"), Error);
  EXPECT_THROW(parse_digest("not a digest!"), Error);
  EXPECT_THROW(parse_digest(hex.substr(2)), Error);
}

TEST(ContentHash, GitTreeIdMatchesGit) {
  if (std::system("git --version > /dev/null 2>&1") != 0) GTEST_SKIP() << "git not installed";
  TempDir t;
  fs::path d = t.path() / "tree";
  fs::create_directories(d / "build" / "v1" / "sub");
  std::ofstream(d / "README.md") << "readme\n";
  std::ofstream(d / "build" / "v1" / "lib.so") << random_bytes(5000, 1);
  std::ofstream(d / "build" / "v1" / "sub" / "a.py") << "x = 1\n";
  std::ofstream(d / "build" / "v1-a") << "sorts between v1 and v1/ in git's order\n";
  fs::permissions(d / "build" / "v1" / "lib.so", fs::perms(0755));
  std::string cmd = "cd '" + d.string() +
                    "' && git init -q . && git add -A && git write-tree > ../id && rm -rf .git";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  std::string want = read_file(t.path() / "id");
  want.erase(want.find_last_not_of("\n") + 1);
  EXPECT_EQ(git_tree_id(d), want);
}

TEST(RepoNames, RejectsHostileNames) {
  for (std::string bad :
       std::vector<std::string>{"", "/etc/passwd", "../x", "a/../b", "a//b", "a/./b", "a\\b",
                                std::string("a\0b", 3), "a\nb", "a/"}) {
    EXPECT_FALSE(is_safe_repo_path(bad)) << bad;
    EXPECT_THROW(check_repo_path(bad, "test"), Error);
  }
  for (std::string good :
       {"a", "build/khub1-cpu-x86_64-linux/lib.so", "a..b/c", ".gitattributes"}) {
    EXPECT_TRUE(is_safe_repo_path(good)) << good;
  }
  EXPECT_TRUE(is_valid_repo_id("khub-community/rmsnorm"));
  for (std::string bad : {"rmsnorm", "a/b/c", "../b", "a/..", "a/b c", "-a/b", ".a/b"}) {
    EXPECT_FALSE(is_valid_repo_id(bad)) << bad;
  }
  EXPECT_TRUE(is_safe_ref_name("refs/pr/1"));
  EXPECT_FALSE(is_safe_ref_name("v1.lock"));
  EXPECT_FALSE(is_safe_ref_name("a..b"));
  EXPECT_TRUE(is_commit_hash(std::string(40, 'a')));
  EXPECT_FALSE(is_commit_hash(std::string(40, 'A')));
  std::string dec;
  EXPECT_TRUE(url_decode(url_encode_segment("refs/pr/1"), dec));
  EXPECT_EQ(dec, "refs/pr/1");
  EXPECT_EQ(url_encode_segment("refs/pr/1"), "refs%2Fpr%2F1");
  EXPECT_EQ(url_encode_path("a b/c"), "a%20b/c");
  EXPECT_FALSE(url_decode("%zz", dec));
}

TEST(HttpHelpers, HeadersAndUrls) {
  EXPECT_EQ(parse_retry_after("7"), 7);
  EXPECT_LT(parse_retry_after("soon"), 0);
  EXPECT_GE(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), 0);  // a past date: no wait
  EXPECT_EQ(parse_link_next("<https://h/api/x?cursor=2>; rel=\"next\""),
            "https://h/api/x?cursor=2");
  EXPECT_EQ(parse_link_next("<https://h/a>; rel=\"prev\", <https://h/b>; rel=\"next\""),
            "https://h/b");
  EXPECT_EQ(parse_link_next(""), "");
  EXPECT_EQ(resolve_url("http://h:1/a/b?q", "/c"), "http://h:1/c");
  EXPECT_EQ(resolve_url("http://h:1/a/b", "c"), "http://h:1/a/c");
  EXPECT_EQ(resolve_url("http://h:1/a/b", "https://cdn/x"), "https://cdn/x");
  EXPECT_EQ(url_origin("HTTP://Host:8/x"), "http://host:8");
  EXPECT_EQ(normalize_etag("W/\"abc\""), "abc");
}

TEST(HfApiShapes, ParsesAndRejects) {
  std::string tree =
      R"([{"type":"directory","oid":"1111111111111111111111111111111111111111","size":0,"path":"build"},
          {"type":"file","oid":"2222222222222222222222222222222222222222","size":5,"path":"build/a.json"},
          {"type":"file","oid":"3333333333333333333333333333333333333333","size":99,"path":"build/l.so",
           "lfs":{"oid":"c55be615e9606837795b8b6b84b41ab784c8d65748736d496646b93c5258ae8d","size":99,"pointerSize":130}}])";
  auto entries = parse_tree_json(tree, "test");
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_TRUE(entries[0].is_dir);
  EXPECT_EQ(entries[1].etag(), "2222222222222222222222222222222222222222");
  EXPECT_EQ(entries[2].etag(), "c55be615e9606837795b8b6b84b41ab784c8d65748736d496646b93c5258ae8d");
  for (
      std::string bad :
      {R"([{"type":"file","oid":"2222222222222222222222222222222222222222","size":5,"path":"../x"}])",
       R"([{"type":"file","oid":"2222222222222222222222222222222222222222","size":5,"path":"/x"}])",
       R"([{"type":"file","oid":"2222222222222222222222222222222222222222","size":5,"path":"a\u0000b"}])",
       R"([{"type":"file","oid":"../../x","size":5,"path":"a"}])",
       R"([{"type":"file","oid":"2222222222222222222222222222222222222222","size":-5,"path":"a"}])",
       R"({"not":"a list"})", "not json"}) {
    EXPECT_THROW(parse_tree_json(bad, "test"), Error) << bad;
  }
  auto refs = parse_refs_json(
      R"({"branches":[{"name":"v1","ref":"refs/heads/v1","targetCommit":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}],"tags":[],"converts":[]})",
      "test");
  EXPECT_EQ(refs.find("v1").value(), std::string(40, 'a'));
  EXPECT_FALSE(refs.find("v2"));
  EXPECT_THROW(parse_refs_json(R"({"branches":[{"name":"../x","targetCommit":"aaaa"}]})", "t"),
               Error);
}

TEST(Lockfile, GitLfsConcatMatchesPython) {
  // Expected value computed with hashlib exactly as HF's kernels `get_kernel_locks` does.
  std::vector<TreeEntry> tree(4);
  tree[0].path = "build/v/lib.so";
  tree[0].lfs_sha256 = "c55be615e9606837795b8b6b84b41ab784c8d65748736d496646b93c5258ae8d";
  tree[0].oid = "c55f84c50dc8783a3d4be2c34c7cb2149d2f71cc";
  tree[1].path = "build/v/metadata.json";
  tree[1].oid = "6cf2b17aa8366002443dfa35f2d230562b27a650";
  tree[2].path = "build/v/sub/a.py";
  tree[2].oid = "89931ee4751c9760ea2cbc91fb7de861af209012";
  tree[3].path = "build/v/__pycache__/a.cpython-312.pyc";  // never part of the hash
  tree[3].oid = "1111111111111111111111111111111111111111";
  EXPECT_EQ(variant_lock_hash(tree, "v"),
            "sha256-7e5325c8fe6c37a3bc54cef3e57560c5e1ed517ccacabdd4c376a27480c2dfa9");
}

TEST(Lockfile, RoundTripAndKernelList) {
  TempDir t;
  std::ofstream(t.path() / "kernels.toml") << R"(
[dependencies]
"khub-community/rmsnorm" = 1
"khub-community/activation" = "v1.2.0"
"khub-community/rotary" = { version = 2, variants = ["khub1-cpu-x86_64-linux"] }
"org/model" = { revision = "main", repo-type = "model" }
)";
  auto deps = read_kernel_list(t.path() / "kernels.toml");
  ASSERT_EQ(deps.size(), 4u);
  EXPECT_EQ(deps[0].repo.id, "khub-community/activation");
  EXPECT_EQ(deps[0].spec, "v1.2.0");
  EXPECT_EQ(deps[1].spec, "1");
  EXPECT_EQ(deps[2].variants, std::vector<std::string>{"khub1-cpu-x86_64-linux"});
  EXPECT_EQ(deps[3].repo.type, RepoType::kModel);

  std::ofstream(t.path() / "bad.toml") << "[dependencies]\n\"khub/x\" = { colour = 1 }\n";
  EXPECT_THROW(read_kernel_list(t.path() / "bad.toml"), Error);
  std::ofstream(t.path() / "pyproject.toml") << "[tool.kernels.dependencies]\n\"a/b\" = 3\n";
  EXPECT_EQ(read_kernel_list(t.path() / "pyproject.toml")[0].spec, "3");

  KernelLock l;
  l.repo = RepoRef::parse("khub-community/rmsnorm");
  l.sha = std::string(40, 'b');
  l.ref = "v1";
  l.requested = "1";
  l.variants["khub1-cpu-x86_64-linux"] = {"sha256-" + std::string(64, 'c'), "git_lfs_concat",
                                          "sha256-" + std::string(64, 'd'), 3, 1234};
  write_lockfile(t.path() / "kernels.lock", {l});
  // HF's reader needs exactly these keys, and VariantLock(**lock) accepts nothing else.
  auto j = nlohmann::json::parse(read_file(t.path() / "kernels.lock"));
  ASSERT_TRUE(j.is_array());
  EXPECT_EQ(j[0]["repo_id"], "khub-community/rmsnorm");
  EXPECT_EQ(j[0]["sha"], std::string(40, 'b'));
  auto v = j[0]["variants"]["khub1-cpu-x86_64-linux"];
  EXPECT_EQ(v.size(), 2u);
  EXPECT_EQ(v["hash_type"], "git_lfs_concat");
  auto back = read_lockfile(t.path() / "kernels.lock");
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0].variants["khub1-cpu-x86_64-linux"].metadata_digest,
            "sha256-" + std::string(64, 'd'));
  EXPECT_EQ(back[0].ref, "v1");
}

TEST(Lockfile, DefaultRevisionResolver) {
  RefList refs;
  refs.branches = {{"main", "refs/heads/main", std::string(40, '1')},
                   {"v1", "refs/heads/v1", std::string(40, '2')},
                   {"v2", "refs/heads/v2", std::string(40, '3')}};
  refs.tags = {{"v1.0.0", "refs/tags/v1.0.0", std::string(40, '4')}};
  EXPECT_EQ(default_revision_resolver(refs, ""), "v2");
  EXPECT_EQ(default_revision_resolver(refs, "1"), "v1");
  EXPECT_EQ(default_revision_resolver(refs, "v1.0.0"), "v1.0.0");
  EXPECT_EQ(default_revision_resolver(refs, std::string(40, 'f')), std::string(40, 'f'));
  try {
    default_revision_resolver(refs, "3");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("v1, v2"), std::string::npos) << e.what();
  }
  EXPECT_THROW(default_revision_resolver(refs, ">=1.0,<2"), Error);
  EXPECT_THROW(default_revision_resolver(refs, "nope"), Error);
}

TEST(Snapshot, PathSelection) {
  EXPECT_TRUE(path_selected("build/v/a.so", {}));
  EXPECT_TRUE(path_selected("build/v/a.so", {"build/v"}));
  EXPECT_TRUE(path_selected("build/v/a.so", {"build/v/"}));
  EXPECT_FALSE(path_selected("build/v2/a.so", {"build/v"}));
  EXPECT_FALSE(path_selected("build/v/__pycache__/a.pyc", {"build/v"}));
  EXPECT_FALSE(path_selected("build/v/a.pyc", {}));
}

TEST(FaultSpec, Parsing) {
  serve::FaultPlan plan("429=2@file#1,drop=100~lib.so#1,hostile=dotdot,slow=5");
  auto d1 = plan.decide("file", "/kernels/o/r/resolve/x/lib.so", false);
  ASSERT_TRUE(d1.status.has_value());
  EXPECT_EQ(d1.status->status, 429);
  EXPECT_EQ(d1.status->retry_after, 2);
  EXPECT_FALSE(d1.body.has_value());  // body faults wait for the bytes
  EXPECT_EQ(d1.delay_ms, 5);
  auto d2 = plan.decide("file", "/kernels/o/r/resolve/x/lib.so", false);
  EXPECT_FALSE(d2.status.has_value());                                          // #1: only once
  EXPECT_FALSE(plan.decide("file", "/x/lib.so", true, true).body.has_value());  // HEAD: no body
  EXPECT_FALSE(plan.decide("file", "/x/a.json", false, true).body.has_value());
  EXPECT_TRUE(plan.decide("file", "/x/lib.so", false, true).body.has_value());
  EXPECT_FALSE(plan.decide("file", "/x/lib.so", false, true).body.has_value());  // #1 used
  EXPECT_EQ(plan.decide("tree", "/api/x", false).hostile, std::vector<std::string>{"dotdot"});
  EXPECT_THROW(serve::FaultPlan("explode"), Error);
  EXPECT_THROW(serve::FaultPlan("drop"), Error);
  EXPECT_THROW(serve::FaultPlan("429@nowhere"), Error);
}

}  // namespace
}  // namespace khub::test
