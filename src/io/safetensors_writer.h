// Writing safetensors files byte-for-byte as HF's `safetensors` writes them: tensors sorted by
// descending dtype alignment then by name (so every tensor stays aligned to its element size),
// a compact JSON header ("__metadata__" first, then {"dtype","shape","data_offsets"} per tensor)
// padded with spaces to a multiple of 8 bytes. Files are replaced atomically (atomic_file.h): a
// failure never leaves a half-written file and never clobbers the existing one.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "io/atomic_file.h"

namespace khub {

using SafetensorsMetadata = std::map<std::string, std::string>;

// One tensor for the writer: its name, dtype and shape up front (the header is written first),
// and its data either now or from a producer called when the writer reaches it, so that writing a
// 14 GB random checkpoint holds one tensor in memory at a time. The producer's tensor may live on
// any device and have any strides; it must have the declared dtype and shape.
struct TensorToWrite {
  std::string name;
  DType dtype = DType::kF32;
  Shape shape;
  std::function<Tensor()> produce;

  static TensorToWrite of(std::string name, Tensor tensor);
  // Bytes in the file; throws Error(kInvalidArgument) when the shape is negative or overflows.
  uint64_t nbytes() const;
};

// Throws Error(kInvalidArgument) for an undefined tensor, a duplicate name, the reserved name
// "__metadata__", a name that is not valid UTF-8 or a producer's tensor that does not match its
// declaration; Error(kIo) when the file cannot be written (the old file, if any, is intact).
void write_safetensors(const std::filesystem::path& path,
                       const std::map<std::string, Tensor>& tensors,
                       const SafetensorsMetadata& metadata = {});
void write_safetensors(const std::filesystem::path& path, std::vector<TensorToWrite> tensors,
                       const SafetensorsMetadata& metadata = {});

// The header HF's writer would produce for these tensors, padded, without the length prefix.
// Reorders tensors into file order and fills nothing else; exposed for the sharded writer & tests.
std::string safetensors_header_bytes(std::vector<TensorToWrite>& tensors,
                                     const SafetensorsMetadata& metadata);

// Writes the whole file into out without committing it, for callers that stage several files
// (the sharded writer renames its shards only once all of them are on disk).
void write_safetensors_to(AtomicFileWriter& out, std::vector<TensorToWrite> tensors,
                          const SafetensorsMetadata& metadata);

}  // namespace khub
