// Helpers for the hub network tests: temporary folders, local hub directories written in the
// format khub publish uses, an in-process `khub serve` whose request log the tests read, and
// client configs with fast retries. Everything runs on loopback.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "hub/http/hf_api.h"
#include "hub/store/content_hash.h"
#include "hub/store/hub_cache.h"
#include "serve/hub_server.h"

namespace khub::test {

namespace fs = std::filesystem;
using namespace khub::hub::net;

class TempDir {
 public:
  TempDir();
  ~TempDir();
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

struct HubFile {
  std::string path;
  std::string content;
  bool executable = false;
};

std::string random_bytes(size_t n, uint32_t seed);
// A variant folder build/<variant>/ with a library, a JSON file and a metadata.json whose digest
// lists both (base64 sha256, as HF's kernel-builder writes it).
std::vector<HubFile> variant_files(const std::string& variant, size_t lib_size, uint32_t seed);

// Writes a revision into <root>/<repo_id>/revisions/<git tree id> and points the refs at it.
std::string add_revision(const fs::path& root, const std::string& repo_id,
                         const std::vector<HubFile>& files,
                         const std::vector<std::string>& branches,
                         const std::vector<std::string>& tags = {}, bool is_private = false);

std::string read_file(const fs::path& p);

// An in-process khub serve on a free loopback port, keeping its request log.
class TestServer {
 public:
  explicit TestServer(const fs::path& root, const std::string& faults = "",
                      std::optional<fs::path> token_file = std::nullopt, size_t page_size = 1000);
  ~TestServer();
  std::string url() const { return server_->url(); }
  serve::HubServer& server() { return *server_; }
  std::vector<std::string> log() const;
  void clear_log();
  // Log lines whose request line contains `needle` (e.g. "GET /kernels/").
  int count(const std::string& needle) const;
  // Log lines containing both strings.
  int count(const std::string& a, const std::string& b) const;
  void settle() const;

 private:
  mutable std::mutex mu_;
  std::vector<std::string> lines_;
  std::unique_ptr<serve::HubServer> server_;
};

// A client config for `endpoint` with the cache at `cache`, fast retries and no progress bar.
HubConfig test_config(const std::string& endpoint, const fs::path& cache);

}  // namespace khub::test
