#!/usr/bin/env bash
# Before/after benchmarks of two khub builds on a GPU machine (issue 21: "all benchmarks pass as
# before, measured before and after"). Each package is scripts/cuda/pack.sh's tarball or the folder
# it unpacks to. Both run the same steps, interleaved (for each repeat and step: before, then
# after) so clock and thermal drift hit both alike; then scripts/cuda/house_compare.py prints one
# table of every figure, the better of the repeats on each side, and after/before.
#   scripts/cuda/house_bench.sh PKG_BEFORE PKG_AFTER OUT_DIR [REPEATS=1]
# Steps (HOUSE_STEPS, space-separated, picks some; default all):
#   decode_ref      khub bench decode on CUDA, Qwen3-0.6B shapes, bf16, batches 1 and 16, and a
#                   4096-token prefill: the reference path
#   decode_kernels  the same with --use-kernels
#   decode_compile  --use-kernels in mode inference,compile (CUDA graphs), no prefill
#   kernels         khub bench kernels (CPU decode with and without kernels, kernelize at load)
#   cuda_kernels    bench_kernels_cuda: each CUDA kernel's bandwidth as a fraction of copy
#   decode_cpu      khub bench decode on the CPU, qwen3 small, batches 1 and 8, reference path
#   train_cpu       khub bench train on the CPU, qwen3 small, batch 4 x 128 (forward, backward,
#                   AdamW)
# The CPU steps (kernels, decode_cpu, train_cpu) also run on a machine without a GPU, on build
# folders (they have a package's layout: bin/, hub/, kernels/):
#   HOUSE_STEPS="kernels decode_cpu train_cpu" house_bench.sh BEFORE/build AFTER/build OUT 3
# HOUSE_TOLERANCE (default 0.05): house_compare.py exits 1 when a figure of the after package is
# worse than the before package's by more than this fraction. Both packages read the same model
# checkpoints (made once, by the first package that needs them, under OUT_DIR's sibling scratch
# folder) and each uses its own bundled hub and verification receipts.
set -uo pipefail
before=$1 after=$2 out=$3 reps=${4:-1}
steps=${HOUSE_STEPS:-decode_ref decode_kernels decode_compile kernels cuda_kernels}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
mkdir -p "$out"
out=$(cd "$out" && pwd)
scratch=$(mktemp -d /tmp/khub-house-XXXXXX)
trap 'rm -rf "$scratch"' EXIT
khub_gpu_info "$out"
cublas=$(khub_cublas_dir)

# unpack NAME PKG: the package's folder (a tarball is unpacked into the scratch folder).
unpack() {
  if [ -d "$2" ]; then
    (cd "$2" && pwd)
  else
    mkdir -p "$scratch/$1" && tar xJf "$2" -C "$scratch/$1" && echo "$scratch/$1"
  fi
}
declare -A dir
dir[before]=$(unpack before "$before") || exit 1
dir[after]=$(unpack after "$after") || exit 1
for side in before after; do
  [ -x "${dir[$side]}/bin/khub" ] || { echo "house_bench: ${dir[$side]} has no bin/khub" >&2; exit 1; }
  mkdir -p "$out/$side" "$scratch/receipts-$side"
  echo "$side: ${dir[$side]} ($("${dir[$side]}/bin/khub" version 2>/dev/null | head -1))" |
    tee -a "$out/packages.txt"
done

models=$scratch/models
dec=(bench decode --device cuda --arch qwen3 --presets qwen3-0.6b --batches 1,16 --tokens 128
     --prompt-len 32 --models-dir "$models")
# step SIDE STEP REP: one step of one package, its JSON in OUT_DIR/SIDE/STEP_REP.json.
step() {
  local side=$1 name=$2 rep=$3 d=${dir[$1]}
  local json="$out/$side/${name}_$rep.json"
  # Only this package's libraries, hub, kernels and receipts; nothing from the network.
  local penv=(env "LD_LIBRARY_PATH=$d/lib:$cublas" "KHUB_HUB_PATH=$d/hub" HF_HUB_OFFLINE=1
              "KHUB_TEST_KERNELS_DIR=$d/kernels" "KHUB_RECEIPTS_DIR=$scratch/receipts-$side")
  case $name in
    decode_ref) run "$side/$name-$rep" 300 "${penv[@]}" "$d/bin/khub" "${dec[@]}" --prefill 4096 \
                  --out "$json" ;;
    decode_kernels) run "$side/$name-$rep" 300 "${penv[@]}" "$d/bin/khub" "${dec[@]}" --use-kernels \
                      --prefill 4096 --out "$json" ;;
    decode_compile) run "$side/$name-$rep" 300 "${penv[@]}" "$d/bin/khub" "${dec[@]}" --use-kernels \
                      --mode inference,compile --out "$json" ;;
    decode_cpu) run "$side/$name-$rep" 300 "${penv[@]}" "$d/bin/khub" bench decode --device cpu \
                  --arch qwen3 --presets small --batches 1,8 --tokens 32 --prompt-len 32 \
                  --models-dir "$models" --out "$json" ;;
    train_cpu) run "$side/$name-$rep" 300 "${penv[@]}" "$d/bin/khub" bench train --arch qwen3 \
                 --preset small --batches 4 --seq-len 128 --steps 2 --models-dir "$models" \
                 --out "$json" ;;
    kernels) run "$side/$name-$rep" 300 "${penv[@]}" "$d/bin/khub" bench kernels --arch qwen3 \
               --preset small --batches 1,8 --tokens 32 --repeats 3 --models-dir "$models" \
               --out "$json" ;;
    cuda_kernels)
      if [ -x "$d/bin/bench_kernels_cuda" ]; then
        run "$side/$name-$rep" 180 "${penv[@]}" "$d/bin/bench_kernels_cuda" "$d/kernels" "$json"
      else
        echo "house_bench: $side has no bin/bench_kernels_cuda; cuda_kernels skipped" >&2
      fi ;;
    *) echo "house_bench: unknown step '$name' (HOUSE_STEPS)" >&2; return 2 ;;
  esac
}
for rep in $(seq "$reps"); do
  for s in $steps; do
    for side in before after; do
      step "$side" "$s" "$rep"
    done
  done
done
khub_summary "$out/summary.txt"
python3 "$here/house_compare.py" "$out" --tolerance "${HOUSE_TOLERANCE:-0.05}" |
  tee "$out/compare.txt"
exit "${PIPESTATUS[0]}"
