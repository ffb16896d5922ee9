#!/usr/bin/env bash
# `make demo`: the main job on the embedded default — a ~100M-parameter Qwen3-shaped model that
# khub creates itself (random weights, bf16), generating on the CPU with its layers swapped for
# kernels from the bundled hub (build/hub), next to the reference path; prints tokens/s.
set -euo pipefail
build=${1:-build}
khub=$build/bin/khub
model=$build/models/default-qwen3-small
if [ ! -f "$model/config.json" ]; then
  "$khub" init-model --arch qwen3 --preset small --out "$model" --seed 0
fi
prompt=1,2,3,4,5,6,7,8
echo "== reference path"
"$khub" generate --model "$model" --prompt-ids $prompt --max-new-tokens 32 --greedy --ignore-eos
echo "== --use-kernels (bundled hub $build/hub)"
KHUB_LOG_LEVEL=error "$khub" generate --model "$model" --prompt-ids $prompt --max-new-tokens 32 \
  --greedy --ignore-eos --use-kernels --explain-kernels
