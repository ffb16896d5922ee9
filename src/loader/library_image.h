// The exact bytes the loader loads (docs/design.md §7): a kernel library is opened once and copied
// through that descriptor, inside the kernel, into a private memfd that is then sealed against any
// change; everything after — the digest and signature comparison, the ELF export check and
// dlopen itself (SharedLibrary::from_image) — works on that sealed copy, read through a read-only
// mapping of it. Replacing or rewriting the file between the check and the load changes nothing
// (no check-then-open race), and what is hashed is literally what dlopen maps.
#pragma once

#include <filesystem>
#include <string_view>

namespace khub::loader {

class LibraryImage {
 public:
  LibraryImage() = default;
  ~LibraryImage();
  LibraryImage(LibraryImage&& other) noexcept;
  LibraryImage& operator=(LibraryImage&& other) noexcept;
  LibraryImage(const LibraryImage&) = delete;
  LibraryImage& operator=(const LibraryImage&) = delete;

  // The sealed copy's bytes (valid while this image lives).
  std::string_view bytes() const { return {data_, size_}; }
  const std::filesystem::path& real_path() const { return real_path_; }
  // The sealed memfd; release_fd() hands it over (SharedLibrary keeps it open for dlopen).
  int fd() const { return fd_; }
  int release_fd();

 private:
  friend LibraryImage read_library_image(const std::filesystem::path&,
                                         const std::filesystem::path&);
  int fd_ = -1;
  const char* data_ = nullptr;  // a read-only shared mapping of the memfd
  size_t size_ = 0;
  std::filesystem::path real_path_;  // where the opened file lives (symlinks resolved)
};

// Opens `library`, refuses a non-regular file and one whose real location (read back from the
// open descriptor) is outside `trust_root` (when not empty), copies it whole into a sealed memfd
// and maps that. Throws Error(kNotFound / kVerification / kIo) naming the file; a file that grows
// or shrinks while being copied is refused.
LibraryImage read_library_image(const std::filesystem::path& library,
                                const std::filesystem::path& trust_root);

}  // namespace khub::loader
