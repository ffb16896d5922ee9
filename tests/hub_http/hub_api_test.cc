// The Hub's own API on `khub serve`, request by request as huggingface_hub sends it (the JS client
// has its own test, js_client_test.mjs): HEAD as a revision, /raw/, expand=, error headers,
// paths-info as a form, preupload, the LFS batch with upload and verify links, NDJSON commits with
// deletions, refs, kernel rules, an upload cut off mid-body, and concurrent commits to one branch.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "hub/store/content_hash.h"
#include "hub_test_util.h"

namespace khub::test {
namespace {

using json = nlohmann::json;
const char* kRepo = "khub-community/rmsnorm";
const char* kCpu = "khub1-cpu-x86_64-linux";
const char* kToken = "hub-api-write-token";

class HubApi : public ::testing::Test {
 protected:
  void SetUp() override {
    hub = tmp.path() / "hub";
    files = variant_files(kCpu, 3000, 1);
    files.push_back({"README.md", "# rmsnorm\n"});
    rev1 = add_revision(hub, kRepo, files, {"v1", "main"}, {"v1.0.0"});
    std::ofstream(tmp.path() / "tokens") << kToken << " write\nhub-api-read-token read\n";
    server = std::make_unique<TestServer>(hub, "", tmp.path() / "tokens");
    cli = std::make_unique<httplib::Client>(server->url());
  }
  httplib::Headers auth(const std::string& token = kToken) {
    return {{"Authorization", "Bearer " + token}};
  }
  json get_json(const std::string& path) {
    auto r = cli->Get(path, auth());
    EXPECT_TRUE(r) << path;
    EXPECT_EQ(r->status, 200) << path << ": " << r->body;
    return json::parse(r->body);
  }
  // Preupload, LFS batch, upload, verify and NDJSON commit, as huggingface_hub's create_commit.
  httplib::Result commit(const std::string& branch, const std::vector<HubFile>& add,
                         const std::vector<std::string>& deleted_folders = {},
                         const std::string& repo = kRepo) {
    json pre = {{"files", json::array()}};
    for (const auto& f : add) {
      pre["files"].push_back({{"path", f.path},
                              {"size", f.content.size()},
                              {"sample", base64_encode(f.content.substr(0, 512))}});
    }
    auto p = cli->Post("/api/kernels/" + repo + "/preupload/" + branch, auth(), pre.dump(),
                       "application/json");
    EXPECT_EQ(p->status, 200) << p->body;
    json modes = json::parse(p->body);
    std::string ndjson =
        json({{"key", "header"}, {"value", {{"summary", "commit to " + branch}}}}).dump() + "\n";
    for (size_t i = 0; i < add.size(); ++i) {
      const HubFile& f = add[i];
      EXPECT_EQ(modes["files"][i]["path"], f.path);
      if (modes["files"][i]["uploadMode"] == "lfs") {
        std::string sha = sha256_hex(f.content);
        json batch = {{"operation", "upload"},
                      {"transfers", {"basic", "multipart"}},
                      {"hash_algo", "sha256"},
                      {"objects", {{{"oid", sha}, {"size", f.content.size()}}}}};
        auto b = cli->Post("/kernels/" + repo + ".git/info/lfs/objects/batch", auth(), batch.dump(),
                           "application/vnd.git-lfs+json");
        EXPECT_EQ(b->status, 200) << b->body;
        json obj = json::parse(b->body)["objects"][0];
        if (obj.contains("actions")) {
          std::string up = obj["actions"]["upload"]["href"];
          std::string verify = obj["actions"]["verify"]["href"];
          up = up.substr(server->url().size());
          verify = verify.substr(server->url().size());
          json v = {{"oid", sha}, {"size", f.content.size()}};
          EXPECT_EQ(cli->Post(verify, auth(), v.dump(), "application/json")->status, 404);
          EXPECT_EQ(cli->Put(up, f.content, "application/octet-stream")->status, 200);
          EXPECT_EQ(cli->Post(verify, auth(), v.dump(), "application/json")->status, 200);
        }
        ndjson += json({{"key", "lfsFile"},
                        {"value",
                         {{"path", f.path},
                          {"algo", "sha256"},
                          {"oid", sha},
                          {"size", f.content.size()}}}})
                      .dump() +
                  "\n";
      } else {
        ndjson += json({{"key", "file"},
                        {"value",
                         {{"path", f.path},
                          {"content", base64_encode(f.content)},
                          {"encoding", "base64"}}}})
                      .dump() +
                  "\n";
      }
    }
    for (const auto& d : deleted_folders) {
      ndjson += json({{"key", "deletedFolder"}, {"value", {{"path", d + "/"}}}}).dump() + "\n";
    }
    return cli->Post("/api/kernels/" + repo + "/commit/" + branch, auth(), ndjson,
                     "application/x-ndjson");
  }
  std::string head(const std::string& branch) {
    json refs = get_json(std::string("/api/kernels/") + kRepo + "/refs");
    for (const auto& b : refs["branches"]) {
      if (b["name"] == branch) return b["targetCommit"];
    }
    return "";
  }

  TempDir tmp;
  fs::path hub;
  std::vector<HubFile> files;
  std::string rev1;
  std::unique_ptr<TestServer> server;
  std::unique_ptr<httplib::Client> cli;
};

TEST_F(HubApi, HeadIsTheDefaultBranchEverywhere) {
  EXPECT_EQ(get_json(std::string("/api/models/") + kRepo + "/revision/HEAD")["sha"], rev1);
  EXPECT_EQ(get_json(std::string("/api/kernels/") + kRepo + "/tree/HEAD").size(), 2u);
  auto r = cli->Get(std::string("/") + kRepo + "/resolve/HEAD/README.md");
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "# rmsnorm\n");
  EXPECT_EQ(r->get_header_value("X-Repo-Commit"), rev1);
  auto h = cli->Head(std::string("/kernels/") + kRepo + "/raw/HEAD/README.md");
  EXPECT_EQ(h->status, 200);
  EXPECT_EQ(h->get_header_value("Content-Length"), "10");
  EXPECT_EQ(h->get_header_value("ETag"), "\"" + git_blob_id("# rmsnorm\n") + "\"");
}

TEST_F(HubApi, RawAnswersGitBlobsWithoutRedirects) {
  std::string lib = std::string("build/") + kCpu + "/libkernel.so";
  std::string content = files[0].content;
  auto resolve = cli->Get(std::string("/") + kRepo + "/resolve/main/" + lib);
  EXPECT_EQ(resolve->status, 302);
  auto raw = cli->Get(std::string("/") + kRepo + "/raw/main/" + lib);
  EXPECT_EQ(raw->status, 200);
  EXPECT_EQ(raw->body, serve::lfs_pointer(sha256_hex(content), content.size()));
  auto part =
      cli->Get(std::string("/") + kRepo + "/raw/v1.0.0/README.md", {{"Range", "bytes=0-0"}});
  EXPECT_EQ(part->status, 206);
  EXPECT_EQ(part->body, "#");
  EXPECT_EQ(part->get_header_value("Content-Range"), "bytes 0-0/10");
  auto missing = cli->Head(std::string("/") + kRepo + "/raw/main/nope.txt");
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(missing->get_header_value("X-Error-Code"), "EntryNotFound");
}

TEST_F(HubApi, ExpandAnswersOnlyWhatIsAsked) {
  json j =
      get_json(std::string("/api/models/") + kRepo + "?expand=sha&expand=private&expand=cardData");
  EXPECT_EQ(j.size(), 4u) << j;  // _id, id, sha, private (no card data here, as the Hub omits it)
  EXPECT_EQ(j["sha"], rev1);
  EXPECT_EQ(j["private"], false);
  EXPECT_EQ(get_json(std::string("/api/models/") + kRepo + "?expand[]=likes").size(), 3u);
  auto bad = cli->Get(std::string("/api/models/") + kRepo + "?expand=nonsense");
  EXPECT_EQ(bad->status, 400);
  EXPECT_NE(json::parse(bad->body)["error"].get<std::string>().find("nonsense"), std::string::npos);
}

TEST_F(HubApi, ErrorsCarryTheHubsCodesAndJson) {
  struct Case {
    std::string path;
    int status;
    std::string code;
  } cases[] = {
      {"/api/models/khub-community/missing", 404, "RepoNotFound"},
      {std::string("/api/models/") + kRepo + "/revision/v9", 404, "RevisionNotFound"},
      {std::string("/") + kRepo + "/resolve/main/missing.txt", 404, "EntryNotFound"},
      {std::string("/api/models/") + kRepo + "/commits/nope", 404, "RevisionNotFound"},
  };
  for (const auto& c : cases) {
    auto r = cli->Get(c.path);
    EXPECT_EQ(r->status, c.status) << c.path;
    EXPECT_EQ(r->get_header_value("X-Error-Code"), c.code) << c.path;
    EXPECT_FALSE(r->get_header_value("X-Error-Message").empty()) << c.path;
    EXPECT_TRUE(json::parse(r->body).contains("error")) << c.path;
  }
  std::ofstream(hub / kRepo / "gated") << "";
  auto g = cli->Get(std::string("/api/models/") + kRepo);
  EXPECT_EQ(g->status, 401);
  EXPECT_EQ(g->get_header_value("X-Error-Code"), "GatedRepo");
  EXPECT_EQ(cli->Get(std::string("/api/models/") + kRepo, auth("hub-api-read-token"))->status, 200);
}

TEST_F(HubApi, PathsInfoAsAForm) {
  std::string lib = std::string("build/") + kCpu + "/libkernel.so";
  auto r = cli->Post(std::string("/api/models/") + kRepo + "/paths-info/main",
                     "paths=README.md&paths=" + lib + "&paths=nope&expand=True",
                     "application/x-www-form-urlencoded");
  ASSERT_EQ(r->status, 200) << r->body;
  json j = json::parse(r->body);
  ASSERT_EQ(j.size(), 2u) << j;
  EXPECT_EQ(j[0]["oid"], git_blob_id("# rmsnorm\n"));
  EXPECT_EQ(j[1]["lfs"]["oid"], sha256_hex(files[0].content));
  EXPECT_EQ(j[1]["lastCommit"]["id"], rev1);
}

TEST_F(HubApi, CommitReplacesAVariantAndKeepsHistory) {
  auto v2files = variant_files(kCpu, 5000, 7);
  auto r = commit("v1", v2files, {std::string("build/") + kCpu});
  ASSERT_EQ(r->status, 200) << r->body;
  std::string rev2 = json::parse(r->body)["commitOid"];
  EXPECT_NE(rev2, rev1);
  EXPECT_EQ(head("v1"), rev2);
  EXPECT_EQ(head("main"), rev2);  // main follows the highest version branch, as publish moves it
  auto lib = cli->Get(std::string("/") + kRepo + "/resolve/v1/build/" + kCpu + "/libkernel.so");
  EXPECT_EQ(lib->status, 302);
  EXPECT_EQ(lib->get_header_value("X-Linked-Etag"), "\"" + sha256_hex(v2files[0].content) + "\"");
  json commits = get_json(std::string("/api/kernels/") + kRepo + "/commits/v1");
  ASSERT_EQ(commits.size(), 2u) << commits;
  EXPECT_EQ(commits[0]["id"], rev2);
  EXPECT_EQ(commits[0]["title"], "commit to v1");
  EXPECT_EQ(commits[1]["id"], rev1);
  // The tag stays where it was; a second tag for the new revision works once.
  EXPECT_EQ(get_json(std::string("/api/kernels/") + kRepo + "/revision/v1.0.0")["sha"], rev1);
  std::string tag = std::string("/api/kernels/") + kRepo + "/tag/v1";
  EXPECT_EQ(cli->Post(tag, auth(), R"({"tag": "v1.1.0"})", "application/json")->status, 200);
  EXPECT_EQ(cli->Post(tag, auth(), R"({"tag": "v1.1.0"})", "application/json")->status, 409);
  EXPECT_EQ(cli->Post(tag, auth(), R"({"tag": "v2.0.0"})", "application/json")->status, 400);
}

TEST_F(HubApi, KernelRulesRefuseAndLeaveTheRepoAsItWas) {
  auto bad = variant_files(kCpu, 2000, 3);
  bad[0].content += "tampered";  // no longer the digest metadata.json lists
  auto r = commit("v1", bad, {std::string("build/") + kCpu});
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("digest"), std::string::npos) << r->body;
  r = commit("v2", variant_files(kCpu, 2000, 4));  // a version-1 kernel on v2
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("major version 2"), std::string::npos) << r->body;
  EXPECT_EQ(head("v1"), rev1);
  EXPECT_EQ(head("v2"), "");
  EXPECT_EQ(get_json(std::string("/api/kernels/") + kRepo + "/commits/main").size(), 1u);
  for (const auto& e : fs::directory_iterator(hub / kRepo / "revisions")) {
    EXPECT_EQ(e.path().filename().string().rfind(".tmp", 0), std::string::npos) << e.path();
  }
  // Without a write token nothing is accepted.
  auto no = cli->Post(std::string("/api/kernels/") + kRepo + "/commit/main",
                      auth("hub-api-read-token"), "{}", "application/x-ndjson");
  EXPECT_EQ(no->status, 403);
}

// huggingface_hub validates a README.md before committing it.
TEST_F(HubApi, ValidateYamlChecksTheFrontMatterIsClosed) {
  auto ok =
      cli->Post("/api/validate-yaml", auth(),
                json({{"content", "---\nlicense: mit\n---\n# x\n"}}).dump(), "application/json");
  EXPECT_EQ(ok->status, 200);
  EXPECT_EQ(json::parse(ok->body)["warnings"], json::array());
  auto bad = cli->Post("/api/validate-yaml", auth(),
                       json({{"content", "---\nlicense: mit\n# x\n"}}).dump(), "application/json");
  EXPECT_EQ(bad->status, 400);
  EXPECT_EQ(json::parse(bad->body)["errors"].size(), 1u);
}

// An LFS upload whose connection dies mid-body leaves no blob behind, and a commit naming it fails.
TEST_F(HubApi, InterruptedUploadLeavesNothing) {
  std::string content = random_bytes(200000, 9), sha = sha256_hex(content);
  json batch = {{"operation", "upload"}, {"objects", {{{"oid", sha}, {"size", content.size()}}}}};
  auto b = cli->Post(std::string("/") + kRepo + ".git/info/lfs/objects/batch", auth(), batch.dump(),
                     "application/vnd.git-lfs+json");
  ASSERT_EQ(b->status, 200);
  std::string href = json::parse(b->body)["objects"][0]["actions"]["upload"]["href"];
  std::string path = href.substr(server->url().size());
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(server->server().port());
  ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  std::string req = "PUT " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: " +
                    std::to_string(content.size()) + "\r\n\r\n" + content.substr(0, 70000);
  ASSERT_EQ(::write(fd, req.data(), req.size()), static_cast<ssize_t>(req.size()));
  ::close(fd);
  server->settle();
  for (int i = 0; i < 100 && server->count("PUT /_khub/lfs-upload/") == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  for (const auto& e : fs::directory_iterator(hub / ".khub" / "uploads")) {
    ADD_FAILURE() << "left behind: " << e.path();
  }
  std::string ndjson =
      json({{"key", "header"}, {"value", {{"summary", "s"}}}}).dump() + "\n" +
      json({{"key", "lfsFile"},
            {"value", {{"path", "big.bin"}, {"oid", sha}, {"size", content.size()}}}})
          .dump();
  auto c = cli->Post(std::string("/api/models/") + kRepo + "/commit/main", auth(), ndjson,
                     "application/x-ndjson");
  EXPECT_EQ(c->status, 400) << c->body;
  EXPECT_EQ(head("main"), rev1);
}

// Commits to one branch from many connections at once: each applies on the one before.
TEST_F(HubApi, ConcurrentCommitsToOneBranchSerialize) {
  const std::string repo = "khub-community/notes";
  auto created =
      cli->Post("/api/repos/create", auth(),
                R"({"name": "notes", "organization": "khub-community"})", "application/json");
  ASSERT_EQ(created->status, 200) << created->body;
  constexpr int kN = 12;
  std::vector<std::thread> threads;
  std::vector<int> status(kN);
  for (int i = 0; i < kN; ++i) {
    threads.emplace_back([&, i] {
      httplib::Client c(server->url());
      std::string body =
          json({{"key", "header"}, {"value", {{"summary", "note " + std::to_string(i)}}}}).dump() +
          "\n" +
          json({{"key", "file"},
                {"value",
                 {{"path", "notes/" + std::to_string(i) + ".txt"},
                  {"content", base64_encode("note " + std::to_string(i))}}}})
              .dump();
      auto r = c.Post("/api/models/" + repo + "/commit/main", auth(), body, "application/x-ndjson");
      status[i] = r ? r->status : -1;
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < kN; ++i) EXPECT_EQ(status[i], 200) << i;
  EXPECT_EQ(get_json("/api/models/" + repo + "/tree/main/notes").size(), size_t(kN));
  json commits = get_json("/api/models/" + repo + "/commits/main?limit=100");
  ASSERT_EQ(commits.size(), size_t(kN));
  for (int i = 0; i + 1 < kN; ++i) EXPECT_EQ(commits[i]["parents"][0], commits[i + 1]["id"]);
}

}  // namespace
}  // namespace khub::test
