#include "io/safetensors_model_files.h"

#include <algorithm>

#include "core/error.h"
#include "core/logging.h"
#include "io/json_file.h"
#include "io/quote_untrusted.h"

namespace khub {
namespace {

namespace fs = std::filesystem;

// The index comes with the checkpoint and may be hostile: a shard name must stay inside the
// checkpoint directory.
bool is_plain_file_name(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos &&
         name.find('\0') == std::string::npos;
}

std::string list_safetensors_in(const fs::path& dir) {
  std::vector<std::string> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::string name = entry.path().filename().string();
    if (name.ends_with(".safetensors") || name.ends_with(".safetensors.index.json")) {
      found.push_back(name);
    }
  }
  std::sort(found.begin(), found.end());
  if (found.empty()) return "it holds no .safetensors files";
  std::string s = "it holds: ";
  for (size_t i = 0; i < found.size() && i < 8; ++i)
    s += (i ? ", " : "") + quote_untrusted(found[i]);
  if (found.size() > 8) s += ", ... (" + std::to_string(found.size()) + " in all)";
  return s;
}

}  // namespace

SafetensorsModelFiles SafetensorsModelFiles::open(const fs::path& path) {
  SafetensorsModelFiles m;
  std::error_code ec;
  if (fs::is_regular_file(path, ec)) {
    m.dir_ = path.parent_path().empty() ? fs::path(".") : path.parent_path();
    m.files_.push_back(SafetensorsFile::open(path));
  } else if (!fs::is_directory(path, ec)) {
    fail(ErrorKind::kNotFound, path.string(), ": no such checkpoint directory or file");
  } else {
    m.dir_ = path;
    fs::path single = path / kSafetensorsSingleFile;
    fs::path index = path / kSafetensorsIndexFile;
    bool has_single = fs::exists(single, ec), has_index = fs::exists(index, ec);
    if (has_single) {
      if (has_index) {
        log_info(path.string(), ": both ", kSafetensorsSingleFile, " and ", kSafetensorsIndexFile,
                 " exist; using ", kSafetensorsSingleFile, " as transformers does");
      }
      m.files_.push_back(SafetensorsFile::open(single));
    } else if (has_index) {
      m.open_index(index);
      return m;
    } else {
      fail(ErrorKind::kNotFound, path.string(), ": no ", kSafetensorsSingleFile, " or ",
           kSafetensorsIndexFile, " in this directory; ", list_safetensors_in(path));
    }
  }
  for (const std::string& name : m.files_[0].names()) m.where_.emplace(name, 0);
  return m;
}

void SafetensorsModelFiles::open_index(const fs::path& index_path) {
  index_path_ = index_path;
  const std::string source = index_path.string();
  nlohmann::json root = read_json_file(index_path);
  if (!root.is_object()) {
    fail(ErrorKind::kFormat, source, ": the index must be a JSON object, got ",
         json_type_name(root));
  }
  if (auto it = root.find("metadata"); it != root.end() && !it->is_null()) {
    if (!it->is_object()) {
      fail(ErrorKind::kFormat, source, ": 'metadata' must be an object, got ", json_type_name(*it));
    }
    index_metadata_ = *it;
  }
  auto map_it = root.find("weight_map");
  if (map_it == root.end()) fail(ErrorKind::kFormat, source, ": missing 'weight_map'");
  if (!map_it->is_object()) {
    fail(ErrorKind::kFormat, source,
         ": 'weight_map' must be an object of tensor -> shard file, got ", json_type_name(*map_it));
  }

  // shard file name -> the tensors the index puts there
  std::map<std::string, std::vector<std::string>> by_shard;
  for (const auto& [tensor, shard] : map_it->items()) {
    if (!shard.is_string()) {
      fail(ErrorKind::kFormat, source, ": weight_map entry for tensor ", quote_untrusted(tensor),
           " must be a shard file name (string), got ", json_type_name(shard));
    }
    const std::string& shard_name = shard.get_ref<const std::string&>();
    if (!is_plain_file_name(shard_name)) {
      fail(ErrorKind::kFormat, source, ": weight_map entry for tensor ", quote_untrusted(tensor),
           " names shard ", quote_untrusted(shard_name),
           "; a shard must be a plain file name inside the checkpoint directory");
    }
    by_shard[shard_name].push_back(tensor);
  }

  for (auto& [shard_name, tensors] : by_shard) {
    fs::path shard_path = dir_ / shard_name;
    std::error_code ec;
    if (!fs::exists(shard_path, ec)) {
      fail(ErrorKind::kNotFound, source, ": shard ", quote_untrusted(shard_name),
           " (holding tensor ", quote_untrusted(tensors.front()),
           tensors.size() > 1 ? " and others" : "", ") does not exist in ", dir_.string());
    }
    SafetensorsFile file = SafetensorsFile::open(shard_path);
    for (const std::string& tensor : tensors) {
      if (!file.has(tensor)) {
        fail(ErrorKind::kFormat, source, ": tensor ", quote_untrusted(tensor),
             " is mapped to shard ", quote_untrusted(shard_name),
             ", but that shard has no tensor of that name");
      }
      where_.emplace(tensor, files_.size());
    }
    if (file.size() > tensors.size()) {
      log_debug(shard_path.string(), ": ", file.size() - tensors.size(),
                " tensors are not listed in the index and are ignored");
    }
    files_.push_back(std::move(file));
  }
}

std::vector<std::string> SafetensorsModelFiles::names() const {
  std::vector<std::string> out;
  out.reserve(where_.size());
  for (const auto& [name, i] : where_) out.push_back(name);
  return out;
}

const SafetensorsFile& SafetensorsModelFiles::file_of(std::string_view name) const {
  auto it = where_.find(name);
  if (it == where_.end()) {
    fail(ErrorKind::kNotFound, "checkpoint ", dir_.string(), ": no tensor named ",
         quote_untrusted(name), " (", where_.size(), " tensors in ", files_.size(),
         sharded() ? " shards)" : " file)");
  }
  return files_[it->second];
}

const SafetensorsTensorInfo& SafetensorsModelFiles::info(std::string_view name) const {
  return file_of(name).info(name);
}

Tensor SafetensorsModelFiles::get(std::string_view name) const { return file_of(name).get(name); }

}  // namespace khub
