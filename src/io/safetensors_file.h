// One safetensors file, memory-mapped. Tensors are zero-copy views into the mapping; each view
// holds the mapping alive (Tensor keep-alive owner), so a tensor outlives the SafetensorsFile it
// came from. The whole header is validated at open (see safetensors_header.h), so get() never
// reads outside the file.
//
// HF's writer aligns every tensor to its element size. A file from another writer may not; such a
// tensor is copied into aligned memory on get() (a warning is logged once per file), because
// vectorized code may assume natural alignment and fault otherwise.
#pragma once

#include <atomic>
#include <cstddef>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/tensor.h"
#include "io/mapped_file.h"
#include "io/safetensors_header.h"

namespace khub {

class SafetensorsFile {
 public:
  // Maps and validates the file. Throws Error(kNotFound) for a missing file, Error(kIo) when it
  // cannot be read, Error(kFormat) (naming the file and the tensor) when it is malformed.
  static SafetensorsFile open(const std::filesystem::path& path);

  const std::filesystem::path& path() const { return map_->path(); }
  const SafetensorsHeader& header() const { return state_->header; }
  const std::map<std::string, std::string>& metadata() const { return state_->header.metadata; }

  size_t size() const { return state_->header.tensors.size(); }
  std::vector<std::string> names() const { return state_->header.names(); }  // sorted
  bool has(std::string_view name) const { return state_->header.find(name) != nullptr; }
  // Throws Error(kNotFound) naming the tensor and the file.
  const SafetensorsTensorInfo& info(std::string_view name) const;

  // A CPU tensor viewing the mapped bytes (copied only when misaligned, see above).
  Tensor get(std::string_view name) const;
  // The tensor's raw little-endian bytes inside the mapping.
  std::span<const std::byte> bytes(std::string_view name) const;

  // The mapping, for zero-copy checks.
  const uint8_t* mapping_data() const { return map_->data(); }
  size_t mapping_size() const { return map_->size(); }

 private:
  struct State {
    SafetensorsHeader header;
    mutable std::atomic<bool> warned_misaligned{false};
  };
  SafetensorsFile(std::shared_ptr<MappedFile> map, std::shared_ptr<const State> state)
      : map_(std::move(map)), state_(std::move(state)) {}

  std::shared_ptr<MappedFile> map_;
  std::shared_ptr<const State> state_;
};

}  // namespace khub
