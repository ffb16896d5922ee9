#!/usr/bin/env bash
# Runs khub's GPU checks on a CUDA machine with binaries built elsewhere: the gpu-labelled tests,
# compute-sanitizer over the op tests, the CLI on CUDA (generate, forward, kernelize falling back
# with no kernel source, a missing device), and the reference-path decode/prefill benchmark.
#   scripts/cuda/gpu_checks.sh BIN_DIR OUT_DIR [PEERS_JSON]
# BIN_DIR holds khub and the test_*_cuda binaries (and lib/ with shared libraries that the GPU
# machine lacks). Run from the repository root (tests read tests/fixtures). Prints a short summary
# last; full logs go to OUT_DIR.
set -uo pipefail
bin=$1 out=$2 peers=${3:-}
source "$(dirname "$0")/lib.sh"
cuda_checks_setup "$bin" "$out" 25
run test_core_cuda 120 "$bin/test_core_cuda"
run test_ops_cuda 180 "$bin/test_ops_cuda"
run test_models_cuda 180 "$bin/test_models_cuda"
grep -h "^\[cuda" "$out/test_models_cuda.log" || true
if command -v compute-sanitizer >/dev/null; then
  run memcheck_ops 240 compute-sanitizer --tool memcheck --error-exitcode 9 \
    "$bin/test_ops_cuda" --gtest_filter='-*Linear*'
  run racecheck_attn 240 compute-sanitizer --tool racecheck --error-exitcode 9 \
    "$bin/test_ops_cuda" --gtest_filter='*Attention*:*RmsNorm*'
fi
m=/tmp/khub-tiny-gemma3
"$bin/khub" init-model --arch gemma3 --preset tiny --out $m >/dev/null
run cli_generate_cuda 60 "$bin/khub" generate --model $m --prompt-ids "1,2,3;4,5" \
  --max-new-tokens 8 --json --device cuda --dtype bf16
run cli_forward_cuda 60 "$bin/khub" forward --model $m --prompt-ids 1,2,3 --out /tmp/l.st \
  --device cuda
mkdir -p /tmp/khub-empty-hub
run cli_kernels_fallback_cuda 60 env KHUB_HUB_PATH=/tmp/khub-empty-hub HF_HUB_OFFLINE=1 \
  "$bin/khub" generate --model $m --prompt-ids 1,2,3 --max-new-tokens 8 --json --device cuda \
  --use-kernels
run cli_missing_device 60 "$bin/khub" generate --model $m --prompt-ids 1,2 --device cuda:15
bench_args=(bench decode --device cuda --arch qwen3 --presets qwen3-0.6b --batches 1,16
            --tokens 128 --prompt-len 32 --prefill 4096 --models-dir /tmp/khub-models
            --out "$out/bench.json")
[ -n "$peers" ] && bench_args+=(--peers "$peers")
run bench 300 "$bin/khub" "${bench_args[@]}"
if [ -x "$bin/decode_breakdown" ]; then
  run breakdown 120 "$bin/decode_breakdown" /tmp/khub-models/qwen3-qwen3-0.6b
fi
printf '%s\n' "${summary[@]}"
