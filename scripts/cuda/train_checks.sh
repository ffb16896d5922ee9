#!/usr/bin/env bash
# Training on a GPU machine, from binaries built elsewhere (scripts/cuda/pack.sh): the gpu tests of
# the CUDA backward (ops against the CPU reference, whole-model gradients and optimizer steps
# against transformers' goldens), the forward tests they must not break, then `khub bench train
# --device cuda` on Qwen3-0.6B shapes next to transformers + torch AdamW on the same checkpoint
# (scripts/cuda/train_peer.py). Run from the repository root (the tests read tests/fixtures).
#   scripts/cuda/train_checks.sh PKG_DIR OUT_DIR [BATCHES=4] [SEQ_LEN=1024]
set -uo pipefail
pkg=$1 out=$2 batches=${3:-4} seq=${4:-1024}
mkdir -p "$out"
cublas_dir=$(dirname "$(find /usr/local /opt /usr/lib -name 'libcublas.so.13*' 2>/dev/null | head -1)")
export LD_LIBRARY_PATH="$pkg/lib:$cublas_dir:${LD_LIBRARY_PATH:-}"
export KHUB_HUB_PATH=$pkg/hub HF_HUB_OFFLINE=1 KHUB_TEST_KERNELS_DIR=$pkg/kernels
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/gpu.txt"
summary=()
run() {  # name timeout command...
  local name=$1 limit=$2; shift 2
  local t0=$SECONDS
  timeout "$limit" "$@" >"$out/$name.log" 2>&1
  local rc=$?
  summary+=("$(printf '%-24s rc=%-3s %4ss' "$name" "$rc" "$((SECONDS - t0))")")
  tail -n 15 "$out/$name.log"
}
for t in test_ops_backward_cuda test_training_cuda test_linear_cross_entropy_cuda test_ops_cuda test_core_cuda test_models_cuda \
  test_compile_cuda; do
  [ -x "$pkg/bin/$t" ] && run "$t" 240 "$pkg/bin/$t"
done
m=/tmp/khub-train-models
run bench_train 300 "$pkg/bin/khub" bench train --device cuda --arch qwen3 --preset qwen3-0.6b \
  --batches "$batches" --seq-len "$seq" --steps 3 --models-dir $m --out "$out/bench_train.json"
run bench_train_bf16 300 "$pkg/bin/khub" bench train --device cuda --dtype bf16 --arch qwen3 \
  --preset qwen3-0.6b --batches "$batches" --seq-len "$seq" --steps 3 --models-dir $m \
  --out "$out/bench_train_bf16.json"
run bench_train_bf16_kernels 300 "$pkg/bin/khub" bench train --device cuda --dtype bf16 \
  --use-kernels --arch qwen3 --preset qwen3-0.6b --batches "$batches" --seq-len "$seq" --steps 3 \
  --models-dir $m --out "$out/bench_train_bf16_kernels.json"
run train_peer 300 python3 "$(dirname "$0")/train_peer.py" "$m/qwen3-qwen3-0.6b" \
  "$out/train_peer.json" --batch "${batches%%,*}" --seq-len "$seq"
printf '%s\n' "${summary[@]}" | tee "$out/summary.txt"
