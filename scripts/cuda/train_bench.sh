#!/usr/bin/env bash
# Issue 18's benchmark on a GPU machine, from binaries built elsewhere (scripts/cuda/pack.sh), in
# one device call: `khub bench train` on Qwen3-0.6B shapes in bf16 (f32 masters) next to
# transformers + torch.optim.AdamW measured in the same call on the same checkpoint and ids
# (scripts/cuda/train_peer.py: pure bf16, autocast over f32 masters, and autocast under
# torch.compile), at 4 x 1024 and at 8 x 2048; with and without activation checkpointing; as
# captured steps (--compile); flash-attn's backward (opt-in) mapped by a KernelConfig; and the A/B
# of each training kernel (--kernel-config setting its key to "", the rest as --use-kernels has it).
# scripts/cuda/train_report.py then writes OUT_DIR/train_bench.json with issue 18's top-level
# figures (train_tok_s, peak_mem_bytes, mfu, peer_train_tok_s, peer_peak_mem_bytes; device, date,
# commit) and prints one table. Run from the repository root:
#   scripts/cuda/train_bench.sh PKG_DIR OUT_DIR
# TRAIN_BENCH_LARGE=0 skips the 8 x 2048 runs; TRAIN_BENCH_AB=0 skips the per-kernel A/B.
# About 8 minutes on an H100 (torch.compile's first step is most of the peer's time).
set -uo pipefail
pkg=$1 out=$2
mkdir -p "$out"
here=$(dirname "$0")
. "$here/lib.sh"
khub_use_package "$pkg"
khub_gpu_info "$out"
run_tail=4
khub=$pkg/bin/khub
m=/tmp/khub-train-models
mkdir -p "$out/runs" "$out/configs"
cfg() {  # NAME JSON: a KernelConfig file
  echo "$2" >"$out/configs/$1.json"
  echo "$out/configs/$1.json"
}
flash=$(cfg flash '{"kernel_mapping": {"Attention": "khub-community/flash-attn@v1:Attention"}}')
bench() {  # NAME BATCH SEQ [OPTIONS...]
  local name=$1 b=$2 t=$3
  shift 3
  run "bench_$name" 300 "$khub" bench train --device cuda --dtype bf16 --arch qwen3 \
    --preset qwen3-0.6b --batches "$b" --seq-len "$t" --steps 3 --models-dir $m \
    --out "$out/runs/$name.json" "$@"
}
bench reference 4 1024
bench kernels 4 1024 --use-kernels
bench kernels_ckpt 4 1024 --use-kernels --checkpoint-activations
bench flash 4 1024 --kernel-config "$flash"
bench flash_ckpt 4 1024 --kernel-config "$flash" --checkpoint-activations
bench flash_compile 4 1024 --kernel-config "$flash" --compile
if [ "${TRAIN_BENCH_AB:-1}" = 1 ]; then
  for key in RMSNorm FusedAddRMSNorm SiluAndMul rotary_pos_emb LinearCrossEntropy; do
    bench "without_$key" 4 1024 --kernel-config \
      "$(cfg "without_$key" "{\"kernel_mapping\": {\"Attention\": \"khub-community/flash-attn@v1:Attention\", \"$key\": \"\"}}")"
  done
fi
run peer_4x1024 400 python3 "$here/train_peer.py" "$m/qwen3-qwen3-0.6b" "$out/runs/peer_4x1024.json" \
  --batch 4 --seq-len 1024 --variants bf16,autocast,compile
if [ "${TRAIN_BENCH_LARGE:-1}" = 1 ]; then
  bench flash_8x2048 8 2048 --kernel-config "$flash"
  bench flash_8x2048_ckpt 8 2048 --kernel-config "$flash" --checkpoint-activations
  run peer_8x2048 300 python3 "$here/train_peer.py" "$m/qwen3-qwen3-0.6b" \
    "$out/runs/peer_8x2048.json" --batch 8 --seq-len 2048 --variants bf16,autocast
fi
run_tail=40 run train_report 60 python3 "$here/train_report.py" "$out/runs" "$out/train_bench.json" \
  --commit "$(cat "$pkg/commit.txt" 2>/dev/null || echo unknown)"
khub_summary "$out/summary.txt"
