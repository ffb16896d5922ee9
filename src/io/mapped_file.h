// A whole file mapped into memory, RAII. The mapping is private and copy-on-write: tensors are
// zero-copy views into it, and a write through such a view (an in-place weight update while
// training) changes only this process's copy of the page, never the file and never a SIGSEGV.
// MAP_NORESERVE keeps a 15 GB shard from counting against the commit limit up front.
//
// A file that another process truncates while it is mapped makes the lost pages raise SIGBUS on
// access; like every mmap-based loader (llama.cpp, safetensors) we do not guard against that.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>

namespace khub {

class MappedFile {
 public:
  // Throws Error(kNotFound) when the file does not exist, Error(kIo) when it cannot be opened,
  // is not a regular file, or cannot be mapped.
  static std::shared_ptr<MappedFile> open(const std::filesystem::path& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  // Null when the file is empty.
  uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::filesystem::path& path() const { return path_; }

 private:
  MappedFile() = default;

  std::filesystem::path path_;
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace khub
