#!/usr/bin/env python3
# Collects one GPU run of scripts/cuda/kernel_checks.sh (its OUT_DIR) into the results
# file, bench/results/<date>-cuda-<gpu>.json, and prints each figure with its ratio to the ceiling
# measured in the same run and to the PyTorch peers (re-measured in the run where
# peers_subset.py covers them, else from the peers file given).
#   scripts/cuda/summarize.py RUN_DIR COMMIT [PEERS_JSON] [OUT_JSON]
import datetime
import json
import os
import sys

run, commit = sys.argv[1], sys.argv[2]
peers_file = sys.argv[3] if len(sys.argv) > 3 else None


def load(name):
    path = os.path.join(run, name)
    return json.load(open(path)) if os.path.exists(path) else {}


kern, flash, peers = load("kernels.json"), load("flash_decode.json"), load("peers_subset.json")
dec = {k: load(f"decode_{k}.json")
       for k in ("ref", "kernels", "compile", "compile_nolookahead", "compile_f1", "compile_nomma",
                 "compile_groupblocks",
                 "compile_nopdl", "compile_unfused", "compile_cublas")}
file_peers = json.load(open(peers_file)) if peers_file else {}
gpu = open(os.path.join(run, "gpu.txt")).read().split(",")[0].strip()
date = datetime.date.today().isoformat()


def decode(kind, batch):
    for r in dec[kind].get("results", []):
        if r["batch"] == batch:
            return r["tokens_per_s"]
    return None


def prefill(kind, length=4096):
    for r in dec[kind].get("prefill", []):
        if r.get("tokens") == length or r.get("length") == length or r.get("prompt_len") == length:
            return r["tokens_per_s"]
    return None


copy = peers.get("copy_TBps") or kern.get("copy_TBps")
gemm = peers.get("bf16_gemm_TFLOPs")
params = next((r["parameters"] for r in dec["kernels"].get("results", [])), None)
# Qwen3-0.6B decode reads every weight once per step (the tied embedding once, as the LM head).
weight_bytes = 2.0 * params if params else None
limit_b1 = copy * 1e12 / weight_bytes if copy and weight_bytes else None
out = {
    "benchmark": "issue 7: khub-community CUDA kernels, flash-attn, Qwen3-0.6B-shaped bf16 "
                 "decode/prefill (reference, --use-kernels, --use-kernels in mode compile)",
    "date": date,
    "git_commit": commit,
    "device": gpu,
    "script": "scripts/cuda/kernel_checks.sh + scripts/cuda/summarize.py",
    "copy_TBps": copy,
    "bf16_gemm_TFLOPs": gemm,
    "rmsnorm_bw_fraction": kern.get("rmsnorm_bw_fraction"),
    "fused_add_rmsnorm_bw_fraction": kern.get("fused_add_rmsnorm_bw_fraction"),
    "silu_and_mul_bw_fraction": kern.get("silu_and_mul_bw_fraction"),
    "rotary_bw_fraction": kern.get("rotary_bw_fraction"),
    "attention_prefill_tflops": flash.get("prefill", {}).get("tflops"),
    "decode_b1_tok_s": decode("compile", 1),
    "decode_b16_tok_s": decode("compile", 16),
    "prefill_4096_tok_s": prefill("kernels"),
    "decode_b1_tok_s_compile_without_lookahead": decode("compile_nolookahead", 1),
    "decode_b16_tok_s_compile_without_lookahead": decode("compile_nolookahead", 16),
    "decode_b1_tok_s_compile_one_feature_per_warp": decode("compile_f1", 1),
    "decode_b1_tok_s_compile_cuda_core_gemv": decode("compile_nomma", 1),
    "decode_b16_tok_s_compile_cuda_core_gemv": decode("compile_nomma", 16),
    "decode_b1_tok_s_compile_group_per_attention_block": decode("compile_groupblocks", 1),
    "decode_b1_tok_s_compile_without_pdl": decode("compile_nopdl", 1),
    "decode_b16_tok_s_compile_without_pdl": decode("compile_nopdl", 16),
    "decode_b1_tok_s_compile_without_rotary_kv_cache": decode("compile_unfused", 1),
    "decode_b16_tok_s_compile_without_rotary_kv_cache": decode("compile_unfused", 16),
    "decode_b1_tok_s_compile_cublas_without_pdl": decode("compile_cublas", 1),
    "decode_b16_tok_s_compile_cublas_without_pdl": decode("compile_cublas", 16),
    "decode_b1_tok_s_kernels_eager": decode("kernels", 1),
    "decode_b16_tok_s_kernels_eager": decode("kernels", 16),
    "decode_b1_tok_s_reference": decode("ref", 1),
    "decode_b16_tok_s_reference": decode("ref", 16),
    "prefill_4096_tok_s_reference": prefill("ref"),
    "decode_b1_limit_tok_s": limit_b1,
    "flash_decode": flash.get("results"),
    "peers_measured_here": peers,
    "peers_file": file_peers,
}
dst = sys.argv[4] if len(sys.argv) > 4 else f"bench/results/{date}-cuda-{gpu.split()[-1].lower()}.json"
json.dump(out, open(dst, "w"), indent=1)
print(f"wrote {dst}")


def row(name, value, target, ceiling=None, ceiling_name="", peer=None, peer_name=""):
    if value is None:
        print(f"{name:28s} {'not measured':>12s}")
        return
    s = f"{name:28s} {value:12.3f}  target {target:>8}"
    if ceiling:
        s += f"  {value / ceiling:6.3f} of {ceiling_name}"
    if peer:
        s += f"  {value / peer:6.2f}x {peer_name}"
    print(s)


sdpa = peers.get("sdpa_causal_fwd_TFLOPs")
row("rmsnorm_bw_fraction", out["rmsnorm_bw_fraction"], ">= 0.85")
row("silu_and_mul_bw_fraction", out["silu_and_mul_bw_fraction"], "")
row("rotary_bw_fraction", out["rotary_bw_fraction"], "")
row("attention_prefill_tflops", out["attention_prefill_tflops"], ">= 400", gemm, "bf16 GEMM",
    sdpa, "torch SDPA")
row("decode_b1_tok_s", out["decode_b1_tok_s"], ">= 1500", limit_b1, "weight-read limit",
    file_peers.get("qwen3_0.6b_decode_b1_sdpa_tok_s"), "transformers (peers file)")
row("decode_b16_tok_s", out["decode_b16_tok_s"], ">= 10000", None, "",
    file_peers.get("qwen3_0.6b_decode_b16_sdpa_tok_s"), "transformers (peers file)")
row("prefill_4096_tok_s", out["prefill_4096_tok_s"], ">= 150000", None, "",
    file_peers.get("qwen3_0.6b_prefill_4096_sdpa_tok_s"), "transformers (peers file)")
for kind, label in (("compile_nolookahead", "greedy look-ahead off"),
                    ("compile_f1", "one GEMV feature per warp"),
                    ("compile_nomma", "CUDA-core GEMV"),
                    ("compile_groupblocks", "a GQA group per attention block"),
                    ("compile_nopdl", "without PDL"), ("compile_unfused", "RotaryKVCache off"),
                    ("compile_cublas", "cuBLAS, no PDL")):
    for b in (1, 16):
        base, full = decode(kind, b), decode("compile", b)
        if base and full:
            print(f"decode b{b} compile {full:.0f} tok/s = {full / base:.2f}x {label} ({base:.0f})")
