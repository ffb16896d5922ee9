#!/usr/bin/env bash
# Runs the CPU kernel tests under QEMU user-mode emulation of CPUs without AVX-512 (Haswell: AVX2)
# and without AVX (Nehalem), to show the libraries load, pick the right path and pass there.
# Needs qemu-user (apt-get install qemu-user); not part of CI. Usage: dev/check_kernels_without_avx512.sh [build]
set -euo pipefail
build=${1:-build}
command -v qemu-x86_64 >/dev/null || { echo "qemu-x86_64 not found (apt-get install qemu-user)"; exit 2; }
for cpu in Haswell Nehalem; do
  for t in rmsnorm activation rotary; do
    log=$(mktemp)
    if qemu-x86_64 -cpu "$cpu" "$build/bin/test_kernel_${t}_cpu" >"$log" 2>&1; then
      echo "ok   $cpu $t: $(grep -E '^\[  PASSED' "$log") $(grep -cE '^\[  SKIPPED \].*\(' "$log") skipped"
    else
      echo "FAIL $cpu $t"; tail -20 "$log"; exit 1
    fi
    rm -f "$log"
  done
done
