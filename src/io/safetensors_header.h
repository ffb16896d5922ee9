// The safetensors header: parsing and validation, from memory.
//
// Format (huggingface/safetensors): an 8-byte little-endian length N, N bytes of UTF-8 JSON
// mapping each tensor name to {"dtype", "shape", "data_offsets": [begin, end]} plus an optional
// "__metadata__" object of strings, then the data section: row-major little-endian bytes, offsets
// relative to its start. HF's reader requires the tensors to tile the data section exactly (no
// overlaps, no gaps, no trailing bytes); we require the same, so a file loads here iff it loads
// with `safetensors`.
//
// Everything here works on bytes in memory, so the file reader (over an mmap), the fuzzer (over
// arbitrary bytes) and tests share one parser. Every failure is Error(kFormat) whose message
// starts with the source name and, when one tensor is at fault, names it; a dtype that is valid
// safetensors but unknown to khub (F8_E8M0, F4, C64, ...) is Error(kUnsupported).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/dtype.h"
#include "core/tensor.h"

namespace khub {

// HF's reader refuses larger headers; so do we (a corrupt length must not make us parse 2^64).
constexpr uint64_t kSafetensorsMaxHeaderSize = 100'000'000;

struct SafetensorsTensorInfo {
  std::string name;
  DType dtype = DType::kF32;
  Shape shape;
  uint64_t data_begin = 0;  // byte offsets inside the data section
  uint64_t data_end = 0;
  uint64_t nbytes() const { return data_end - data_begin; }
};

struct SafetensorsHeader {
  uint64_t header_size = 0;                     // N: the JSON header's length, padding included
  uint64_t data_size = 0;                       // bytes in the data section
  std::vector<SafetensorsTensorInfo> tensors;   // ordered by data_begin
  std::map<std::string, std::string> metadata;  // "__metadata__"; empty when absent

  // Where the data section begins in the file.
  uint64_t data_offset() const { return 8 + header_size; }
  // Null when no tensor has this name.
  const SafetensorsTensorInfo* find(std::string_view name) const;
  // Tensor names in sorted order.
  std::vector<std::string> names() const;

  // name -> index into tensors; filled by the parser.
  std::map<std::string, size_t, std::less<>> index;
};

// Parses header JSON (without the length prefix) and validates every entry against a data
// section of data_size bytes. header_size is set to header_json.size().
SafetensorsHeader parse_safetensors_header(std::string_view header_json, uint64_t data_size,
                                           std::string_view source);

// Parses a complete safetensors image in memory: length prefix, header, data section.
SafetensorsHeader parse_safetensors_image(const void* data, size_t size, std::string_view source);

}  // namespace khub
