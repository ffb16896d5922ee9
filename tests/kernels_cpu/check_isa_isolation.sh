#!/usr/bin/env bash
# Checks that a CPU kernel library can load and run on any x86-64: only functions of its avx2::,
# avx512:: and avx512bf16:: namespaces may hold VEX/EVEX instructions, avx2:: functions hold no
# AVX-512 (no zmm, no opmask, no xmm/ymm16-31) and avx512:: functions no AVX512_BF16 instruction. Catches an inline function compiled inside a target
# region and kept by the linker for the scalar path too (see kernels/common/khub_cpu/vec_avx2.h).
# Usage: check_isa_isolation.sh lib.so [lib.so ...]
set -euo pipefail
status=0
for lib in "$@"; do
  report=$(objdump -d --no-show-raw-insn -C "$lib" | awk '
    /^[0-9a-f]+ <.*>:$/ { fn = $0; next }
    NF < 2 { next }
    {
      insn = $2
      inbf16 = fn ~ /(<|::)avx512bf16::/
      in512 = inbf16 || fn ~ /(<|::)avx512::/; in2 = fn ~ /(<|::)avx2::/
      if (!in512 && !in2 && insn ~ /^v/) bad[fn " uses " insn] = 1
      if (in2 && ($0 ~ /%zmm|%k[0-7]|%[xy]mm(1[6-9]|2[0-9]|3[01])/)) bad[fn " uses AVX-512: " insn] = 1
      if (in512 && !inbf16 && insn ~ /bf16/) bad[fn " uses AVX512_BF16: " insn] = 1
      if (in512) n512++; if (in2) n2++; if (inbf16) nbf16++
    }
    END {
      for (b in bad) print "  " b
      if (n512 == 0) print "  no avx512:: code found (is the AVX-512 path compiled?)"
      if (n2 == 0) print "  no avx2:: code found (is the AVX2 path compiled?)"
      if (nbf16 == 0) print "  no avx512bf16:: code found (is the AVX-512 BF16 path compiled?)"
    }')
  if [ -n "$report" ]; then
    echo "FAIL $lib:"; echo "$report" | head -20; status=1
  else
    echo "ok   $lib"
  fi
done
exit $status
