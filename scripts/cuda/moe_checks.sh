#!/usr/bin/env bash
# Mixture of experts on a GPU machine, from binaries built elsewhere (scripts/cuda/pack.sh): the
# gpu-labelled MoE tests (test_moe_cuda: the CUDA reference ops and khub-community/moe's CUDA
# variant against the CPU path; qwen3_moe, mixtral and gpt_oss on CUDA eager, with kernels and in
# CUDA graphs), then a gpt-oss-20b-shaped model (random weights, MXFP4 experts, written by
# `khub init-model`) measured by khub — reference path, and --use-kernels in mode
# inference,compile — and by transformers on the same checkpoint in the same run: decode at batch
# 1 and 16 and a 4096-token prefill, all bf16. Writes OUT_DIR/moe_bench.json (moe_summary.py:
# tok/s side by side, ratios, batch-1 fraction of the bandwidth limit) and one log per step.
#   scripts/cuda/moe_checks.sh PKG_DIR OUT_DIR [MODELS_DIR=/tmp/khub-models]
# Needs python3 with torch and transformers (>= 4.55, gpt_oss) for the transformers figures;
# about 40 GB of disk and GPU memory for the bf16 model (khub and transformers run one after the
# other, never both loaded).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
pkg=$1 out=$2 models=${3:-/tmp/khub-models}
mkdir -p "$models"
mkdir -p "$out"
. "$(dirname "$0")/lib.sh"
khub_use_package "$pkg"
khub_gpu_info "$out"
run test_moe_cuda 300 "$pkg/bin/test_moe_cuda"
model=$models/gpt_oss-gpt-oss-20b
if [ ! -f "$model/config.json" ]; then
  run init_model 900 "$pkg/bin/khub" init-model --arch gpt_oss --preset gpt-oss-20b --out "$model"
fi
dec=(bench decode --device cuda --dtype bf16 --arch gpt_oss --presets gpt-oss-20b --batches 1,16
     --tokens 64 --prompt-len 32 --prefill 4096 --models-dir "$models")
run khub_reference 900 "$pkg/bin/khub" "${dec[@]}" --out "$out/khub_reference.json"
run khub_kernels 900 "$pkg/bin/khub" "${dec[@]}" --use-kernels --mode inference,compile \
  --out "$out/khub_kernels.json"
run transformers 1200 python3 "$here/moe_transformers.py" "$model" "$out/transformers.json" \
  --batches 1,16 --tokens 64 --prompt-len 32 --prefill 4096
run summary 60 python3 "$here/moe_summary.py" "$model" "$out/transformers.json" \
  "$out/moe_bench.json" reference="$out/khub_reference.json" kernels="$out/khub_kernels.json"
cat "$out/summary.log"
khub_summary "$out/summary.txt"
