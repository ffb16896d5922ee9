// A checkpoint's weights: either one model.safetensors or shards listed by
// model.safetensors.index.json ({"metadata": {...}, "weight_map": {tensor: shard file}}), the
// layout transformers' save_pretrained writes. Opening validates everything up front: every shard
// exists and parses, and every tensor the index names is in the shard the index points to.
#pragma once

#include <cstddef>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/tensor.h"
#include "io/safetensors_file.h"

namespace khub {

inline constexpr std::string_view kSafetensorsSingleFile = "model.safetensors";
inline constexpr std::string_view kSafetensorsIndexFile = "model.safetensors.index.json";

class SafetensorsModelFiles {
 public:
  // path is a checkpoint directory, or a .safetensors file. In a directory, model.safetensors
  // wins over the index when both exist (as in transformers). Throws Error(kNotFound) when neither
  // exists or a shard is missing, Error(kFormat) for a malformed index or shard.
  static SafetensorsModelFiles open(const std::filesystem::path& path);

  const std::filesystem::path& dir() const { return dir_; }
  bool sharded() const { return !index_path_.empty(); }
  const std::filesystem::path& index_path() const { return index_path_; }  // empty if not sharded
  // The index's "metadata" object (e.g. total_size); an empty object when there is none.
  const nlohmann::json& index_metadata() const { return index_metadata_; }
  const std::vector<SafetensorsFile>& files() const { return files_; }

  size_t size() const { return where_.size(); }
  std::vector<std::string> names() const;  // sorted
  bool has(std::string_view name) const { return where_.find(name) != where_.end(); }
  // These throw Error(kNotFound) naming the tensor and the checkpoint.
  const SafetensorsFile& file_of(std::string_view name) const;
  const SafetensorsTensorInfo& info(std::string_view name) const;
  Tensor get(std::string_view name) const;

 private:
  void open_index(const std::filesystem::path& index_path);

  std::filesystem::path dir_;
  std::filesystem::path index_path_;
  nlohmann::json index_metadata_ = nlohmann::json::object();
  std::vector<SafetensorsFile> files_;
  std::map<std::string, size_t, std::less<>> where_;  // tensor name -> index into files_
};

}  // namespace khub
