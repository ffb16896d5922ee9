// Downloading one file safely: into "<dest>.incomplete", resuming a partial file with a Range
// request, retrying with backoff on transport failures, 429 and 5xx (Retry-After honoured), and
// checking size and content hashes before an atomic rename into place. A body that is truncated,
// too long or corrupted never reaches `dest`: truncation resumes, corruption restarts from zero,
// and after the retries the error names the file and both hashes.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <string>

#include "hub/http/http_client.h"
#include "hub/store/content_hash.h"
#include "hub/store/hub_cache.h"

namespace khub::hub::net {

struct ExpectedContent {
  uint64_t size = 0;
  std::optional<std::string> sha256_hex;  // LFS object id
  std::optional<std::string> git_oid;     // git blob id of non-LFS files
  std::optional<Digest> digest;           // e.g. from the variant's metadata.json
  std::string digest_source;              // where `digest` came from, for messages
};

ExpectedContent expected_for(const TreeEntry& entry);

// Aggregated progress of a group of downloads; when enabled (stderr a terminal,
// HubConfig::progress) draws one line on stderr — bytes, files, rate and ETA in total — and one
// line per file fetched (its size and rate).
class Progress {
 public:
  Progress(bool enabled, std::string label);
  ~Progress();
  void add_total(uint64_t bytes, int files);
  void add_bytes(int64_t bytes);  // negative when a restarted download discards bytes
  // A file is in place: `name` was fetched (bytes in seconds), or, with no name, was cached.
  void file_done(const std::string& name = "", uint64_t bytes = 0, double seconds = 0.0);
  void finish();
  uint64_t bytes_done() const { return done_.load(); }

 private:
  void draw(bool final_line);
  bool enabled_;
  std::string label_;
  std::atomic<uint64_t> total_{0}, done_{0};
  std::atomic<int> files_total_{0}, files_done_{0};
  std::mutex mu_;
  std::chrono::steady_clock::time_point start_, last_draw_;
  bool finished_ = false;
};

// Downloads `url` to `dest` as described above. `expect_commit`, when not empty, must match the
// X-Repo-Commit header if the hub sends one. `durable` syncs the file to disk before the rename.
// Throws kVerification for content that never matched, kNetwork/kNotFound for HTTP failures, kIo
// for local disk errors.
void download_verified(const HttpClient& http, const std::string& url, const fs::path& dest,
                       const ExpectedContent& want, const std::string& what,
                       const std::string& expect_commit, Progress* progress, bool durable = true);

// Runs fn(i) for i in [0, n) on up to `workers` threads. After a failure no new item starts; the
// first error is rethrown (with the count of other failures appended) once all started items end.
void parallel_for(size_t n, int workers, const std::function<void(size_t)>& fn);

}  // namespace khub::hub::net
