#!/usr/bin/env bash
# A/B of two builds' compile-mode decode in one GPU run, interleaved (A, B, A, B, ...) so clock
# and thermal drift hit both alike. Each package is scripts/cuda/pack.sh's tarball, or a slim one
# with only bin/khub, lib/ and hub/ (the baseline needs nothing else).
#   scripts/cuda/ab_decode.sh PKG_A.tar.xz PKG_B.tar.xz OUT_DIR [REPEATS=2]
set -uo pipefail
pkg_a=$1 pkg_b=$2 out=$3 reps=${4:-2}
mkdir -p "$out" /tmp/ab/A /tmp/ab/B
tar xJf "$pkg_a" -C /tmp/ab/A && tar xJf "$pkg_b" -C /tmp/ab/B
. "$(dirname "$0")/lib.sh"
cublas_dir=$(khub_cublas_dir)
export HF_HUB_OFFLINE=1
dec=(bench decode --device cuda --arch qwen3 --presets qwen3-0.6b --batches 1,16 --tokens 128
     --prompt-len 32 --models-dir /tmp/khub-models --use-kernels --mode inference,compile)
for rep in $(seq "$reps"); do
  for p in A B; do
    d=/tmp/ab/$p
    LD_LIBRARY_PATH="$d/lib:$cublas_dir" KHUB_HUB_PATH=$d/hub timeout 120 "$d/bin/khub" "${dec[@]}" \
      --out "$out/decode_${p}_$rep.json" >"$out/decode_${p}_$rep.log" 2>&1
    echo "$p run $rep: $(grep -E '^qwen3' "$out/decode_${p}_$rep.log" |
      awk '{printf "b%s %s tok/s  ", $2, $4}')"
  done
done
