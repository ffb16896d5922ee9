// The exact bytes the loader loads (docs/design.md §7): a kernel library is opened once, read
// through that descriptor, and everything after — the digest and signature comparison, the ELF
// export check and dlopen itself — works on those bytes, so replacing the file between the check
// and the load changes nothing (no check-then-open race). dlopen reads a private, sealed memfd copy
// (SharedLibrary::from_image) instead of the path.
#pragma once

#include <filesystem>
#include <string>

namespace khub::loader {

struct LibraryImage {
  std::string bytes;
  std::filesystem::path real_path;  // where the opened descriptor's file lives (symlinks resolved)
};

// Opens `library`, refuses a non-regular file and one whose real location (read back from the
// open descriptor) is outside `trust_root` (when not empty), and reads it whole. Throws
// Error(kNotFound / kVerification / kIo) naming the file.
LibraryImage read_library_image(const std::filesystem::path& library,
                                const std::filesystem::path& trust_root);

}  // namespace khub::loader
