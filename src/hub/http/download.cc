#include "hub/http/download.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "core/logging.h"
#include "hub/ref/hub_types.h"

namespace khub::hub::net {
namespace {

std::string human_bytes(double b) {
  const char* units[] = {"B", "kB", "MB", "GB", "TB"};
  int u = 0;
  while (b >= 1000 && u < 4) {
    b /= 1000;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", b, units[u]);
  return buf;
}

// The hashes one download needs, fed as bytes arrive.
struct ContentHashers {
  const ExpectedContent& want;
  std::unique_ptr<Hasher> sha256, git, digest;
  explicit ContentHashers(const ExpectedContent& w) : want(w) { reset(); }
  void reset() {
    sha256 = std::make_unique<Hasher>(HashAlgo::kSha256);
    git.reset();
    digest.reset();
    if (want.git_oid) {
      git = std::make_unique<Hasher>(HashAlgo::kSha1);
      git->update(git_blob_header(want.size));
    }
    if (want.digest && want.digest->algo != HashAlgo::kSha256) {
      digest = std::make_unique<Hasher>(want.digest->algo);
    }
  }
  void update(const char* d, size_t n) {
    sha256->update(d, n);
    if (git) git->update(d, n);
    if (digest) digest->update(d, n);
  }
  // "" when everything matches, else a description of the first mismatch.
  std::string check() {
    std::string sha_raw = sha256->finish_raw();
    std::string sha = to_hex(sha_raw);
    if (want.sha256_hex && sha != *want.sha256_hex) {
      return "sha256 " + sha + ", expected " + *want.sha256_hex;
    }
    if (git) {
      std::string g = git->finish_hex();
      if (g != *want.git_oid) return "git blob id " + g + ", expected " + *want.git_oid;
    }
    if (want.digest) {
      std::string raw = digest ? digest->finish_raw() : sha_raw;
      if (raw != want.digest->raw) {
        return std::string(hash_algo_name(want.digest->algo)) + " " + to_hex(raw) + ", expected " +
               want.digest->hex() + " (from " + want.digest_source + ")";
      }
    }
    return "";
  }
};

class FileSink : public BodySink {
 public:
  FileSink(int fd, uint64_t offset, uint64_t expected, ContentHashers& hashers, Progress* progress)
      : fd_(fd), offset_(offset), expected_(expected), hashers_(hashers), progress_(progress) {}

  bool begin(const HttpResponse& head) override {
    if (head.status == 206) {
      // Content-Range: bytes START-END/TOTAL must continue exactly where the file ends.
      std::string cr = head.header("content-range");
      unsigned long long start = 0;
      if (std::sscanf(cr.c_str(), "bytes %llu-", &start) != 1 || start != offset_) {
        bad_range = true;
        return false;
      }
      return true;
    }
    if (offset_ > 0) {
      // The server ignored the Range header and sends the whole file: start over.
      if (::ftruncate(fd_, 0) != 0 || ::lseek(fd_, 0, SEEK_SET) != 0) return false;
      if (progress_) progress_->add_bytes(-static_cast<int64_t>(offset_));
      hashers_.reset();
      offset_ = 0;
    }
    return true;
  }

  bool write(const char* data, size_t n) override {
    if (offset_ + written_ + n > expected_) {
      too_long = true;
      return false;
    }
    size_t done = 0;
    while (done < n) {
      ssize_t w = ::write(fd_, data + done, n - done);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        write_errno = errno;
        return false;
      }
      done += w;
    }
    hashers_.update(data, n);
    written_ += n;
    if (progress_) progress_->add_bytes(n);
    return true;
  }

  uint64_t total() const { return offset_ + written_; }
  bool bad_range = false;
  bool too_long = false;
  int write_errno = 0;

 private:
  int fd_;
  uint64_t offset_;
  uint64_t expected_;
  uint64_t written_ = 0;
  ContentHashers& hashers_;
  Progress* progress_;
};

// Feeds the first `n` bytes already on disk to the hashers (resuming a partial download).
void hash_prefix(int fd, uint64_t n, ContentHashers& h) {
  std::vector<char> buf(1 << 20);
  uint64_t done = 0;
  while (done < n) {
    ssize_t r = ::pread(fd, buf.data(), std::min<uint64_t>(buf.size(), n - done), done);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) fail(ErrorKind::kIo, "cannot read back a partial download: ", std::strerror(errno));
    h.update(buf.data(), r);
    done += r;
  }
}

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

ExpectedContent expected_for(const TreeEntry& e) {
  ExpectedContent want;
  want.size = e.size;
  if (e.lfs_sha256) {
    want.sha256_hex = *e.lfs_sha256;
  } else if (is_hex(e.oid, 40)) {
    want.git_oid = e.oid;
  } else if (is_hex(e.oid, 64)) {
    want.sha256_hex = e.oid;  // hubs that name plain files by sha256
  }
  return want;
}

Progress::Progress(bool enabled, std::string label)
    : enabled_(enabled), label_(std::move(label)), start_(std::chrono::steady_clock::now()) {}

Progress::~Progress() { finish(); }

void Progress::add_total(uint64_t bytes, int files) {
  total_ += bytes;
  files_total_ += files;
  draw(false);
}

void Progress::add_bytes(int64_t bytes) {
  done_ += static_cast<uint64_t>(bytes);
  draw(false);
}

void Progress::file_done(const std::string& name, uint64_t bytes, double seconds) {
  ++files_done_;
  if (enabled_ && !name.empty()) {
    std::lock_guard<std::mutex> lock(mu_);
    std::string line = "\r  " + name + "  " + human_bytes(bytes) + "  " +
                       human_bytes(seconds > 0 ? bytes / seconds : 0) + "/s\x1b[K\n";
    std::fwrite(line.data(), 1, line.size(), stderr);
    last_draw_ = {};
  }
  draw(false);
}

void Progress::finish() {
  if (!enabled_) return;
  std::lock_guard<std::mutex> lock(mu_);
  if (finished_) return;
  finished_ = true;
  if (files_total_ == 0) return;
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  std::string line = "\r" + label_ + ": " + human_bytes(done_) + " in " +
                     std::to_string(files_done_.load()) + " files, " +
                     human_bytes(secs > 0 ? done_ / secs : 0) + "/s\x1b[K\n";
  std::fwrite(line.data(), 1, line.size(), stderr);
}

void Progress::draw(bool) {
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  std::lock_guard<std::mutex> lock(mu_);
  if (finished_ || now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  double secs = std::chrono::duration<double>(now - start_).count();
  std::string line = "\r" + label_ + ": " + human_bytes(done_) + " / " + human_bytes(total_) +
                     "  " + std::to_string(files_done_.load()) + "/" +
                     std::to_string(files_total_.load()) + " files  " +
                     human_bytes(secs > 0 ? done_ / secs : 0) + "/s";
  if (secs > 0 && done_ > 0 && total_ > done_) {
    long left = static_cast<long>((total_ - done_) / (done_ / secs) + 0.5);
    char eta[32];
    std::snprintf(eta, sizeof eta, "  ETA %ld:%02ld", left / 60, left % 60);
    line += eta;
  }
  line += "\x1b[K";
  std::fwrite(line.data(), 1, line.size(), stderr);
}

void download_verified(const HttpClient& http, const std::string& url, const fs::path& dest,
                       const ExpectedContent& want, const std::string& what,
                       const std::string& expect_commit, Progress* progress, bool durable) {
  fs::path partial = dest;
  partial += ".incomplete";
  std::error_code ec;
  fs::create_directories(dest.parent_path(), ec);
  Retrier retrier(http.settings().retry, "download of " + what);
  bool last_was_mismatch = false;
  for (;;) {
    std::string failure;
    double retry_after = -1;
    Fd f;
    f.fd = ::open(partial.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (f.fd < 0) {
      fail(ErrorKind::kIo, "cannot write ", partial.string(), ": ", std::strerror(errno));
    }
    struct stat st;
    ::fstat(f.fd, &st);
    uint64_t offset = st.st_size;
    if (offset > want.size) {
      if (::ftruncate(f.fd, 0) != 0) fail(ErrorKind::kIo, "cannot truncate ", partial.string());
      offset = 0;
    }
    ::lseek(f.fd, offset, SEEK_SET);
    ContentHashers hashers(want);
    hash_prefix(f.fd, offset, hashers);
    if (progress) progress->add_bytes(offset);
    FileSink sink(f.fd, offset, want.size, hashers, progress);
    bool complete = offset == want.size && offset > 0;
    bool restart = false;  // the bytes on disk are useless: truncate and start from zero
    if (!complete) {
      HttpRequest req;
      req.url = url;
      req.timeout_ms = 0;
      req.stall_timeout_s = http.settings().stall_timeout_s;
      req.sink = &sink;
      req.headers.emplace_back("Accept-Encoding", "identity");
      if (offset > 0) req.headers.emplace_back("Range", "bytes=" + std::to_string(offset) + "-");
      try {
        HttpResponse res = http.perform(req);
        std::string served = res.origin_header("x-repo-commit");
        if (!expect_commit.empty() && !served.empty() && served != expect_commit) {
          fail(ErrorKind::kVerification, "the hub served ", what, " from commit ", served,
               " when commit ", expect_commit, " was requested (", url, ")");
        }
        if (res.status == 416) {
          restart = true;
          failure = "the hub refused the resume range (HTTP 416)";
        } else if (res.status < 200 || res.status >= 300) {
          HttpClient::throw_for_status(req, res);
        } else if (sink.total() < want.size) {
          failure = "the body ended after " + std::to_string(sink.total()) + " of " +
                    std::to_string(want.size) + " bytes";
        } else {
          complete = true;
        }
      } catch (const HttpError& e) {
        if (sink.too_long) {
          restart = true;
          last_was_mismatch = true;
          failure = "the body is longer than the expected " + std::to_string(want.size) + " bytes";
        } else if (sink.bad_range) {
          restart = true;
          failure = "the hub answered the resume request with the wrong range";
        } else if (sink.write_errno) {
          fail(ErrorKind::kIo, "cannot write ", partial.string(), ": ",
               std::strerror(sink.write_errno));
        } else if (e.retryable()) {
          failure = e.what();
          retry_after = e.retry_after_s();
        } else {
          if (offset == 0 && sink.total() == 0) ::unlink(partial.c_str());  // nothing to resume
          throw;
        }
      }
    }
    if (complete) {
      std::string mismatch = hashers.check();
      if (mismatch.empty()) {
        if (durable) ::fdatasync(f.fd);
        if (::rename(partial.c_str(), dest.c_str()) != 0) {
          fail(ErrorKind::kIo, "cannot move ", partial.string(),
               " into place: ", std::strerror(errno));
        }
        return;
      }
      // Corrupted bytes cannot be resumed: discard them and start from zero.
      restart = true;
      failure = "the content does not match: " + mismatch;
      last_was_mismatch = true;
    } else if (!restart) {
      last_was_mismatch = false;  // a short body: the next attempt resumes the partial file
    }
    if (restart && ::ftruncate(f.fd, 0) != 0) {
      fail(ErrorKind::kIo, "cannot truncate ", partial.string());
    }
    if (progress) progress->add_bytes(-static_cast<int64_t>(sink.total()));
    log_info(what, ": ", failure);
    if (!retrier.wait_before_retry(retry_after)) {
      ::close(f.fd);
      f.fd = -1;
      if (last_was_mismatch) ::unlink(partial.c_str());
      fail(last_was_mismatch ? ErrorKind::kVerification : ErrorKind::kNetwork, "download of ", what,
           " from ", url, " failed after ", retrier.attempt(), " attempts: ", failure,
           last_was_mismatch ? "" : " (the partial file is kept and resumes on the next try)");
    }
  }
}

void parallel_for(size_t n, int workers, const std::function<void(size_t)>& fn) {
  if (n == 0) return;
  size_t threads = std::min<size_t>(n, std::max(1, workers));
  std::atomic<size_t> next{0};
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::exception_ptr first;
  int failures = 0;
  auto run = [&] {
    for (;;) {
      if (stop) return;
      size_t i = next++;
      if (i >= n) return;
      try {
        fn(i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mu);
        if (!first) first = std::current_exception();
        ++failures;
        stop = true;
      }
    }
  };
  if (threads == 1) {
    run();
  } else {
    std::vector<std::thread> pool;
    for (size_t t = 0; t < threads; ++t) pool.emplace_back(run);
    for (auto& t : pool) t.join();
  }
  if (!first) return;
  if (failures == 1) std::rethrow_exception(first);
  try {
    std::rethrow_exception(first);
  } catch (const Error& e) {
    throw Error(e.kind(), std::string(e.what()) + " (and " + std::to_string(failures - 1) +
                              " other download(s) failed)");
  }
}

}  // namespace khub::hub::net
