// Several processes and a server that dies: the `khub` binary is spawned as real processes.
//  - two `khub download` processes fetching one snapshot into one cache download every file once
//    (counted in the server's request log);
//  - a `khub serve` killed (SIGKILL) in the middle of a download and started again: the client
//    keeps retrying and resumes the partial file with a Range request.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "hub/http/snapshot.h"
#include "hub_test_util.h"

extern char** environ;

namespace khub::test {
namespace {

const char* kRepo = "khub-community/rotary";
const char* kVariant = "khub1-cpu-x86_64-linux";

// Spawns argv with extra environment variables; stdout and stderr go to `out`.
pid_t spawn(const std::vector<std::string>& argv, const std::vector<std::string>& env_extra,
            const fs::path& out) {
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string kv = *e;
    bool overridden = false;
    for (const auto& x : env_extra) {
      if (kv.substr(0, kv.find('=') + 1) == x.substr(0, x.find('=') + 1)) overridden = true;
    }
    if (!overridden) env.push_back(kv);
  }
  env.insert(env.end(), env_extra.begin(), env_extra.end());
  std::vector<char*> cargv, cenv;
  for (auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  for (auto& e : env) cenv.push_back(const_cast<char*>(e.c_str()));
  cenv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, cargv[0], &fa, nullptr, cargv.data(), cenv.data());
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) throw std::runtime_error("posix_spawn failed for " + argv[0]);
  return pid;
}

int wait_exit(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int free_port() {
  int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(s);
  return ntohs(a.sin_port);
}

bool wait_healthy(const std::string& url) {
  HttpClient http(test_config(url, "/tmp").http_settings());
  for (int i = 0; i < 100; ++i) {
    try {
      HttpRequest req;
      req.url = url + "/health";
      req.timeout_ms = 500;
      if (http.perform(req).status == 200) return true;
    } catch (const Error&) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

TEST(MultiProcess, TwoProcessesDownloadOneSnapshotOnce) {
  TempDir tmp;
  auto files = variant_files(kVariant, 1 << 20, 11);
  add_revision(tmp.path() / "hub", kRepo, files, {"v1"});
  // The library trickles at 2 MB/s so that the second process arrives while the first downloads.
  TestServer server(tmp.path() / "hub", "throttle=2000000@file~libkernel.so");
  std::vector<std::string> env = {"HF_ENDPOINT=" + server.url(),
                                  "KERNELS_CACHE=" + (tmp.path() / "cache").string(),
                                  "KHUB_LOG_LEVEL=info", "HF_TOKEN="};
  std::vector<std::string> argv = {KHUB_BIN, "download", std::string(kRepo) + "@v1",
                                   "--all-variants"};
  pid_t a = spawn(argv, env, tmp.path() / "a.out");
  pid_t b = spawn(argv, env, tmp.path() / "b.out");
  EXPECT_EQ(wait_exit(a), 0) << read_file(tmp.path() / "a.out");
  EXPECT_EQ(wait_exit(b), 0) << read_file(tmp.path() / "b.out");
  // Each file's bytes were served once, whichever process fetched them.
  EXPECT_EQ(server.count("GET /_khub/lfs/"), 1);
  EXPECT_EQ(server.count("layers.json\" 200"), 1);
  EXPECT_EQ(server.count("metadata.json\" 200"), 1);
  fs::path snap = tmp.path() / "cache" / "kernels--khub-community--rotary" / "snapshots";
  for (const auto& f : files) {
    EXPECT_EQ(read_file(snap / fs::directory_iterator(snap)->path().filename() / f.path),
              f.content);
  }
  std::string outs = read_file(tmp.path() / "a.out") + read_file(tmp.path() / "b.out");
  if (outs.find("waiting for") == std::string::npos) {
    std::cout << "note: the two downloads did not overlap this time\n";
  }
}

TEST(MultiProcess, ServerKilledMidDownloadThenRestartedResumes) {
  TempDir tmp;
  auto files = variant_files(kVariant, 3 << 20, 12);
  std::string rev = add_revision(tmp.path() / "hub", kRepo, files, {"v1"});
  int port = free_port();
  std::string url = "http://127.0.0.1:" + std::to_string(port);
  auto serve_argv = [&](const std::string& log, const std::string& faults) {
    std::vector<std::string> v = {KHUB_BIN, "serve",
                                  "--root", (tmp.path() / "hub").string(),
                                  "--port", std::to_string(port),
                                  "--log",  (tmp.path() / log).string()};
    if (!faults.empty()) {
      v.push_back("--faults");
      v.push_back(faults);
    }
    return v;
  };
  pid_t server = spawn(serve_argv("log1", "throttle=1500000@file"), {}, tmp.path() / "s1.out");
  ASSERT_TRUE(wait_healthy(url)) << read_file(tmp.path() / "s1.out");

  HubConfig cfg = test_config(url, tmp.path() / "cache");
  cfg.retry.max_attempts = 60;
  cfg.retry.base_delay_s = 0.05;
  cfg.retry.max_delay_s = 0.2;
  std::string error;
  SnapshotResult snap;
  std::thread client([&] {
    try {
      RemoteRepo r(cfg, RepoRef{RepoType::kKernel, kRepo});
      SnapshotRequest req;
      req.revision = "v1";
      snap = snapshot_download(r, req);
    } catch (const std::exception& e) {
      error = e.what();
    }
  });
  fs::path partial = tmp.path() / "cache" / "kernels--khub-community--rotary" / "blobs" /
                     (sha256_hex(files[0].content) + ".incomplete");
  bool saw_partial = false;
  for (int i = 0; i < 400 && !saw_partial; ++i) {
    std::error_code ec;
    saw_partial = fs::file_size(partial, ec) > 500000 && !ec;
    if (!saw_partial) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(saw_partial);
  ::kill(server, SIGKILL);
  wait_exit(server);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the client sees refusals
  server = spawn(serve_argv("log2", ""), {}, tmp.path() / "s2.out");
  client.join();
  ::kill(server, SIGTERM);
  EXPECT_EQ(wait_exit(server), 0);
  ASSERT_EQ(error, "");
  EXPECT_EQ(snap.commit, rev);
  for (const auto& f : files) EXPECT_EQ(read_file(snap.dir / f.path), f.content) << f.path;
  std::string log2 = read_file(tmp.path() / "log2");
  EXPECT_NE(log2.find("GET /_khub/lfs/"), std::string::npos) << log2;
  EXPECT_NE(log2.find("range=bytes="), std::string::npos) << log2;  // resumed, not restarted
}

}  // namespace
}  // namespace khub::test
