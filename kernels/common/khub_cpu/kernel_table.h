// Picking a kernel's row functions at run time: each kernel has one table per ISA (filled by its
// ISA translation units) with one entry per storage type, named f32 / bf16 / f16.
#ifndef KHUB_CPU_KERNEL_TABLE_H_
#define KHUB_CPU_KERNEL_TABLE_H_

#include <type_traits>

#include "half.h"
#include "isa.h"

namespace khub_cpu {

template <typename Table>
const Table& table_for_isa(Isa isa, const Table& scalar, const Table& avx2, const Table& avx512,
                           const Table& avx512bf16) {
  switch (isa) {
    case Isa::kAvx512Bf16:
      return avx512bf16;
    case Isa::kAvx512:
      return avx512;
    case Isa::kAvx2:
      return avx2;
    case Isa::kScalar:
      break;
  }
  return scalar;
}

// The entry of `table` for storage type T.
template <typename T, typename Table>
const auto& table_entry(const Table& table) {
  if constexpr (std::is_same_v<T, float>) {
    return table.f32;
  } else if constexpr (std::is_same_v<T, bf16_t>) {
    return table.bf16;
  } else {
    static_assert(std::is_same_v<T, f16_t>, "storage types are float, bf16_t and f16_t");
    return table.f16;
  }
}

}  // namespace khub_cpu

#endif  // KHUB_CPU_KERNEL_TABLE_H_
