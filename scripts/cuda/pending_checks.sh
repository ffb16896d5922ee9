#!/usr/bin/env bash
# The GPU checks and benchmarks written on machines without a GPU and not yet run, in device
# calls that each fit the device tool's 10-minute limit, most important first. Run from the
# repository root on the GPU machine, with the packages carried in .devout/ (made here by
# scripts/cuda/pack.sh):
#   call 1, 2, 3:  .devout/main/pkg.tar.xz   (bash scripts/cuda/pack.sh build .devout/main/pkg.tar.xz)
#   call 4:        .devout/before/pkg.tar.xz and .devout/after/pkg.tar.xz, both PACK_SLIM=1 (issue
#                  21: the pre-house commit ac6a784's build and main's; the full package does not
#                  fit the 64 MiB carry beside another)
#   scripts/cuda/pending_checks.sh CALL
# The device tool carries at most 64 MiB: carry [".devout/main"] for calls 1, 2, 3 and 5 (the full
# package is about 55 MB) and [".devout/before", ".devout/after"] for call 4 (about 20 + 24 MB).
# Logs go to /tmp/khub-pending/CALL; $OUT receives summary.txt (one line per step: rc and
# seconds), tail.log (the last lines of every step) and the JSON results (at most 8 files).
#   1  gpu tests of code never run on a GPU: flash-attn backward, captured training steps (also
#      through `khub train`, against the same run eager), the
#      capturable LinearCrossEntropy, gpt_oss sinks (moe), decode-step, rmsnorm's f32 grad_weight,
#      the training tests; then the Python module on CUDA torch, and transformers' training goldens
#      of a gpt_oss recipe (about 9 minutes)
#   2  issue 18's benchmark (scripts/cuda/train_bench.sh: khub vs transformers, A/B per kernel,
#      8 x 2048, checkpointing, captured steps) (about 9 minutes)
#   3  the bf16 loss curve against transformers and the gradient diagnostic, then DecodeStep's
#      breakdown (prompt 16 vs 1024 tokens, half the blocks) (about 7 minutes)
#   4  issue 21's before/after benchmark (scripts/cuda/house_bench.sh) (about 6 minutes)
#   5  the gpt-oss-20b benchmark (scripts/cuda/moe_checks.sh) (about 10 minutes)
set -uo pipefail
call=${1:?usage: pending_checks.sh CALL (1-5)}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
O=${OUT:-/tmp/khub-pending-out}
out=/tmp/khub-pending/$call
mkdir -p "$O" "$out"
unpack() {  # TARBALL DIR
  [ -x "$2/bin/khub" ] || { mkdir -p "$2" && tar -xJf "$1" -C "$2"; }
}
step() {  # NAME LIMIT COMMAND...: run(), then the log's tail into $O/tail.log
  run "$@"
  local rc=$?
  { echo "=== $1 rc=$rc"; tail -n "${tail_lines:-40}" "$out/$1.log"; } >>"$O/tail.log"
  return $rc
}
khub_gpu_info "$O"
run_tail=3
case $call in
  1)
    unpack .devout/main/pkg.tar.xz /tmp/pkg
    khub_use_package /tmp/pkg
    for t in test_flash_attn_backward_cuda test_step_graph_cuda test_linear_cross_entropy_cuda \
      test_moe_cuda test_decode_step_cuda test_training_cuda test_ops_backward_cuda; do
      [ -x /tmp/pkg/bin/$t ] && step $t 200 /tmp/pkg/bin/$t
    done
    step test_kernels_cuda_rmsnorm 120 /tmp/pkg/bin/test_kernels_cuda --gtest_filter='*RmsNorm*'
    # The trainer through captured steps (`khub train --mode training,compile`) against the same
    # run eager: the same losses and gradient norms at every step (train/step_graph.h).
    tm=$out/train-models/qwen3-tiny
    cp README.md "$out/text.txt"
    /tmp/pkg/bin/khub init-model --arch qwen3 --preset tiny --dtype bf16 --seed 4 --out "$tm" >/dev/null
    tr=(/tmp/pkg/bin/khub train --model "$tm" --data "$out/text.txt" --seq-len 64 --batch 4 --steps 8
      --lr 1e-3 --clip 1.0 --grad-accum 2 --device cuda --dtype bf16 --use-kernels --json)
    step train_eager 120 "${tr[@]}" --out "$out/train-eager"
    step train_captured 120 "${tr[@]}" --out "$out/train-captured" --mode training,compile
    step train_compare 30 python3 - "$out/train_eager.log" "$out/train_captured.log" <<'PY'
import json, sys
rows = [[json.loads(l) for l in open(p) if l.startswith("{") and '"loss"' in l] for p in sys.argv[1:]]
assert len(rows[0]) == len(rows[1]) == 8, rows
for a, b in zip(*rows):
    for k in ("loss", "grad_norm"):
        assert abs(a[k] - b[k]) <= 1e-6 * abs(a[k]), (a["step"], k, a[k], b[k])
print("captured training steps equal eager ones: 8 steps, loss and grad norm within 1e-6")
PY
    tail_lines=30 step python_cuda 240 bash "$here/python_cuda.sh" /tmp/pkg "$out/python"
    # transformers' training goldens of a gpt_oss recipe (CPU, f32): committed as
    # tests/fixtures/training/gpt_oss_e5_top2_window3.golden.json with the recipe added to
    # recipes.json, they put gpt_oss into test_training's transformers suite.
    python3 - "$out/recipes.json" <<'PY'
import json, sys
r = json.load(open("tests/fixtures/training/recipes.json"))
r["models"] = {"gpt_oss_e5_top2_window3": {"arch": "gpt_oss", "preset": "tiny", "seed": 47,
               "overrides": {"num_local_experts": 5, "num_key_value_heads": 1,
                             "sliding_window": 3, "eos_token_id": None}}}
json.dump(r, open(sys.argv[1], "w"), indent=1)
PY
    step gpt_oss_checkpoint 60 bash scripts/golden/make_parity_checkpoints.sh /tmp/pkg/bin/khub \
      "$out/golden-ck" "$out/recipes.json"
    step gpt_oss_golden 240 python3 scripts/golden/training_golden.py --recipes "$out/recipes.json" \
      --checkpoints "$out/golden-ck" --out "$O"
    ;;
  2)
    unpack .devout/main/pkg.tar.xz /tmp/pkg
    khub_use_package /tmp/pkg
    tail_lines=60 step train_bench 480 bash "$here/train_bench.sh" /tmp/pkg "$out/tb"
    cp "$out/tb/train_bench.json" "$O/" 2>/dev/null
    ;;
  3)
    unpack .devout/main/pkg.tar.xz /tmp/pkg
    khub_use_package /tmp/pkg
    KHUB_TRAIN_CHECKS=curve tail_lines=50 step curve 420 bash "$here/train_checks.sh" /tmp/pkg \
      "$out/curve"
    cp "$out/curve/loss_curve_bf16.json" "$out/curve/grad_diag.json" "$O/" 2>/dev/null
    m=/tmp/khub-models
    d=(/tmp/pkg/bin/bench_decode_step --presets qwen3:qwen3-0.6b --tokens 128 --reps 2
      --models-dir $m)
    step decode_step_default 150 "${d[@]}" --out "$O/decode_step_default.json"
    step decode_step_ctx1024 150 "${d[@]}" --prompt-len 1024 --out "$O/decode_step_ctx1024.json"
    step decode_step_blocks66 150 env KHUB_DECODE_STEP_BLOCKS=66 "${d[@]}" \
      --out "$O/decode_step_blocks66.json"
    ;;
  4)
    tail_lines=80 step house_bench 560 bash "$here/house_bench.sh" .devout/before/pkg.tar.xz \
      .devout/after/pkg.tar.xz "$out/house"
    cp "$out/house/compare.txt" "$O/house_compare.txt" 2>/dev/null
    ;;
  5)
    unpack .devout/main/pkg.tar.xz /tmp/pkg
    tail_lines=60 step moe_checks 570 bash "$here/moe_checks.sh" /tmp/pkg "$out/moe"
    cp "$out/moe/moe_bench.json" "$O/" 2>/dev/null
    ;;
  *)
    echo "pending_checks: no call $call (1-5)" >&2
    exit 2
    ;;
esac
khub_summary "$O/summary.txt"
