#include "io/safetensors_header.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>

#include "core/error.h"
#include "io/json_file.h"
#include "io/quote_untrusted.h"

namespace khub {
namespace {

static_assert(std::endian::native == std::endian::little,
              "safetensors is little-endian; a big-endian host needs byte swapping here");

constexpr DType kAllDTypes[] = {DType::kF64,  DType::kF32,    DType::kF16,   DType::kBF16,
                                DType::kI64,  DType::kI32,    DType::kI16,   DType::kI8,
                                DType::kU8,   DType::kU16,    DType::kU32,   DType::kU64,
                                DType::kBool, DType::kF8E4M3, DType::kF8E5M2};

// Valid safetensors dtypes (newer HF releases) that khub has no element type for.
constexpr std::string_view kKnownUnsupported[] = {"F4", "F6_E2M3", "F6_E3M2", "F8_E8M0", "C64"};

std::string supported_dtype_list() {
  std::string s;
  for (DType d : kAllDTypes) {
    if (!s.empty()) s += ", ";
    s += dtype_safetensors_name(d);
  }
  return s;
}

std::string range_str(uint64_t begin, uint64_t end) {
  std::string s = "[";
  s += std::to_string(begin);
  s += ", ";
  s += std::to_string(end);
  s += ")";
  return s;
}

class EntryParser {
 public:
  EntryParser(std::string_view source, const std::string& name, uint64_t data_size)
      : source_(source), name_(name), data_size_(data_size) {}

  SafetensorsTensorInfo parse(const nlohmann::json& entry) {
    if (!entry.is_object()) {
      bad("the entry must be an object with dtype, shape and data_offsets, got ",
          json_type_name(entry));
    }
    SafetensorsTensorInfo info;
    info.name = name_;
    info.dtype = parse_dtype(field(entry, "dtype"));
    uint64_t numel = parse_shape(field(entry, "shape"), &info.shape);
    parse_offsets(field(entry, "data_offsets"), &info.data_begin, &info.data_end);

    uint64_t nbytes = 0;
    if (__builtin_mul_overflow(numel, static_cast<uint64_t>(dtype_size(info.dtype)), &nbytes)) {
      bad("shape ", shape_str(info.shape), " of dtype ", dtype_safetensors_name(info.dtype),
          " needs more than 2^64 bytes");
    }
    if (info.data_end - info.data_begin != nbytes) {
      bad("shape ", shape_str(info.shape), " of dtype ", dtype_safetensors_name(info.dtype),
          " needs ", nbytes, " bytes, but data_offsets ", range_str(info.data_begin, info.data_end),
          " span ", info.data_end - info.data_begin);
    }
    if (info.data_end > data_size_) {
      bad("data_offsets ", range_str(info.data_begin, info.data_end),
          " reach past the end of the data section (", data_size_,
          " bytes): the file is truncated or the offsets are wrong");
    }
    return info;
  }

 private:
  template <typename... Args>
  [[noreturn]] void bad(const Args&... args) const {
    fail(ErrorKind::kFormat, source_, ": tensor ", quote_untrusted(name_), ": ", args...);
  }

  const nlohmann::json& field(const nlohmann::json& entry, const char* key) const {
    auto it = entry.find(key);
    if (it == entry.end()) bad("missing '", key, "'");
    return *it;
  }

  // A JSON integer in [0, max]; what names the value in messages.
  uint64_t non_negative(const nlohmann::json& v, const std::string& what, uint64_t max) const {
    uint64_t u = 0;
    if (v.is_number_unsigned()) {
      u = v.get<uint64_t>();
    } else if (v.is_number_integer()) {  // nlohmann stores only negative integers (and -0) here
      int64_t i = v.get<int64_t>();
      if (i < 0) bad(what, " is negative (", i, ")");
      u = static_cast<uint64_t>(i);
    } else {
      std::string shown = v.is_number_float() ? v.dump() : std::string(json_type_name(v));
      bad(what, " must be a non-negative integer, got ", shown);
    }
    if (u > max) bad(what, " is ", u, ", larger than ", max);
    return u;
  }

  DType parse_dtype(const nlohmann::json& v) const {
    if (!v.is_string()) bad("dtype must be a string, got ", json_type_name(v));
    const std::string& s = v.get_ref<const std::string&>();
    DType dtype;
    // dtype_parse also takes "f32"/"float32"; the header admits only the upper-case HF names.
    if (dtype_parse(s, &dtype) && dtype_safetensors_name(dtype) == s) return dtype;
    for (std::string_view known : kKnownUnsupported) {
      if (s == known) {
        fail(ErrorKind::kUnsupported, source_, ": tensor ", quote_untrusted(name_), ": dtype ", s,
             " is valid safetensors but not supported by khub (supported: ", supported_dtype_list(),
             ")");
      }
    }
    bad("unknown dtype ", quote_untrusted(s, 40), " (expected one of ", supported_dtype_list(),
        ")");
  }

  // Fills shape and returns the element count; rejects shapes whose element count or whose
  // contiguous strides (the product of the dims, zeros counted as one) overflow int64.
  uint64_t parse_shape(const nlohmann::json& v, Shape* shape) const {
    if (!v.is_array()) bad("shape must be an array of integers, got ", json_type_name(v));
    constexpr uint64_t kMax = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
    uint64_t numel = 1, stride_span = 1;
    shape->reserve(v.size());
    for (size_t i = 0; i < v.size(); ++i) {
      uint64_t d = non_negative(v[i], "shape[" + std::to_string(i) + "]", kMax);
      shape->push_back(static_cast<int64_t>(d));
      if (__builtin_mul_overflow(numel, d, &numel) || numel > kMax ||
          __builtin_mul_overflow(stride_span, std::max<uint64_t>(d, 1), &stride_span) ||
          stride_span > kMax) {
        bad("shape ", v.dump(), " has more elements than fit in 64 bits");
      }
    }
    return numel;
  }

  void parse_offsets(const nlohmann::json& v, uint64_t* begin, uint64_t* end) const {
    if (!v.is_array() || v.size() != 2) {
      bad("data_offsets must be [begin, end], got ",
          v.is_array() ? "an array of " + std::to_string(v.size()) + " values"
                       : std::string(json_type_name(v)));
    }
    constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
    *begin = non_negative(v[0], "data_offsets[0]", kMax);
    *end = non_negative(v[1], "data_offsets[1]", kMax);
    if (*end < *begin) bad("data_offsets [", *begin, ", ", *end, "] end before they begin");
  }

  std::string_view source_;
  const std::string& name_;
  uint64_t data_size_;
};

void parse_metadata(const nlohmann::json& v, std::string_view source,
                    std::map<std::string, std::string>* out) {
  if (!v.is_object()) {
    fail(ErrorKind::kFormat, source, ": __metadata__ must be an object of strings, got ",
         json_type_name(v));
  }
  for (const auto& [key, value] : v.items()) {
    if (!value.is_string()) {
      fail(ErrorKind::kFormat, source, ": __metadata__ value for key ", quote_untrusted(key),
           " must be a string, got ", json_type_name(value));
    }
    (*out)[key] = value.get<std::string>();
  }
}

// The tensors, sorted by offset, must tile [0, data_size) exactly, as HF's reader demands.
void check_tiling(const SafetensorsHeader& h, std::string_view source) {
  uint64_t covered = 0;
  const SafetensorsTensorInfo* prev = nullptr;
  for (const SafetensorsTensorInfo& t : h.tensors) {
    if (t.data_begin < covered) {
      fail(ErrorKind::kFormat, source, ": tensor ", quote_untrusted(t.name), ": data_offsets ",
           range_str(t.data_begin, t.data_end), " overlap tensor ", quote_untrusted(prev->name),
           " at ", range_str(prev->data_begin, prev->data_end));
    }
    if (t.data_begin > covered) {
      if (prev == nullptr) {
        fail(ErrorKind::kFormat, source, ": tensor ", quote_untrusted(t.name),
             ": the first tensor's data must start at offset 0, but it starts at ", t.data_begin);
      }
      fail(ErrorKind::kFormat, source, ": tensor ", quote_untrusted(t.name), ": bytes ",
           range_str(covered, t.data_begin), " between tensor ", quote_untrusted(prev->name),
           " and this tensor belong to no tensor (safetensors data must have no gaps)");
    }
    covered = t.data_end;
    prev = &t;
  }
  if (covered != h.data_size) {
    if (prev == nullptr) {
      fail(ErrorKind::kFormat, source, ": the header lists no tensors but ", h.data_size,
           " data bytes follow it");
    }
    fail(ErrorKind::kFormat, source, ": tensor ", quote_untrusted(prev->name), ": ",
         h.data_size - covered, " bytes after this last tensor belong to no tensor (",
         "the data section has ", h.data_size, " bytes, the tensors cover ", covered, ")");
  }
}

}  // namespace

const SafetensorsTensorInfo* SafetensorsHeader::find(std::string_view name) const {
  auto it = index.find(name);
  return it == index.end() ? nullptr : &tensors[it->second];
}

std::vector<std::string> SafetensorsHeader::names() const {
  std::vector<std::string> out;
  out.reserve(index.size());
  for (const auto& [name, i] : index) out.push_back(name);
  return out;
}

SafetensorsHeader parse_safetensors_header(std::string_view header_json, uint64_t data_size,
                                           std::string_view source) {
  // Depth: root object -> entry -> shape array; anything deeper is not safetensors.
  nlohmann::json root =
      parse_json(header_json, source, {.max_depth = 8, .top_level_key_noun = "tensor"});
  if (!root.is_object()) {
    fail(ErrorKind::kFormat, source, ": the safetensors header must be a JSON object, got ",
         json_type_name(root));
  }
  SafetensorsHeader h;
  h.header_size = header_json.size();
  h.data_size = data_size;
  h.tensors.reserve(root.size());
  for (const auto& [name, entry] : root.items()) {
    if (name == "__metadata__") {
      parse_metadata(entry, source, &h.metadata);
      continue;
    }
    h.tensors.push_back(EntryParser(source, name, data_size).parse(entry));
  }
  std::sort(h.tensors.begin(), h.tensors.end(), [](const auto& a, const auto& b) {
    if (a.data_begin != b.data_begin) return a.data_begin < b.data_begin;
    if (a.data_end != b.data_end) return a.data_end < b.data_end;
    return a.name < b.name;
  });
  check_tiling(h, source);
  for (size_t i = 0; i < h.tensors.size(); ++i) h.index.emplace(h.tensors[i].name, i);
  return h;
}

SafetensorsHeader parse_safetensors_image(const void* data, size_t size, std::string_view source) {
  const auto* bytes = static_cast<const uint8_t*>(data);
  constexpr std::string_view kLfsPointer = "version https://git-lfs";
  if (size >= kLfsPointer.size() &&
      std::memcmp(bytes, kLfsPointer.data(), kLfsPointer.size()) == 0) {
    fail(ErrorKind::kFormat, source,
         ": is a Git LFS pointer file, not tensor data (fetch the real file, e.g. git lfs pull)");
  }
  if (size < 8) {
    fail(ErrorKind::kFormat, source, ": file is ", size,
         " bytes, too short for the 8-byte header length that starts a safetensors file");
  }
  uint64_t n = 0;
  std::memcpy(&n, bytes, 8);
  if (n > kSafetensorsMaxHeaderSize) {
    fail(ErrorKind::kFormat, source, ": header length ", n, " is larger than the ",
         kSafetensorsMaxHeaderSize, "-byte limit (a corrupt file, or not a safetensors file)");
  }
  if (n > size - 8) {
    fail(ErrorKind::kFormat, source, ": header length ", n, " is larger than the file allows (",
         size, " bytes in all): the file is truncated or not a safetensors file");
  }
  if (n == 0 || bytes[8] != '{') {
    fail(ErrorKind::kFormat, source, ": the header does not start with '{' (",
         n == 0 ? "it is empty" : "not a safetensors file?", ")");
  }
  std::string_view text(reinterpret_cast<const char*>(bytes + 8), static_cast<size_t>(n));
  return parse_safetensors_header(text, size - 8 - n, source);
}

}  // namespace khub
