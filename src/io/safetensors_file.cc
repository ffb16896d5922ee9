#include "io/safetensors_file.h"

#include <cstring>

#include "core/error.h"
#include "core/logging.h"
#include "io/quote_untrusted.h"

namespace khub {

SafetensorsFile SafetensorsFile::open(const std::filesystem::path& path) {
  std::shared_ptr<MappedFile> map = MappedFile::open(path);
  auto state = std::make_shared<State>();
  state->header = parse_safetensors_image(map->data(), map->size(), path.string());
  return SafetensorsFile(std::move(map), std::move(state));
}

const SafetensorsTensorInfo& SafetensorsFile::info(std::string_view name) const {
  const SafetensorsTensorInfo* info = state_->header.find(name);
  if (info == nullptr) {
    fail(ErrorKind::kNotFound, path().string(), ": no tensor named ", quote_untrusted(name),
         " (the file has ", size(), " tensors)");
  }
  return *info;
}

std::span<const std::byte> SafetensorsFile::bytes(std::string_view name) const {
  const SafetensorsTensorInfo& t = info(name);
  // The header was validated against this mapping's size, so the range lies inside it.
  const auto* base = reinterpret_cast<const std::byte*>(map_->data());
  return {base + header().data_offset() + t.data_begin, static_cast<size_t>(t.nbytes())};
}

Tensor SafetensorsFile::get(std::string_view name) const {
  const SafetensorsTensorInfo& t = info(name);
  uint64_t offset = header().data_offset() + t.data_begin;
  uint8_t* ptr = map_->data() + offset;
  // The mapping is page-aligned, so the file offset decides the alignment.
  if (offset % dtype_size(t.dtype) != 0) {
    if (!state_->warned_misaligned.exchange(true)) {
      log_warn(path().string(), ": tensor ", quote_untrusted(t.name), " (",
               dtype_safetensors_name(t.dtype),
               ") is not aligned to its element size in the file; misaligned tensors are copied ",
               "on load (files written by HF's safetensors are always aligned)");
    }
    Tensor copy = Tensor::empty(t.shape, t.dtype);
    if (t.nbytes() > 0) std::memcpy(copy.data(), ptr, static_cast<size_t>(t.nbytes()));
    return copy;
  }
  return Tensor::from_blob(ptr, t.shape, t.dtype, Device::cpu(), map_);
}

}  // namespace khub
