#include "hub_test_util.h"

#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

namespace khub::test {

TempDir::TempDir() {
  std::string tmpl = (fs::temp_directory_path() / "khub-hubtest-XXXXXX").string();
  char* p = ::mkdtemp(tmpl.data());
  if (!p) throw std::runtime_error("mkdtemp failed");
  path_ = p;
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

std::string random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng() & 0xff);
  return s;
}

std::vector<HubFile> variant_files(const std::string& variant, size_t lib_size, uint32_t seed) {
  std::string dir = "build/" + variant + "/";
  std::vector<HubFile> files = {
      {dir + "libkernel.so", random_bytes(lib_size, seed), true},
      {dir + "layers.json", "{\"layers\": [\"RMSNorm\"], \"seed\": " + std::to_string(seed) + "}",
       false},
  };
  nlohmann::json digest = nlohmann::json::object();
  for (const auto& f : files) {
    Hasher h(HashAlgo::kSha256);
    h.update(f.content);
    digest[f.path.substr(dir.size())] = base64_encode(h.finish_raw());
  }
  // Valid metadata (khub serve checks what a commit to a kernel repo holds as publish does).
  nlohmann::json meta = {{"name", "rmsnorm"},
                         {"version", 1},
                         {"backend", {{"type", "cpu"}}},
                         {"digest", {{"algorithm", "sha256"}, {"files", digest}}}};
  files.push_back({dir + "metadata.json", meta.dump(1), false});
  return files;
}

std::string add_revision(const fs::path& root, const std::string& repo_id,
                         const std::vector<HubFile>& files,
                         const std::vector<std::string>& branches,
                         const std::vector<std::string>& tags, bool is_private) {
  fs::path repo = root / repo_id;
  fs::path tmp = repo / "revisions" / ".building";
  fs::remove_all(tmp);
  for (const auto& f : files) {
    fs::create_directories((tmp / f.path).parent_path());
    std::ofstream out(tmp / f.path, std::ios::binary);
    out << f.content;
    out.close();
    fs::permissions(tmp / f.path, f.executable ? fs::perms(0755) : fs::perms(0644));
  }
  std::string rev = git_tree_id(tmp);
  fs::path final_dir = repo / "revisions" / rev;
  if (fs::exists(final_dir)) {
    fs::remove_all(tmp);
  } else {
    fs::rename(tmp, final_dir);
  }
  for (const auto& b : branches) {
    fs::create_directories(repo / "refs" / "heads");
    std::ofstream(repo / "refs" / "heads" / b) << rev << "\n";
  }
  for (const auto& t : tags) {
    fs::create_directories(repo / "refs" / "tags");
    std::ofstream(repo / "refs" / "tags" / t) << rev << "\n";
  }
  if (is_private) std::ofstream(repo / "private");
  return rev;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TestServer::TestServer(const fs::path& root, const std::string& faults,
                       std::optional<fs::path> token_file, size_t page_size) {
  serve::ServeOptions o;
  o.root = root;
  o.faults = faults;
  o.token_file = token_file;
  o.page_size = page_size;
  o.threads = 16;
  o.keep_alive_s = 1;
  o.log = [this](const std::string& line) {
    std::lock_guard<std::mutex> lock(mu_);
    lines_.push_back(line);
  };
  server_ = std::make_unique<serve::HubServer>(o);
  server_->start();
}

TestServer::~TestServer() {
  // Idle keep-alive connections of this thread would hold a server worker until they time out.
  close_thread_connections();
  server_->stop();
}

void TestServer::settle() const {
  // A response reaches the client before the server logs it: wait for the log to catch up.
  for (int i = 0; i < 400 && server_->in_flight() > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

std::vector<std::string> TestServer::log() const {
  settle();
  std::lock_guard<std::mutex> lock(mu_);
  return lines_;
}

void TestServer::clear_log() {
  settle();
  std::lock_guard<std::mutex> lock(mu_);
  lines_.clear();
}

int TestServer::count(const std::string& needle) const {
  settle();
  std::lock_guard<std::mutex> lock(mu_);
  int n = 0;
  for (const auto& l : lines_) {
    if (l.find(needle) != std::string::npos) ++n;
  }
  return n;
}

HubConfig test_config(const std::string& endpoint, const fs::path& cache) {
  HubConfig c;
  c.endpoint = endpoint;
  c.cache_root = cache;
  c.user_agent = "khub-test";
  c.retry.max_attempts = 5;
  c.retry.base_delay_s = 0.005;
  c.retry.max_delay_s = 0.05;
  c.max_workers = 4;
  c.progress = false;
  c.request_timeout_ms = 10000;
  c.stall_timeout_s = 10;
  return c;
}

}  // namespace khub::test

namespace khub::test {
int TestServer::count(const std::string& a, const std::string& b) const {
  settle();
  std::lock_guard<std::mutex> lock(mu_);
  int n = 0;
  for (const auto& l : lines_) {
    if (l.find(a) != std::string::npos && l.find(b) != std::string::npos) ++n;
  }
  return n;
}
}  // namespace khub::test
