#include "io/safetensors_writer.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <set>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/quote_untrusted.h"
#include "io/safetensors_header.h"

namespace khub {
namespace {

// HF's Dtype enum order, which its writer sorts by (descending): increasing alignment, ties in
// this fixed order. Matching it makes our files byte-identical to HF's.
int hf_dtype_rank(DType d) {
  switch (d) {
    case DType::kBool:
      return 0;
    case DType::kU8:
      return 1;
    case DType::kI8:
      return 2;
    case DType::kF8E5M2:
      return 3;
    case DType::kF8E4M3:
      return 4;
    case DType::kI16:
      return 5;
    case DType::kU16:
      return 6;
    case DType::kF16:
      return 7;
    case DType::kBF16:
      return 8;
    case DType::kI32:
      return 9;
    case DType::kU32:
      return 10;
    case DType::kF32:
      return 11;
    case DType::kF64:
      return 12;
    case DType::kI64:
      return 13;
    case DType::kU64:
      return 14;
  }
  KHUB_ICHECK(false, "dtype without a safetensors rank");
}

std::string json_string(const std::string& s, std::string_view what) {
  try {
    return nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::strict);
  } catch (const nlohmann::json::exception&) {
    fail(ErrorKind::kInvalidArgument, "safetensors ", what, " ", quote_untrusted(s),
         " is not valid UTF-8");
  }
}

void check_tensors(const std::vector<TensorToWrite>& tensors) {
  std::set<std::string_view> seen;
  for (const TensorToWrite& t : tensors) {
    KHUB_CHECK_ARG(t.name != "__metadata__",
                   "'__metadata__' is reserved in safetensors and cannot name a tensor");
    KHUB_CHECK_ARG(seen.insert(t.name).second, "tensor name ", quote_untrusted(t.name),
                   " appears twice in the tensors to write");
    KHUB_CHECK_ARG(static_cast<bool>(t.produce), "tensor ", quote_untrusted(t.name),
                   " has no data");
  }
}

// The tensor as contiguous host bytes, checked against its declaration.
Tensor host_bytes(const TensorToWrite& t) {
  Tensor x = t.produce();
  KHUB_CHECK_ARG(x.defined(), "tensor ", quote_untrusted(t.name), " to write is undefined");
  KHUB_CHECK_ARG(x.dtype() == t.dtype && x.shape() == t.shape, "tensor ", quote_untrusted(t.name),
                 " was declared ", dtype_name(t.dtype), shape_str(t.shape), " but its data is ",
                 x.describe());
  if (!x.device().is_cpu()) x = x.to(Device::cpu());
  return x.contiguous();
}

}  // namespace

TensorToWrite TensorToWrite::of(std::string name, Tensor tensor) {
  KHUB_CHECK_ARG(tensor.defined(), "tensor ", quote_untrusted(name), " to write is undefined");
  TensorToWrite t;
  t.name = std::move(name);
  t.dtype = tensor.dtype();
  t.shape = tensor.shape();
  t.produce = [tensor = std::move(tensor)] { return tensor; };
  return t;
}

uint64_t TensorToWrite::nbytes() const {
  uint64_t n = dtype_size(dtype);
  for (int64_t d : shape) {
    KHUB_CHECK_ARG(d >= 0, "tensor ", quote_untrusted(name), " has a negative dimension in ",
                   shape_str(shape));
    KHUB_CHECK_ARG(!__builtin_mul_overflow(n, static_cast<uint64_t>(d), &n), "tensor ",
                   quote_untrusted(name), " of shape ", shape_str(shape), " is too large");
  }
  return n;
}

std::string safetensors_header_bytes(std::vector<TensorToWrite>& tensors,
                                     const SafetensorsMetadata& metadata) {
  check_tensors(tensors);
  std::sort(tensors.begin(), tensors.end(), [](const TensorToWrite& a, const TensorToWrite& b) {
    int ra = hf_dtype_rank(a.dtype), rb = hf_dtype_rank(b.dtype);
    return ra != rb ? ra > rb : a.name < b.name;
  });
  std::string h = "{";
  if (!metadata.empty()) {
    h += "\"__metadata__\":{";
    bool first = true;
    for (const auto& [k, v] : metadata) {
      if (!first) h += ',';
      first = false;
      h += json_string(k, "metadata key") + ":" + json_string(v, "metadata value");
    }
    h += "}";
  }
  uint64_t offset = 0;
  for (const TensorToWrite& t : tensors) {
    if (h.size() > 1) h += ',';
    uint64_t n = t.nbytes();
    h += json_string(t.name, "tensor name");
    h += ":{\"dtype\":\"";
    h += dtype_safetensors_name(t.dtype);
    h += "\",\"shape\":[";
    for (size_t i = 0; i < t.shape.size(); ++i) {
      if (i) h += ',';
      h += std::to_string(t.shape[i]);
    }
    KHUB_CHECK_ARG(offset <= std::numeric_limits<uint64_t>::max() - n,
                   "the tensors to write exceed 2^64 bytes");
    h += "],\"data_offsets\":[" + std::to_string(offset) + "," + std::to_string(offset + n) + "]}";
    offset += n;
  }
  h += "}";
  h.append((8 - h.size() % 8) % 8, ' ');
  KHUB_CHECK_ARG(h.size() <= kSafetensorsMaxHeaderSize, "the safetensors header for ",
                 tensors.size(), " tensors would be ", h.size(),
                 " bytes, more than readers accept (", kSafetensorsMaxHeaderSize, ")");
  return h;
}

void write_safetensors_to(AtomicFileWriter& out, std::vector<TensorToWrite> tensors,
                          const SafetensorsMetadata& metadata) {
  std::string header = safetensors_header_bytes(tensors, metadata);
  uint64_t n = header.size();
  unsigned char prefix[8];
  for (int i = 0; i < 8; ++i) prefix[i] = static_cast<unsigned char>(n >> (8 * i));
  out.write(prefix, 8);
  out.write(header);
  for (const TensorToWrite& t : tensors) {
    Tensor x = host_bytes(t);
    out.write(x.data(), x.nbytes());
  }
}

void write_safetensors(const std::filesystem::path& path, std::vector<TensorToWrite> tensors,
                       const SafetensorsMetadata& metadata) {
  AtomicFileWriter out(path);
  write_safetensors_to(out, std::move(tensors), metadata);
  out.commit();
}

void write_safetensors(const std::filesystem::path& path,
                       const std::map<std::string, Tensor>& tensors,
                       const SafetensorsMetadata& metadata) {
  std::vector<TensorToWrite> list;
  list.reserve(tensors.size());
  for (const auto& [name, tensor] : tensors) list.push_back(TensorToWrite::of(name, tensor));
  write_safetensors(path, std::move(list), metadata);
}

}  // namespace khub
