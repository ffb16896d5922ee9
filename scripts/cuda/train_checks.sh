#!/usr/bin/env bash
# Training on a GPU machine, from binaries built elsewhere (scripts/cuda/pack.sh): the gpu tests of
# the CUDA backward (ops against the CPU reference, whole-model gradients and optimizer steps
# against transformers' goldens), the forward tests they must not break, then `khub bench train
# --device cuda` on Qwen3-0.6B shapes next to transformers + torch AdamW on the same checkpoint
# (scripts/cuda/train_peer.py). Run from the repository root (the tests read tests/fixtures).
#   scripts/cuda/train_checks.sh PKG_DIR OUT_DIR [BATCHES=4] [SEQ_LEN=1024]
set -uo pipefail
pkg=$1 out=$2 batches=${3:-4} seq=${4:-1024}
source "$(dirname "$0")/lib.sh"
cuda_checks_setup "$pkg" "$out" 15
for t in test_ops_backward_cuda test_training_cuda test_ops_cuda test_core_cuda test_models_cuda \
  test_compile_cuda; do
  [ -x "$pkg/bin/$t" ] && run "$t" 240 "$pkg/bin/$t"
done
m=/tmp/khub-train-models
run bench_train 300 "$pkg/bin/khub" bench train --device cuda --arch qwen3 --preset qwen3-0.6b \
  --batches "$batches" --seq-len "$seq" --steps 3 --models-dir $m --out "$out/bench_train.json"
run bench_train_bf16 300 "$pkg/bin/khub" bench train --device cuda --dtype bf16 --arch qwen3 \
  --preset qwen3-0.6b --batches "$batches" --seq-len "$seq" --steps 3 --models-dir $m \
  --out "$out/bench_train_bf16.json"
run train_peer 300 python3 "$(dirname "$0")/train_peer.py" "$m/qwen3-qwen3-0.6b" \
  "$out/train_peer.json" --batch "${batches%%,*}" --seq-len "$seq"
printf '%s\n' "${summary[@]}" | tee "$out/summary.txt"
