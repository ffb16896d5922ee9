#include "core/dtype.h"

#include <cmath>
#include <string>

namespace khub {
namespace {

struct DTypeInfo {
  DType dtype;
  size_t size;
  const char* name;
  const char* st_name;
  const char* torch_name;
};

constexpr DTypeInfo kInfo[] = {
    {DType::kF32, 4, "f32", "F32", "float32"},
    {DType::kF16, 2, "f16", "F16", "float16"},
    {DType::kBF16, 2, "bf16", "BF16", "bfloat16"},
    {DType::kF64, 8, "f64", "F64", "float64"},
    {DType::kI8, 1, "i8", "I8", "int8"},
    {DType::kI16, 2, "i16", "I16", "int16"},
    {DType::kI32, 4, "i32", "I32", "int32"},
    {DType::kI64, 8, "i64", "I64", "int64"},
    {DType::kU8, 1, "u8", "U8", "uint8"},
    {DType::kU16, 2, "u16", "U16", "uint16"},
    {DType::kU32, 4, "u32", "U32", "uint32"},
    {DType::kU64, 8, "u64", "U64", "uint64"},
    {DType::kBool, 1, "bool", "BOOL", "bool"},
    {DType::kF8E4M3, 1, "f8e4m3", "F8_E4M3", "float8_e4m3fn"},
    {DType::kF8E5M2, 1, "f8e5m2", "F8_E5M2", "float8_e5m2"},
};

const DTypeInfo& info(DType d) { return kInfo[static_cast<int>(d)]; }

}  // namespace

size_t dtype_size(DType dtype) { return info(dtype).size; }
std::string_view dtype_name(DType dtype) { return info(dtype).name; }
std::string_view dtype_safetensors_name(DType dtype) { return info(dtype).st_name; }

bool dtype_parse(std::string_view name, DType* out) {
  for (const auto& i : kInfo) {
    if (name == i.name || name == i.st_name || name == i.torch_name) {
      *out = i.dtype;
      return true;
    }
  }
  if (name == "float") return *out = DType::kF32, true;
  if (name == "half") return *out = DType::kF16, true;
  return false;
}

bool dtype_is_floating(DType dtype) {
  return dtype == DType::kF32 || dtype == DType::kF16 || dtype == DType::kBF16 ||
         dtype == DType::kF64;
}

float f16_to_f32(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: value = mant * 2^-24
      float f = std::ldexp(static_cast<float>(mant), -24);
      return sign ? -f : f;
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t f32_to_f16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t absx = x & 0x7fffffffu;
  if (absx > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u);   // NaN
  if (absx >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // overflow -> inf
  if (absx < 0x38800000u) {  // subnormal or zero in f16: round(|f| * 2^24)
    float a;
    std::memcpy(&a, &absx, 4);
    float scaled = a * 16777216.0f;  // exact
    uint32_t m = static_cast<uint32_t>(std::nearbyint(scaled));
    return static_cast<uint16_t>(sign | m);
  }
  uint32_t exp = (absx >> 23) - 112;
  uint32_t mant = absx & 0x7fffffu;
  uint32_t h = (exp << 10) | (mant >> 13);
  uint32_t rem = mant & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;
  return static_cast<uint16_t>(sign | h);
}

}  // namespace khub
