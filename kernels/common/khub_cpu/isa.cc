#include "isa.h"

#include <cpuid.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "khub_env.h"

namespace khub_cpu {
namespace {

uint64_t read_xcr0() {
  uint32_t eax, edx;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<uint64_t>(edx) << 32) | eax;
}

Isa detect() {
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return Isa::kScalar;
  bool osxsave = c & (1u << 27);
  bool avx = c & (1u << 28), fma = c & (1u << 12), f16c = c & (1u << 29);
  if (!osxsave || !avx) return Isa::kScalar;
  uint64_t xcr0 = read_xcr0();
  bool ymm_state = (xcr0 & 0x6) == 0x6;    // SSE + AVX state saved by the OS
  bool zmm_state = (xcr0 & 0xe0) == 0xe0;  // opmask + ZMM_Hi256 + Hi16_ZMM
  if (!ymm_state || __get_cpuid_max(0, nullptr) < 7) return Isa::kScalar;
  __cpuid_count(7, 0, a, b, c, d);
  bool avx2 = b & (1u << 5);
  bool avx512f = b & (1u << 16), avx512bw = b & (1u << 30), avx512vl = b & (1u << 31);
  if (!(avx2 && fma && f16c)) return Isa::kScalar;
  if (!(avx512f && avx512bw && avx512vl && zmm_state)) return Isa::kAvx2;
  unsigned a1 = 0, b1 = 0, c1 = 0, d1 = 0;
  __cpuid_count(7, 1, a1, b1, c1, d1);
  if (a1 & (1u << 5)) return Isa::kAvx512Bf16;
  return Isa::kAvx512;
  return Isa::kAvx2;
}

}  // namespace

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::kScalar:
      return "scalar";
    case Isa::kAvx2:
      return "avx2";
    case Isa::kAvx512:
      return "avx512";
    case Isa::kAvx512Bf16:
      return "avx512bf16";
  }
  return "?";
}

Isa cpu_isa_best() {
  static const Isa best = detect();
  return best;
}

Status isa_select(Isa* isa, ErrorText* error) {
  Isa best = cpu_isa_best();
  const char* env = khub_env::get("KHUB_CPU_ISA");
  if (env == nullptr || std::strcmp(env, "auto") == 0) {
    *isa = best;
    return Status::kOk;
  }
  Isa wanted;
  if (std::strcmp(env, "scalar") == 0) {
    wanted = Isa::kScalar;
  } else if (std::strcmp(env, "avx2") == 0) {
    wanted = Isa::kAvx2;
  } else if (std::strcmp(env, "avx512") == 0) {
    wanted = Isa::kAvx512;
  } else if (std::strcmp(env, "avx512bf16") == 0) {
    wanted = Isa::kAvx512Bf16;
  } else {
    return error->set(Status::kInvalidArgument,
                      "KHUB_CPU_ISA is '%.40s', expected one of auto, scalar, avx2, avx512, "
                      "avx512bf16",
                      env);
  }
  if (static_cast<int>(wanted) > static_cast<int>(best)) {
    return error->set(Status::kUnsupported,
                      "KHUB_CPU_ISA=%s but this CPU supports at most %s (avx2 needs AVX2+FMA+F16C, "
                      "avx512 needs AVX-512 F+BW+VL, avx512bf16 also AVX512_BF16)",
                      isa_name(wanted), isa_name(best));
  }
  *isa = wanted;
  return Status::kOk;
}

}  // namespace khub_cpu
