#!/usr/bin/env bash
# flash-attn's attention backward (kernels/flash-attn/cuda/backward.cu, bound by kernelize in
# training mode) on a GPU machine, from binaries built elsewhere (scripts/cuda/pack.sh). Run from
# the repository root:
#   scripts/cuda/flashbwd_checks.sh PKG_DIR OUT_DIR [BATCHES=4] [SEQ_LEN=1024]
# 1. test_flash_attn_backward_cuda: the kernel against float64 on odd shapes, its bad inputs, and
#    bf16 models training through it against the reference path; test_flash_attn_cuda: the
#    forward, whose argument checks the backward now shares.
# 2. `khub grad --device cuda --dtype bf16` on qwen3 small (head_dim 64, GQA 3, rows of 1, 17, 129
#    and 300 tokens): the reference path, --use-kernels with Attention kept on the reference
#    (what training ran before the binding), and --use-kernels; OUT_DIR/grad_table.txt holds each
#    parameter's gradient norm under the three and the relative differences to the reference.
# 3. `khub bench train` on Qwen3-0.6B shapes, bf16, BATCHES × SEQ_LEN: --use-kernels with
#    Attention on the reference (before; 28,649 tok/s measured on an H100 on 2026-12-07) and
#    --use-kernels (after): OUT_DIR/bench_table.txt.
# MEMCHECK=1 adds a compute-sanitizer memcheck of the float64 cases.
# Success: every `run` line of OUT_DIR/summary.txt says rc=0 (grad_table exits 1 when a parameter's
# gradient norm under the kernels is more than 5e-2 off the reference's), and bench_table.txt
# shows Attention on flash-attn in the "after" run.
set -uo pipefail
pkg=$1 out=$2 batches=${3:-4} seq=${4:-1024}
mkdir -p "$out"
. "$(dirname "$0")/lib.sh"
khub_use_package "$pkg"
khub_gpu_info "$out"
run_tail=20
khub=$pkg/bin/khub

run test_flash_attn_backward_cuda 600 "$pkg/bin/test_flash_attn_backward_cuda"
run test_flash_attn_cuda 300 "$pkg/bin/test_flash_attn_cuda"
# MEMCHECK=1: the float64 cases again under compute-sanitizer (out-of-bounds and misaligned
# accesses of the four backward launches); slow, so opt-in.
if [ "${MEMCHECK:-0}" = 1 ] && command -v compute-sanitizer >/dev/null; then
  run memcheck_backward 600 compute-sanitizer --tool memcheck --error-exitcode 1 \
    "$pkg/bin/test_flash_attn_backward_cuda" --gtest_filter='*MatchesFloat64*'
fi

# Attention on the reference, every other key as the default mapping has it (what the default
# mapping trains with while the backward is opt-in); and Attention mapped to flash-attn, which
# KernelConfig entries do in every mode, so training binds its backward.
no_attn=$out/no-attention.json
echo '{"kernel_mapping": {"Attention": ""}}' >"$no_attn"
with_attn=$out/attention.json
echo '{"kernel_mapping": {"Attention": "khub-community/flash-attn@v1:Attention"}}' >"$with_attn"

m=/tmp/khub-flashbwd-models
[ -f "$m/qwen3-small/config.json" ] ||
  "$khub" init-model --arch qwen3 --preset small --seed 3 --out "$m/qwen3-small" >/dev/null
ids=$(python3 -c '
import random
r = random.Random(7)
print(";".join(",".join(str(r.randrange(3, 30000)) for _ in range(n)) for n in (17, 300, 1, 129)))')
grad() {  # NAME [OPTIONS...]: the JSON line of `khub grad` into OUT_DIR/NAME.json
  local name=$1
  shift
  run "$name" 300 "$khub" grad --model "$m/qwen3-small" --device cuda --dtype bf16 \
    --prompt-ids "$ids" --json "$@" &&
    grep '^{' "$out/$name.log" | tail -1 >"$out/$name.json"
}
grad grad_reference
grad grad_kernels_no_attention --use-kernels --kernel-config "$no_attn"
grad grad_kernels --use-kernels --kernel-config "$with_attn"
run grad_table 60 python3 - "$out" <<'EOF'
import json, sys
out = sys.argv[1]
runs = ["grad_reference", "grad_kernels_no_attention", "grad_kernels"]
g = {r: json.load(open(f"{out}/{r}.json")) for r in runs}
ref = g["grad_reference"]
lines = [f"loss: reference {ref['loss']:.6f}, kernels without attention "
         f"{g['grad_kernels_no_attention']['loss']:.6f}, kernels {g['grad_kernels']['loss']:.6f}",
         f"{'parameter':56} {'reference':>11} {'no-attn':>11} {'kernels':>11} "
         f"{'rel no-attn':>11} {'rel kernels':>11}"]
worst = {"grad_kernels_no_attention": 0.0, "grad_kernels": 0.0}
for name, want in ref["grad_norms"].items():
    row = f"{name:56} {want:11.4e}"
    rels = []
    for r in worst:
        row += f" {g[r]['grad_norms'][name]:11.4e}"
    for r in worst:
        rel = abs(g[r]["grad_norms"][name] - want) / max(want, 1e-30)
        worst[r] = max(worst[r], rel)
        row += f" {rel:11.2e}"
    lines.append(row)
lines.append(f"worst relative difference to the reference: kernels without attention "
             f"{worst['grad_kernels_no_attention']:.2e}, kernels {worst['grad_kernels']:.2e} "
             f"(bound 5e-2, bf16)")
open(f"{out}/grad_table.txt", "w").write("\n".join(lines) + "\n")
print("\n".join(lines[:2] + lines[-1:]))
sys.exit(0 if worst["grad_kernels"] <= 5e-2 else 1)
EOF

bm=/tmp/khub-train-models
bench() {  # NAME [OPTIONS...]
  local name=$1
  shift
  run "$name" 420 "$khub" bench train --device cuda --dtype bf16 --arch qwen3 \
    --preset qwen3-0.6b --batches "$batches" --seq-len "$seq" --steps 3 --models-dir $bm \
    --out "$out/$name.json" "$@"
}
bench bench_train_kernels_no_attention --use-kernels --kernel-config "$no_attn"
bench bench_train_kernels --use-kernels --kernel-config "$with_attn"
run bench_table 60 python3 - "$out" <<'EOF'
import json, sys
out = sys.argv[1]
lines = [f"{'run':34} {'batch':>5} {'tok/s':>10} {'peak GiB':>9}  Attention"]
for name in ["bench_train_kernels_no_attention", "bench_train_kernels"]:
    j = json.load(open(f"{out}/{name}.json"))
    for r in j["results"]:
        lines.append(f"{name:34} {r['batch']:5d} {r['tokens_per_s']:10.1f} "
                     f"{r['peak_mem_bytes'] / 2**30:9.2f}  {j.get('kernels', {}).get('Attention')}")
open(f"{out}/bench_table.txt", "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
EOF
khub_summary "$out/summary.txt"
