#!/usr/bin/env bash
# `make demo`: the main job on the embedded default — a ~100M-parameter Qwen3-shaped model that
# khub creates itself (random weights, bf16), generating on the CPU; prints tokens/s.
set -euo pipefail
build=${1:-build}
khub=$build/bin/khub
model=$build/models/default-qwen3-small
if [ ! -f "$model/config.json" ]; then
  "$khub" init-model --arch qwen3 --preset small --out "$model" --seed 0
fi
"$khub" generate --model "$model" --prompt-ids 1,2,3,4,5,6,7,8 --max-new-tokens 32 --greedy \
  --ignore-eos
