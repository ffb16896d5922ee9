#include "hub/source/local_kernels.h"

#include <fstream>
#include <sstream>

#include "core/error.h"
#include "hub/source/local_hub.h"
#include "hub/source/revision_id.h"
#include "loader/safe_path.h"

namespace khub::hub {
namespace fs = std::filesystem;

std::map<std::string, fs::path> local_variant_folders(const fs::path& path) {
  std::error_code ec;
  if (!fs::is_directory(path, ec)) {
    fail(ErrorKind::kNotFound, path.string(), ": no such kernel folder");
  }
  std::map<std::string, fs::path> out;
  if (fs::exists(path / "metadata.json", ec)) {
    fs::path canon = fs::weakly_canonical(path, ec);
    out[canon.filename().string()] = path;
    return out;
  }
  fs::path root = fs::is_directory(path / "build", ec) ? path / "build" : path;
  for (const auto& e : fs::directory_iterator(root, ec)) {
    if (e.is_directory() && e.path().filename().string().rfind(".", 0) != 0) {
      out[e.path().filename().string()] = e.path();
    }
  }
  return out;
}

LocalKernelsSource LocalKernelsSource::parse(const std::string& value) {
  std::map<std::string, fs::path> repos;
  size_t start = 0;
  while (start <= value.size()) {
    size_t colon = value.find(':', start);
    std::string entry =
        value.substr(start, colon == std::string::npos ? std::string::npos : colon - start);
    if (!entry.empty()) {
      size_t eq = entry.find('=');
      if (eq == std::string::npos || eq == 0 || eq + 1 == entry.size()) {
        fail(ErrorKind::kInvalidArgument, "LOCAL_KERNELS entry '", entry,
             "' is not org/repo=/path (entries are separated by ':')");
      }
      std::string repo = entry.substr(0, eq);
      try {
        split_repo_id(repo);
      } catch (const Error& e) {
        fail(ErrorKind::kInvalidArgument, "LOCAL_KERNELS entry '", entry, "': ", e.what());
      }
      repos[repo] = entry.substr(eq + 1);
    }
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  return LocalKernelsSource(std::move(repos));
}

fs::path LocalKernelsSource::folder(const std::string& repo_id) const {
  auto it = repos_.find(repo_id);
  if (it == repos_.end()) fail(ErrorKind::kNotFound, "LOCAL_KERNELS does not name ", repo_id);
  return it->second;
}

std::string LocalKernelsSource::current_revision(const std::string& repo_id) {
  return local_folder_revision(folder(repo_id));
}

std::vector<TreeEntry> LocalKernelsSource::list_files(const std::string& repo_id,
                                                      const std::string&) {
  std::vector<TreeEntry> out;
  for (const auto& [name, dir] : local_variant_folders(folder(repo_id))) {
    std::error_code ec;
    fs::recursive_directory_iterator it(dir, fs::directory_options::none, ec), end;
    for (; !ec && it != end; it.increment(ec)) {
      if (!it->is_regular_file()) continue;
      std::string rel = it->path().lexically_relative(dir).generic_string();
      out.push_back({"build/" + name + "/" + rel, static_cast<uint64_t>(it->file_size()), ""});
    }
  }
  return out;
}

std::vector<std::string> LocalKernelsSource::list_variants(const std::string& repo_id,
                                                           const std::string&) {
  std::vector<std::string> out;
  for (const auto& [name, dir] : local_variant_folders(folder(repo_id))) out.push_back(name);
  return out;
}

std::string LocalKernelsSource::read_file(const std::string& repo_id, const std::string&,
                                          const std::string& path) {
  std::string why = loader::check_relative_path(path);
  if (!why.empty() || path.rfind("build/", 0) != 0) {
    fail(ErrorKind::kInvalidArgument, "path '", path,
         "': ", why.empty() ? "not under build/" : why);
  }
  std::string rest = path.substr(6);
  size_t slash = rest.find('/');
  auto variants = local_variant_folders(folder(repo_id));
  auto it = slash == std::string::npos ? variants.end() : variants.find(rest.substr(0, slash));
  if (it == variants.end()) fail(ErrorKind::kNotFound, repo_id, " (LOCAL_KERNELS): no file ", path);
  fs::path file = it->second / rest.substr(slash + 1);
  std::ifstream in(file, std::ios::binary);
  if (!in) fail(ErrorKind::kNotFound, file.string(), ": no such file");
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

MaterializedVariant LocalKernelsSource::materialize_variant(const std::string& repo_id,
                                                            const std::string&,
                                                            const std::string& variant) {
  fs::path root = folder(repo_id);
  auto variants = local_variant_folders(root);
  auto it = variants.find(variant);
  if (it == variants.end()) {
    fail(ErrorKind::kNotFound, repo_id, " (LOCAL_KERNELS ", root.string(), "): no variant ",
         variant);
  }
  return {it->second, root};
}

}  // namespace khub::hub
