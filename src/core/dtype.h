// Element types. The set covers every dtype Hugging Face writes into safetensors; arithmetic in
// ops/ is defined for the floating types (f32, f16, bf16, f64) and indices (i32, i64).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace khub {

enum class DType : uint8_t {
  kF32,
  kF16,
  kBF16,
  kF64,
  kI8,
  kI16,
  kI32,
  kI64,
  kU8,
  kU16,
  kU32,
  kU64,
  kBool,
  kF8E4M3,
  kF8E5M2,
};

size_t dtype_size(DType dtype);
// Lower-case short name: "f32", "bf16", ... (used by the CLI, manifests and messages).
std::string_view dtype_name(DType dtype);
// Safetensors header name: "F32", "BF16", "F8_E4M3", ...
std::string_view dtype_safetensors_name(DType dtype);
// Accepts both naming styles above and torch-style names ("float32", "bfloat16", "float16").
// Returns false when the name is unknown.
bool dtype_parse(std::string_view name, DType* out);
bool dtype_is_floating(DType dtype);

// bf16 and f16 are stored as raw 16-bit patterns; conversions round to nearest even.
inline float bf16_to_f32(uint16_t v) {
  uint32_t bits = static_cast<uint32_t>(v) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}
inline uint16_t f32_to_bf16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40);  // NaN
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}
float f16_to_f32(uint16_t v);
uint16_t f32_to_f16(float f);

}  // namespace khub
