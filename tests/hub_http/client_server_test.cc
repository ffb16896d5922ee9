// The hub client against an in-process `khub serve` on loopback: downloads land in the
// huggingface_hub cache layout byte for byte, warm and locked paths make no request, offline mode
// never touches the network, pagination, private repos, missing revisions, metadata digests,
// uploads and lockfiles.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "hub/http/lockfile.h"
#include "hub/http/remote_source.h"
#include "hub/http/snapshot.h"
#include "hub/http/upload.h"
#include "hub_test_util.h"

namespace khub::test {
namespace {

const char* kRepo = "khub-community/rmsnorm";
const char* kCpu = "khub1-cpu-x86_64-linux";
const char* kCuda = "khub1-cu130-x86_64-linux";

class HubHttp : public ::testing::Test {
 protected:
  void SetUp() override {
    hub = tmp.path() / "hub";
    cache = tmp.path() / "cache";
    files = variant_files(kCpu, 300000, 1);
    auto cuda = variant_files(kCuda, 200000, 2);
    files.insert(files.end(), cuda.begin(), cuda.end());
    files.push_back({"README.md", "# rmsnorm\n"});
    files.push_back({"empty.txt", ""});
    rev1 = add_revision(hub, kRepo, files, {"v1", "main"}, {"v1.0.0"});
  }
  RemoteRepo repo(const TestServer& s, RepoType type = RepoType::kKernel) {
    return RemoteRepo(test_config(s.url(), cache), RepoRef{type, kRepo});
  }
  TempDir tmp;
  fs::path hub, cache;
  std::vector<HubFile> files;
  std::string rev1;
};

TEST_F(HubHttp, SnapshotMatchesHubAndHfLayout) {
  TestServer server(hub);
  RemoteRepo r = repo(server);
  SnapshotRequest req;
  req.revision = "v1";
  SnapshotResult snap = snapshot_download(r, req);
  EXPECT_EQ(snap.commit, rev1);
  EXPECT_EQ(snap.files.size(), files.size());
  EXPECT_EQ(snap.downloaded, static_cast<int>(files.size()));
  fs::path repo_dir = cache / "kernels--khub-community--rmsnorm";
  EXPECT_EQ(snap.dir, repo_dir / "snapshots" / rev1);
  for (const auto& f : files) {
    fs::path p = snap.dir / f.path;
    EXPECT_EQ(read_file(p), f.content) << f.path;
    // Relative links into blobs/, named by sha256 for LFS-style files and git blob id otherwise.
    ASSERT_TRUE(fs::is_symlink(p)) << f.path;
    std::string target = fs::read_symlink(p).string();
    EXPECT_EQ(target.rfind("../", 0), 0u) << target;
    std::string blob = fs::path(target).filename().string();
    bool lfs = f.path.size() > 3 && f.path.compare(f.path.size() - 3, 3, ".so") == 0;
    EXPECT_EQ(blob, lfs ? sha256_hex(f.content) : git_blob_id(f.content)) << f.path;
    EXPECT_TRUE(fs::is_regular_file(repo_dir / "blobs" / blob));
  }
  EXPECT_EQ(read_file(repo_dir / "refs" / "v1"), rev1);  // no newline, as huggingface_hub
  auto tree = nlohmann::json::parse(read_file(repo_dir / "trees" / (rev1 + ".json")));
  EXPECT_EQ(tree["format_version"], 1);
  EXPECT_EQ(tree["files"].size(), files.size());
  EXPECT_EQ(tree["files"]["README.md"]["blob_id"], git_blob_id("# rmsnorm\n"));
  // No temporary or partial file is left anywhere.
  for (auto& e : fs::recursive_directory_iterator(cache)) {
    std::string name = e.path().filename().string();
    EXPECT_EQ(name.find(".incomplete"), std::string::npos) << e.path();
    EXPECT_EQ(name.find(".tmp."), std::string::npos) << e.path();
  }
}

TEST_F(HubHttp, WarmCommitAndOfflineMakeNoRequest) {
  TestServer server(hub);
  {
    RemoteRepo r = repo(server);
    EXPECT_EQ(r.list_refs().tags.size(), 1u);  // saved in the cache for offline queries
    SnapshotRequest req;
    req.revision = "v1";
    req.allow_prefixes = {std::string("build/") + kCpu};
    auto snap = snapshot_download(r, req);
    EXPECT_EQ(snap.files.size(), 3u);  // only the selected variant
    EXPECT_FALSE(fs::exists(snap.dir / "build" / kCuda));
  }
  server.clear_log();
  RemoteRepo r = repo(server);
  SnapshotRequest warm;
  warm.revision = rev1;
  warm.allow_prefixes = {std::string("build/") + kCpu};
  auto snap = snapshot_download(r, warm);
  EXPECT_EQ(snap.downloaded, 0);
  EXPECT_EQ(snap.api_requests, 0);
  EXPECT_EQ(server.log().size(), 0u);

  // Offline: the endpoint is a closed port, so any request would fail loudly.
  HubConfig off = test_config("http://127.0.0.1:9", cache);
  off.offline = true;
  RemoteRepo o(off, RepoRef{RepoType::kKernel, kRepo});
  EXPECT_EQ(o.resolve_commit("v1"), rev1);
  auto refs = o.list_refs();
  EXPECT_TRUE(refs.from_cache);
  EXPECT_EQ(refs.find("v1.0.0").value(), rev1);  // the full listing was cached online
  auto listing = o.list_tree("v1", "build", false);
  ASSERT_EQ(listing.size(), 2u);
  EXPECT_EQ(listing[0].path, std::string("build/") + kCpu);
  EXPECT_EQ(o.repo_info("v1").sha, rev1);
  {
    // A cache without the listing (e.g. written by an older client): listed from the snapshot.
    fs::path trees = cache / "kernels--khub-community--rmsnorm" / "trees";
    fs::rename(trees, cache / "trees.bak");
    auto files = o.list_tree("v1", std::string("build/") + kCpu, true);
    ASSERT_EQ(files.size(), 3u);
    EXPECT_EQ(files[0].path, std::string("build/") + kCpu + "/layers.json");
    EXPECT_EQ(files[1].path, std::string("build/") + kCpu + "/libkernel.so");
    EXPECT_EQ(files[1].etag(), sha256_hex(this->files[0].content));
    fs::rename(cache / "trees.bak", trees);
  }
  SnapshotRequest oreq;
  oreq.revision = "v1";
  oreq.allow_prefixes = {std::string("build/") + kCpu};
  EXPECT_EQ(snapshot_download(o, oreq).commit, rev1);
  // What the cache lacks is a clear error, not a network call.
  oreq.allow_prefixes = {std::string("build/") + kCuda};
  try {
    snapshot_download(o, oreq);
    FAIL() << "expected an offline error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kNotFound);
    EXPECT_NE(std::string(e.what()).find("HF_HUB_OFFLINE"), std::string::npos) << e.what();
  }
  RemoteRepo unknown(off, RepoRef{RepoType::kKernel, "khub-community/never"});
  EXPECT_THROW(unknown.list_refs(), Error);
  EXPECT_THROW(unknown.resolve_commit("v1"), Error);
}

TEST_F(HubHttp, PaginatedTreeAndModelEndpoints) {
  TestServer server(hub, "", std::nullopt, /*page_size=*/2);
  RemoteRepo r = repo(server);
  auto tree = r.list_tree("main", "", true);
  size_t n_files = 0;
  for (const auto& e : tree) n_files += !e.is_dir;
  EXPECT_EQ(n_files, files.size());
  EXPECT_GE(server.count("/tree/"), 5);  // 10 entries (files + folders) in pages of 2
  // The same hub answers on the models endpoints (repo_type "model").
  RemoteRepo m = repo(server, RepoType::kModel);
  EXPECT_EQ(m.repo_info("v1.0.0").sha, rev1);
  auto meta = m.file_metadata("main", "README.md");
  EXPECT_EQ(meta.commit, rev1);
  EXPECT_EQ(meta.etag, git_blob_id("# rmsnorm\n"));
  EXPECT_EQ(meta.size, 10u);
  auto lfs = m.file_metadata("main", std::string("build/") + kCpu + "/libkernel.so");
  EXPECT_EQ(lfs.etag, sha256_hex(files[0].content));
  EXPECT_EQ(lfs.size, files[0].content.size());
  EXPECT_NE(lfs.location.find("/_khub/lfs/"), std::string::npos);
}

TEST_F(HubHttp, MissingRepoRevisionAndFile) {
  TestServer server(hub);
  RemoteRepo r = repo(server);
  try {
    r.resolve_commit("v9");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kNotFound);
    EXPECT_NE(std::string(e.what()).find("RevisionNotFound"), std::string::npos) << e.what();
  }
  RemoteRepo missing(test_config(server.url(), cache),
                     RepoRef{RepoType::kKernel, "khub-community/nope"});
  try {
    missing.list_refs();
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kNotFound);
    EXPECT_NE(std::string(e.what()).find("not found"), std::string::npos) << e.what();
  }
  SnapshotRequest req;
  req.revision = "v1";
  req.allow_prefixes = {"build/khub1-rocm64-x86_64-linux"};
  try {
    snapshot_download(r, req);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kNotFound);
    EXPECT_NE(std::string(e.what()).find(kCuda), std::string::npos) << e.what();
  }
  EXPECT_THROW(r.download_file("v1", "nope.txt", tmp.path() / "x"), Error);
  r.download_file("v1", "README.md", tmp.path() / "readme");
  EXPECT_EQ(read_file(tmp.path() / "readme"), "# rmsnorm\n");
}

TEST_F(HubHttp, PrivateReposNeedAToken) {
  add_revision(hub, "khub-community/secret", variant_files(kCpu, 1000, 3), {"v1"}, {}, true);
  std::ofstream(tmp.path() / "tokens") << "# tokens\nreadtoken123 read\nwritetoken123 write\n";
  TestServer server(hub, "", tmp.path() / "tokens");
  HubConfig anon = test_config(server.url(), cache);
  RemoteRepo a(anon, RepoRef{RepoType::kKernel, "khub-community/secret"});
  try {
    a.list_refs();
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kNotFound);
    EXPECT_NE(std::string(e.what()).find("HF_TOKEN"), std::string::npos) << e.what();
  }
  HubConfig bad = anon;
  bad.token = "wrongtoken999";
  RemoteRepo b(bad, RepoRef{RepoType::kKernel, "khub-community/secret"});
  EXPECT_THROW(b.list_refs(), Error);
  HubConfig good = anon;
  good.token = "readtoken123";
  RemoteRepo g(good, RepoRef{RepoType::kKernel, "khub-community/secret"});
  SnapshotRequest req;
  req.revision = "v1";
  auto snap = snapshot_download(g, req);
  EXPECT_EQ(snap.files.size(), 3u);
  // The token goes only to the hub's own origin.
  EXPECT_GE(server.count("GET /_khub/lfs/"), 1);
}

TEST_F(HubHttp, MetadataDigestMismatchIsRefusedAndLeavesNoTrace) {
  auto bad = variant_files(kCpu, 5000, 4);
  bad[0].content[100] ^= 1;  // the library no longer matches metadata.json's digest
  std::string rev = add_revision(hub, "khub-community/tampered", bad, {"v1"});
  TestServer server(hub);
  RemoteRepo r(test_config(server.url(), cache),
               RepoRef{RepoType::kKernel, "khub-community/tampered"});
  SnapshotRequest req;
  req.revision = "v1";
  try {
    snapshot_download(r, req);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kVerification);
    EXPECT_NE(std::string(e.what()).find("metadata.json"), std::string::npos) << e.what();
  }
  fs::path repo_dir = cache / "kernels--khub-community--tampered";
  EXPECT_FALSE(fs::exists(repo_dir / "blobs" / sha256_hex(bad[0].content)));
  EXPECT_FALSE(fs::exists(repo_dir / "blobs" / (sha256_hex(bad[0].content) + ".incomplete")));
  fs::path link = repo_dir / "snapshots" / rev / bad[0].path;
  EXPECT_FALSE(fs::is_symlink(link));
  // Every link that exists resolves (no dangling snapshot links).
  for (auto& e : fs::recursive_directory_iterator(repo_dir / "snapshots")) {
    if (fs::is_symlink(e.path())) {
      EXPECT_TRUE(fs::exists(e.path())) << e.path();
    }
  }
}

TEST_F(HubHttp, UploadRevisionThenDownloadIt) {
  std::ofstream(tmp.path() / "tokens") << "readtoken123 read\nwritetoken123\n";
  TestServer server(hub, "", tmp.path() / "tokens");
  fs::path src = tmp.path() / "built";
  for (const auto& f : variant_files(kCpu, 70000, 5)) {
    fs::create_directories((src / f.path).parent_path());
    std::ofstream(src / f.path, std::ios::binary) << f.content;
  }
  HubConfig cfg = test_config(server.url(), cache);
  RepoRef target{RepoType::kKernel, "khub-community/uploaded"};
  UploadOptions opt;
  opt.branch = "v1";
  opt.tags = {"v1.0.0"};
  EXPECT_THROW(upload_revision(cfg, target, src, opt), Error);  // no token
  cfg.token = "readtoken123";
  EXPECT_THROW(upload_revision(cfg, target, src, opt), Error);  // read-only token
  cfg.token = "writetoken123";
  UploadResult up = upload_revision(cfg, target, src, opt);
  // The revision id is the local hub's content address, as its documented shell pipeline says.
  std::string cmd = "cd '" + src.string() +
                    "' && find . -type f -printf '%P\\n' | LC_ALL=C sort | xargs -d '\\n' "
                    "sha256sum | sha256sum | cut -c1-40 > ../revid";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  std::string want = read_file(tmp.path() / "revid");
  EXPECT_EQ(up.revision, want.substr(0, 40));
  EXPECT_TRUE(up.created_repo);
  EXPECT_EQ(up.files, 3);
  EXPECT_EQ(up.uploaded, 3);
  UploadResult again = upload_revision(cfg, target, src, opt);
  EXPECT_EQ(again.revision, up.revision);
  EXPECT_EQ(again.uploaded, 0);  // content-addressed: nothing to send twice
  EXPECT_FALSE(again.new_revision);
  // Tags never move.
  std::ofstream(src / "extra.txt") << "more\n";
  try {
    upload_revision(cfg, target, src, opt);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("409"), std::string::npos) << e.what();
  }
  // Hostile paths and compare-and-swap on the branch.
  UploadOptions cas;
  cas.branch = "v1";
  cas.parent = std::string(40, '0');
  EXPECT_THROW(upload_revision(cfg, target, src, cas), Error);
  cas.parent = up.revision;
  UploadResult up2 = upload_revision(cfg, target, src, cas);
  EXPECT_NE(up2.revision, up.revision);

  RemoteRepo r(cfg, target);
  SnapshotRequest req;
  req.revision = "v1.0.0";
  auto snap = snapshot_download(r, req);
  EXPECT_EQ(snap.commit, up.revision);
  EXPECT_EQ(read_file(snap.dir / "build" / kCpu / "libkernel.so"),
            read_file(src / "build" / kCpu / "libkernel.so"));
  EXPECT_EQ(r.resolve_commit("v1"), up2.revision);
}

TEST_F(HubHttp, UploadReplacesItsVariantsAndKeepsTheOthers) {
  std::ofstream(tmp.path() / "tokens") << "writetoken123\n";
  TestServer server(hub, "", tmp.path() / "tokens");
  HubConfig cfg = test_config(server.url(), cache);
  cfg.token = "writetoken123";
  RepoRef target{RepoType::kKernel, "khub-community/merged"};
  auto stage = [&](const std::string& name, const std::vector<HubFile>& fs_) {
    fs::path dir = tmp.path() / name;
    for (const auto& f : fs_) {
      fs::create_directories((dir / f.path).parent_path());
      std::ofstream(dir / f.path, std::ios::binary) << f.content;
    }
    return dir;
  };
  auto cpu1 = variant_files(kCpu, 1000, 21), cuda = variant_files(kCuda, 1000, 22);
  auto cpu2 = variant_files(kCpu, 1000, 23);
  UploadOptions opt;
  opt.branch = "v1";
  opt.base_branch = "v1";
  opt.replace = {std::string("build/") + kCpu};
  upload_revision(cfg, target, stage("a", cpu1), opt);
  opt.replace = {std::string("build/") + kCuda};
  opt.extra_branches = {"main"};
  upload_revision(cfg, target, stage("b", cuda), opt);
  opt.replace = {std::string("build/") + kCpu};
  UploadResult last = upload_revision(cfg, target, stage("c", cpu2), opt);
  RemoteRepo r(cfg, target);
  EXPECT_EQ(r.resolve_commit("main"), last.revision);
  SnapshotRequest req;
  req.revision = "v1";
  auto snap = snapshot_download(r, req);
  EXPECT_EQ(snap.commit, last.revision);
  EXPECT_EQ(snap.files.size(), 6u);  // the new cpu variant and the kept cuda variant
  EXPECT_EQ(read_file(snap.dir / cpu2[0].path), cpu2[0].content);
  EXPECT_EQ(read_file(snap.dir / cuda[0].path), cuda[0].content);
}

TEST_F(HubHttp, LockThenLockedLoadWithoutNetwork) {
  std::string rev2 = add_revision(hub, kRepo, variant_files(kCpu, 1234, 9), {"v2"}, {"v2.0.0"});
  TestServer server(hub);
  HubConfig cfg = test_config(server.url(), cache);
  RemoteRepo r(cfg, RepoRef{RepoType::kKernel, kRepo});
  KernelDependency dep;
  dep.repo = r.repo();
  dep.spec = "1";
  KernelLock lock = lock_kernel(r, dep);
  EXPECT_EQ(lock.sha, rev1);
  EXPECT_EQ(lock.ref, "v1");
  ASSERT_EQ(lock.variants.size(), 2u);
  EXPECT_EQ(lock.variants[kCpu].files, 3u);
  EXPECT_EQ(lock.variants[kCpu].metadata_digest,
            "sha256-" + sha256_hex(files[2].content));  // files[2] is the cpu metadata.json
  dep.spec = "";
  EXPECT_EQ(lock_kernel(r, dep).sha, rev2);  // default: the highest vN branch

  // Locked load before any download: a clear "not in the cache" error, no request.
  server.clear_log();
  EXPECT_THROW(locked_variant(cfg, lock, kCpu), Error);
  fs::path dir = fetch_locked(cfg, lock, {kCpu});
  EXPECT_EQ(dir, cache / "kernels--khub-community--rmsnorm" / "snapshots" / rev1);
  server.clear_log();
  fs::path v = locked_variant(cfg, lock, kCpu);
  EXPECT_EQ(read_file(v / "libkernel.so"), files[0].content);
  EXPECT_EQ(server.log().size(), 0u);  // zero network calls

  // A lock that does not match the cache is refused.
  KernelLock wrong = lock;
  wrong.variants[kCpu].hash = "sha256-" + std::string(64, '0');
  EXPECT_THROW(locked_variant(cfg, wrong, kCpu), Error);
  wrong = lock;
  wrong.variants[kCpu].metadata_digest = "sha256-" + std::string(64, '0');
  try {
    locked_variant(cfg, wrong, kCpu);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kVerification);
  }
  EXPECT_THROW(locked_variant(cfg, lock, "khub1-rocm64-x86_64-linux"), Error);
}

TEST_F(HubHttp, ManyConcurrentClients) {
  TestServer server(hub);
  const int kClients = 8;  // x 4 download workers each, against 16 server threads
  std::vector<std::thread> threads;
  std::vector<std::string> errors(kClients);
  for (int i = 0; i < kClients; ++i) {
    threads.emplace_back([&, i] {
      try {
        RemoteRepo r(test_config(server.url(), cache / std::to_string(i)),
                     RepoRef{RepoType::kKernel, kRepo});
        SnapshotRequest req;
        req.revision = "v1";
        auto snap = snapshot_download(r, req);
        for (const auto& f : files) {
          if (read_file(snap.dir / f.path) != f.content) errors[i] = "wrong content " + f.path;
        }
      } catch (const std::exception& e) {
        errors[i] = e.what();
      }
      close_thread_connections();
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < kClients; ++i) EXPECT_EQ(errors[i], "") << "client " << i;
  EXPECT_EQ(server.count("GET /_khub/lfs/"), kClients * 2);  // two libraries per client
}

TEST_F(HubHttp, ServerRefusesHostileUrls) {
  std::ofstream(tmp.path() / "outside.txt") << "secret outside the hub\n";
  TestServer server(hub);
  HttpClient http(test_config(server.url(), cache).http_settings());
  std::string base = server.url() + "/kernels/" + kRepo + "/resolve/";
  for (std::string path :
       {"main/%2e%2e/%2e%2e/%2e%2e/outside.txt", "main/..%2F..%2F..%2Foutside.txt",
        "..%2F..%2F..%2F/outside.txt", "main/build%00x", "main/%2Fetc%2Fpasswd",
        "main/README.md%2F..%2F..%2F..%2F..%2Foutside.txt", "main/build"}) {
    HttpRequest req;
    req.url = base + path;
    HttpResponse res = http.perform(req);
    EXPECT_TRUE(res.status == 400 || res.status == 404) << path << " -> " << res.status;
    EXPECT_EQ(res.body.find("secret"), std::string::npos) << path;
  }
  for (std::string url : {"/api/kernels/..%2F..%2Foutside.txt/x/refs",
                          "/api/kernels/khub-community/rmsnorm/tree/main/..%2F..",
                          "/_khub/lfs/khub-community/rmsnorm/main/%2e%2e/%2e%2e/outside.txt"}) {
    HttpRequest req;
    req.url = server.url() + url;
    HttpResponse res = http.perform(req);
    EXPECT_TRUE(res.status == 400 || res.status == 404) << url << " -> " << res.status;
  }
}

TEST_F(HubHttp, RemoteKernelSourceForTheResolver) {
  TestServer server(hub);
  HubConfig cfg = test_config(server.url(), cache);
  RemoteKernelSource src(cfg, RepoRef{RepoType::kKernel, kRepo});
  EXPECT_EQ(src.refs().find("v1.0.0").value(), rev1);
  std::string commit = src.resolve("v1");
  EXPECT_EQ(src.variants(commit), (std::vector<std::string>{kCpu, kCuda}));
  fs::path meta = src.variant_metadata(commit, kCuda);
  EXPECT_EQ(read_file(meta), files[5].content);  // the cuda metadata.json, alone
  EXPECT_FALSE(fs::exists(meta.parent_path() / "libkernel.so"));
  fs::path dir = src.fetch_variant(commit, kCpu);
  EXPECT_EQ(read_file(dir / "libkernel.so"), files[0].content);
  // Offline, the same questions are answered from the cache.
  HubConfig off = cfg;
  off.offline = true;
  off.endpoint = "http://127.0.0.1:9";
  RemoteKernelSource offline(off, RepoRef{RepoType::kKernel, kRepo});
  EXPECT_EQ(offline.resolve("v1"), rev1);
  EXPECT_EQ(offline.variants(rev1), (std::vector<std::string>{kCpu, kCuda}));
  EXPECT_EQ(offline.fetch_variant(rev1, kCpu), dir);
  EXPECT_THROW(offline.fetch_variant(rev1, kCuda), Error);  // only its metadata was fetched
  // A repository without build/ has no variants.
  add_revision(hub, "khub-community/docs", {{"README.md", "docs\n"}}, {"main"});
  RemoteKernelSource docs(cfg, RepoRef{RepoType::kKernel, "khub-community/docs"});
  EXPECT_TRUE(docs.variants(docs.resolve("main")).empty());
}

}  // namespace
}  // namespace khub::test
