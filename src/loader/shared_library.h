// RAII over dlopen. Kernel libraries load with RTLD_LOCAL (their symbols never interpose on other
// libraries, so two versions of one kernel coexist) and RTLD_NOW (a missing dependency fails at
// load time with a message, not at the first call).
#pragma once

#include <filesystem>
#include <string>

#include "loader/library_image.h"

namespace khub::loader {

class SharedLibrary {
 public:
  // Throws Error(kIo) with dlerror()'s text when the library cannot be loaded.
  explicit SharedLibrary(const std::filesystem::path& path);
  // Loads the sealed private copy `image` (loader/library_image.h) that the caller verified, so
  // what runs is exactly what was checked; `name` is what errors and path() show. The image's
  // memfd stays open while the process lives (one descriptor per loaded kernel).
  static SharedLibrary from_image(LibraryImage& image, const std::filesystem::path& name);
  ~SharedLibrary();
  SharedLibrary(const SharedLibrary&) = delete;
  SharedLibrary& operator=(const SharedLibrary&) = delete;
  SharedLibrary(SharedLibrary&& other) noexcept;
  SharedLibrary& operator=(SharedLibrary&& other) noexcept;

  // The address of `name`, or nullptr when the library does not define it.
  void* symbol(const std::string& name) const;
  const std::filesystem::path& path() const { return path_; }

 private:
  SharedLibrary() = default;
  void* handle_ = nullptr;
  std::filesystem::path path_;
};

}  // namespace khub::loader
