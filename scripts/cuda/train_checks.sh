#!/usr/bin/env bash
# Training on a GPU machine, from binaries built elsewhere (scripts/cuda/pack.sh): the gpu tests of
# the CUDA backward (ops against the CPU reference, whole-model gradients and optimizer steps
# against transformers' goldens), the forward tests they must not break, then `khub bench train
# --device cuda` on Qwen3-0.6B shapes next to transformers + torch AdamW on the same checkpoint
# (scripts/cuda/train_peer.py); then the bf16 loss curve of khub's reference path and kernels
# against transformers on the repository's prose (scripts/cuda/loss_curve.py: 200 steps x 16 rows
# x 128 tokens, less than one epoch, the same batches in the same order) and the per-parameter
# gradient diagnostic on the initial and the trained checkpoint (scripts/cuda/grad_diag.py). Run
# from the repository root (the tests read tests/fixtures, the curve reads the docs and sources).
#   scripts/cuda/train_checks.sh PKG_DIR OUT_DIR [BATCHES=4] [SEQ_LEN=1024]
# KHUB_TRAIN_CHECKS=curve runs only the loss curve and the diagnostic (about 3 minutes on an H100).
# Writes OUT_DIR/loss_curve_bf16.json and OUT_DIR/grad_diag.json (device, date, commit).
set -uo pipefail
pkg=$1 out=$2 batches=${3:-4} seq=${4:-1024}
what=${KHUB_TRAIN_CHECKS:-all}
here=$(dirname "$0")
commit=$(cat "$pkg/commit.txt" 2>/dev/null || echo unknown)
mkdir -p "$out"
. "$here/lib.sh"
khub_use_package "$pkg"
khub_gpu_info "$out"
run_tail=15
m=/tmp/khub-train-models
if [ "$what" = all ]; then
  for t in test_ops_backward_cuda test_training_cuda test_linear_cross_entropy_cuda test_ops_cuda test_core_cuda test_models_cuda \
    test_compile_cuda; do
    [ -x "$pkg/bin/$t" ] && run "$t" 240 "$pkg/bin/$t"
  done
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
fi

small=$m/qwen3-small
[ -f "$small/config.json" ] ||
  "$pkg/bin/khub" init-model --arch qwen3 --preset small --out "$small" --seed 0 >/dev/null
keep=$(mktemp -d)
run_tail=45 run loss_curve_bf16 420 python3 "$here/loss_curve.py" "$pkg/bin/khub" "$small" \
  "$out/loss_curve_bf16.json" --dtype bf16 --variants ref,kernels --steps 200 --batch 16 \
  --seq-len 128 --lr 5e-5 --keep "$keep" --commit "$commit"
run_tail=40 run grad_diag 300 python3 "$here/grad_diag.py" "$pkg/bin/khub" "$keep/rows.jsonl" \
  "$out/grad_diag.json" "$keep/init" "$keep/out-ref" --batch 8 --commit "$commit"
python3 - "$out" <<'PY'
import json, os, sys
out = sys.argv[1]
p = os.path.join(out, "loss_curve_bf16.json")
if os.path.exists(p):
    c = json.load(open(p))
    print(f"loss curve bf16 ({c['device']}, {c['commit']}): {c['steps']} steps x {c['batch']} x "
          f"{c['seq_len']}, {c['corpus']['epochs_seen']:.2f} epochs of {c['corpus']['tokens']} tokens")
    print(f"  {'':16s} {'max rel':>9s} {'max abs':>9s} {'rel logged':>10s} {'within 2%':>9s}")
    rows = [(v, c[v]) for v in ("ref", "kernels") if v in c]
    if "transformers_bf16_vs_f32" in c: rows.append(("torch bf16/f32", c["transformers_bf16_vs_f32"]))
    for name, r in rows:
        print(f"  {name:16s} {r['max_rel_diff']:9.2e} {r['max_abs_diff']:9.2e} "
              f"{r['max_rel_diff_logged']:10.2e} {str(r['within_2pct_every_logged_step']):>9s}")
p = os.path.join(out, "grad_diag.json")
if os.path.exists(p):
    for ck in json.load(open(p))["checkpoints"]:
        bad = sorted(k for k, e in ck["per_kind"].items() if e["suspect"])
        print(f"grad diag {os.path.basename(ck['checkpoint'])}: suspect kinds: {', '.join(bad) or 'none'}")
PY
rm -rf "$keep"
khub_summary "$out/summary.txt"
