#!/usr/bin/env bash
# The CUDA kernel variants on a GPU machine, from binaries built elsewhere (scripts/cuda/pack.sh):
# the gpu tests (core, ops, kernels, Mode Compile, model parity), compute-sanitizer over the
# kernel tests where it works, the kernels' bench, the PyTorch peers re-measured
# (peers_subset.py), kernelize end to end on a tiny Qwen3 model (greedy tokens with and without
# --use-kernels), and Qwen3-0.6B-shaped decode and prefill: reference, --use-kernels, and
# --use-kernels in mode inference,compile (CUDA graphs), the latter also without programmatic
# dependent launch and without the decode GEMV (KHUB_CUDA_PDL=0, KHUB_CUDA_GEMV=0), without the
# greedy look-ahead, with the CUDA-core GEMV in place of the tensor-core one (KHUB_CUDA_GEMV_MMA=0)
# and with a GQA group per attention block at batch 1 (KHUB_FLASH_DECODE_HEAD_BLOCKS=0).
#   scripts/cuda/kernel_checks.sh PKG_DIR OUT_DIR [PEERS_JSON]
# PKG_DIR holds bin/ (khub, test_*_cuda, bench_kernels_cuda, bench_flash_decode), lib/ (shared
# libraries the GPU machine lacks), kernels/ (build/kernels) and hub/ (build/hub).
set -uo pipefail
pkg=$1 out=$2 peers=${3:-}
source "$(dirname "$0")/lib.sh"
cuda_checks_setup "$pkg" "$out" 12
# Quick tests first, then the measurements, then the slow tests (float64 references on the host),
# so a run cut short by its time limit still has its figures.
for t in test_core_cuda test_ops_cuda test_kernels_cuda test_compile_cuda; do
  [ -x "$pkg/bin/$t" ] && run "$t" 120 "$pkg/bin/$t"
done
if [ -x "$pkg/bin/bench_flash_decode" ]; then
  run bench_flash_decode 120 "$pkg/bin/bench_flash_decode" "$pkg/kernels" "$out/flash_decode.json"
fi
run peers 120 python3 "$(dirname "$0")/peers_subset.py" "$out/peers_subset.json"
peer_args=()
[ -n "$peers" ] && peer_args=("$peers")
run bench_kernels 120 "$pkg/bin/bench_kernels_cuda" "$pkg/kernels" "$out/kernels.json" \
  "${peer_args[@]}"
m=/tmp/khub-tiny-qwen3
"$pkg/bin/khub" init-model --arch qwen3 --preset tiny --out $m >/dev/null
gen=(generate --model $m --prompt-ids "1,2,3,4;5,6" --max-new-tokens 16 --json --device cuda
     --dtype bf16)
run generate_ref 60 "$pkg/bin/khub" "${gen[@]}"
run generate_kernels 60 "$pkg/bin/khub" "${gen[@]}" --use-kernels --explain-kernels
dec=(bench decode --device cuda --arch qwen3 --presets qwen3-0.6b --batches 1,16 --tokens 128
     --prompt-len 32 --models-dir /tmp/khub-models)
[ -n "$peers" ] && dec+=(--peers "$peers")
run decode_ref 200 "$pkg/bin/khub" "${dec[@]}" --prefill 4096 --out "$out/decode_ref.json"
run decode_kernels 200 "$pkg/bin/khub" "${dec[@]}" --use-kernels --prefill 4096 \
  --out "$out/decode_kernels.json"
run decode_compile 200 "$pkg/bin/khub" "${dec[@]}" --use-kernels --mode inference,compile \
  --out "$out/decode_compile.json"
# What the greedy look-ahead, the tensor-core GEMV (against the CUDA-core one), the decode GEMV, programmatic dependent
# launch and the fused RotaryKVCache kernel (q/k norms, rotary and cache append in one launch)
# each buy, in the same run.
run decode_compile_nolookahead 200 "$pkg/bin/khub" "${dec[@]}" --use-kernels \
  --mode inference,compile --lookahead off --out "$out/decode_compile_nolookahead.json"
KHUB_CUDA_GEMV_MMA=0 run decode_compile_nomma 200 "$pkg/bin/khub" "${dec[@]}" --use-kernels \
  --mode inference,compile --out "$out/decode_compile_nomma.json"
KHUB_FLASH_DECODE_HEAD_BLOCKS=0 run decode_compile_groupblocks 200 "$pkg/bin/khub" "${dec[@]}" \
  --use-kernels --mode inference,compile --out "$out/decode_compile_groupblocks.json"
KHUB_CUDA_PDL=0 run decode_compile_nopdl 200 "$pkg/bin/khub" "${dec[@]}" --use-kernels \
  --mode inference,compile --out "$out/decode_compile_nopdl.json"
echo '{"RotaryKVCache": ""}' >/tmp/khub-unfused.json
run decode_compile_unfused 200 "$pkg/bin/khub" "${dec[@]}" --use-kernels --mode inference,compile \
  --kernel-config /tmp/khub-unfused.json --out "$out/decode_compile_unfused.json"
KHUB_CUDA_PDL=0 KHUB_CUDA_GEMV=0 run decode_compile_cublas 200 "$pkg/bin/khub" "${dec[@]}" \
  --use-kernels --mode inference,compile --out "$out/decode_compile_cublas.json"
for t in test_flash_attn_cuda test_models_cuda; do
  [ -x "$pkg/bin/$t" ] && run "$t" 240 "$pkg/bin/$t"
done
if command -v compute-sanitizer >/dev/null && [ -z "${KHUB_NO_SANITIZER:-}" ]; then
  run memcheck_kernels 90 compute-sanitizer --tool memcheck --error-exitcode 9 \
    "$pkg/bin/test_kernels_cuda"
fi
printf '%s\n' "${summary[@]}"
