// Writing a file so that readers see either the old file or the complete new one, never a partial
// one. Bytes go to a temporary file in the target's directory (same filesystem, so rename is
// atomic), which is fsync'ed, renamed over the target, and the directory is fsync'ed so the rename
// survives a crash. Until commit, the target is untouched; a writer destroyed before commit (an
// exception, a full disk) removes its temporary file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string_view>

namespace khub {

class AtomicFileWriter {
 public:
  // Creates the temporary file next to target; throws Error(kIo) naming the directory on failure.
  explicit AtomicFileWriter(std::filesystem::path target);
  ~AtomicFileWriter();
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;
  AtomicFileWriter(AtomicFileWriter&& other) noexcept;
  AtomicFileWriter& operator=(AtomicFileWriter&& other) = delete;

  void write(const void* data, size_t nbytes);
  void write(std::string_view text) { write(text.data(), text.size()); }

  // fsync + close the temporary file, then rename it over the target and fsync the directory.
  void commit();
  // The two halves of commit(), for callers that stage several files (shards) and rename them all
  // only once every one of them is safely on disk.
  void sync();
  void rename_into_place();

  const std::filesystem::path& target() const { return target_; }
  const std::filesystem::path& temp_path() const { return temp_; }
  uint64_t bytes_written() const { return written_; }

 private:
  void discard() noexcept;

  std::filesystem::path target_;
  std::filesystem::path temp_;
  int fd_ = -1;
  bool synced_ = false;
  bool committed_ = false;
  uint64_t written_ = 0;
};

// Replaces path's contents with contents, atomically (see AtomicFileWriter).
void write_file_atomic(const std::filesystem::path& path, std::string_view contents);

// fsync on a directory, so that a rename or unlink inside it is durable. Filesystems that cannot
// sync directories (EINVAL) are accepted; other failures throw Error(kIo).
void fsync_directory(const std::filesystem::path& dir);

}  // namespace khub
