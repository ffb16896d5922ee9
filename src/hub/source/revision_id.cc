#include "hub/source/revision_id.h"

#include <algorithm>

#include "core/error.h"
#include "hub/source/local_kernels.h"
#include "loader/digest.h"
#include "loader/signature.h"

namespace khub::hub {
namespace fs = std::filesystem;

bool is_revision_signature_path(const std::string& path) {
  if (path.rfind("build/", 0) != 0) return false;
  size_t slash = path.find('/', 6);
  return slash != std::string::npos && slash > 6 &&
         loader::is_signature_path(std::string_view(path).substr(slash + 1));
}

std::string revision_id(std::vector<std::pair<std::string, std::string>> files) {
  std::sort(files.begin(), files.end());
  std::string listing;
  for (const auto& [path, hex] : files) {
    if (!is_revision_signature_path(path)) listing += hex + "  " + path + "\n";
  }
  return loader::to_hex(loader::sha256_bytes(listing)).substr(0, 40);
}

std::string local_folder_revision(const fs::path& folder) {
  std::vector<std::pair<std::string, std::string>> files;
  for (const auto& [name, dir] : local_variant_folders(folder)) {
    std::error_code ec;
    fs::recursive_directory_iterator it(dir, fs::directory_options::none, ec), end;
    if (ec) fail(ErrorKind::kIo, dir.string(), ": cannot list: ", ec.message());
    for (; it != end; it.increment(ec)) {
      if (ec) fail(ErrorKind::kIo, dir.string(), ": cannot list: ", ec.message());
      std::string rel = "build/" + name + "/" + it->path().lexically_relative(dir).generic_string();
      if (it->is_symlink()) {
        // Not followed (the target may be anywhere); its name and target still change the id.
        files.emplace_back(rel, loader::to_hex(loader::sha256_bytes(
                                    "symlink " + fs::read_symlink(it->path(), ec).string())));
      } else if (it->is_regular_file()) {
        files.emplace_back(rel, loader::to_hex(loader::sha_file(it->path(), "sha256")));
      }
    }
  }
  return revision_id(std::move(files));
}

}  // namespace khub::hub
