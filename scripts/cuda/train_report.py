#!/usr/bin/env python3
"""Merges the runs of scripts/cuda/train_bench.sh into issue 18's benchmark JSON and one table.

RUNS_DIR holds `khub bench train --out` files (NAME.json, one batch each) and train_peer.py files
(peer_BxT.json). The headline (--headline, default "flash" when that run trained attention through
flash-attn, else "kernels") gives the top-level train_tok_s, peak_mem_bytes and mfu (the step's
flops — 6 per matmul weight per token plus attention — over the bf16 GEMM rate measured in the same
run); the peer is transformers' faster eager variant at the same batch (pure bf16 or autocast),
torch.compile beside it. Each A/B run (without_KEY) is compared with the run it differs from by
one key ("flash"): what that kernel buys.
  train_report.py RUNS_DIR OUT_JSON [--commit C] [--headline NAME]
"""
import argparse, datetime, glob, json, os

ap = argparse.ArgumentParser()
ap.add_argument("runs"); ap.add_argument("out")
ap.add_argument("--commit", default="unknown"); ap.add_argument("--headline")
a = ap.parse_args()

khub, peers = {}, {}
for p in sorted(glob.glob(os.path.join(a.runs, "*.json"))):
    name = os.path.basename(p)[:-5]
    j = json.load(open(p))
    if name.startswith("peer_"):
        peers[name[5:]] = j
        continue
    if not j.get("results"):
        continue
    r = j["results"][0]
    khub[name] = {"batch": r["batch"], "seq_len": j["seq_len"],
                  "tokens_per_s": r["tokens_per_s"], "seconds_per_step": r["seconds_per_step"],
                  "peak_mem_bytes": r["peak_mem_bytes"], "mfu": r["fraction_of_bound"],
                  "gemm_gflops": r["sgemm_gflops"], "flops_per_token": r["flops_per_token"],
                  "last_loss": r["last_loss"],
                  "checkpoint_activations": j.get("checkpoint_activations", False),
                  "kernels": j.get("kernels", {}), "gpu": j.get("gpu", j.get("device")),
                  "phases": r.get("phases", {}), "graph_replays": r.get("graph_replays", 0)}

def on_flash(run):
    return "flash-attn" in run.get("kernels", {}).get("Attention", "")

headline = a.headline or ("flash" if "flash" in khub and on_flash(khub["flash"]) else "kernels")
if headline not in khub:
    raise SystemExit(f"train_report: no run named {headline!r} in {a.runs} (have: {sorted(khub)})")
h = khub[headline]

def peer_at(b, t):
    j = peers.get(f"{b}x{t}")
    if not j:
        return None, {}
    ok = {r["variant"]: r for r in j["results"] if "tokens_per_s" in r}
    eager = [ok[v] for v in ("bf16", "autocast") if v in ok]
    best = max(eager, key=lambda r: r["tokens_per_s"]) if eager else None
    return best, {r["variant"]: r for r in j["results"]}

peer, peer_all = peer_at(h["batch"], h["seq_len"])
rep = {
    "benchmark": "khub bench train: Qwen3-0.6B shapes (random weights), bf16 compute over f32 "
                 "master weights, one full step (forward + loss, backward, AdamW), next to "
                 "transformers + torch.optim.AdamW in the same device call "
                 "(scripts/cuda/train_bench.sh)",
    "device": h["gpu"], "date": datetime.date.today().isoformat(), "commit": a.commit,
    "headline_run": headline, "batch": h["batch"], "seq_len": h["seq_len"],
    "train_tok_s": h["tokens_per_s"], "peak_mem_bytes": h["peak_mem_bytes"], "mfu": h["mfu"],
    "mfu_basis": "6 flops per matmul weight per token + causal attention flops, over the bf16 "
                 "cuBLAS GEMM rate measured in the same run at the step's MLP shape "
                 f"({h['gemm_gflops'] / 1e3:.0f} TFLOP/s)",
    "peer_train_tok_s": peer["tokens_per_s"] if peer else None,
    "peer_peak_mem_bytes": peer["peak_mem_bytes"] if peer else None,
    "peer_variant": peer["variant"] if peer else None,
    "peer_variants": peer_all,
    "khub_runs": khub,
}
if peer:
    rep["ratio_tok_s"] = h["tokens_per_s"] / peer["tokens_per_s"]
    rep["ratio_peak_mem"] = h["peak_mem_bytes"] / peer["peak_mem_bytes"]
ab = {}
base = khub.get("flash")
for name, r in khub.items():
    if name.startswith("without_") and base:
        ab[name[8:]] = {"with_tok_s": base["tokens_per_s"], "without_tok_s": r["tokens_per_s"],
                        "speedup": base["tokens_per_s"] / r["tokens_per_s"],
                        "with_peak_mem": base["peak_mem_bytes"],
                        "without_peak_mem": r["peak_mem_bytes"],
                        "without_binding": r["kernels"]}
rep["kernel_ab"] = ab
large = {k: v for k, v in khub.items() if v["batch"] * v["seq_len"] > h["batch"] * h["seq_len"]}
if large:
    lp, lall = peer_at(next(iter(large.values()))["batch"], next(iter(large.values()))["seq_len"])
    rep["large_batch"] = {"khub": large, "peer_best_eager": lp, "peer_variants": lall}
json.dump(rep, open(a.out, "w"), indent=1)

gib = 1 << 30
print(f"{rep['device']}, {rep['date']}, {a.commit}: headline run '{headline}'")
print(f"{'run':28} {'batch':>9} {'tok/s':>9} {'MFU':>6} {'peak GiB':>9}  fwd/bwd/update ms")
for name, r in sorted(khub.items(), key=lambda kv: (kv[1]["batch"] * kv[1]["seq_len"], kv[0])):
    ph = r["phases"]
    split = "/".join(f"{1e3 * ph[k]:.0f}" for k in ("forward_s", "backward_s", "update_s")) \
        if ph else "(captured)" if r["graph_replays"] else ""
    print(f"khub {name:23} {r['batch']:>4}x{r['seq_len']:<4} {r['tokens_per_s']:9.0f} "
          f"{r['mfu']:6.1%} {r['peak_mem_bytes'] / gib:9.2f}  {split}")
for bt, j in sorted(peers.items()):
    for r in j["results"]:
        if "tokens_per_s" in r:
            print(f"transformers {r['variant']:15} {bt:>9} {r['tokens_per_s']:9.0f} {'':6} "
                  f"{r['peak_mem_bytes'] / gib:9.2f}")
        else:
            print(f"transformers {r['variant']:15} {bt:>9} {r['error'][:60]}")
if peer:
    print(f"headline vs transformers {peer['variant']}: {rep['ratio_tok_s']:.2f}x tok/s "
          f"(target >= 2), {rep['ratio_peak_mem']:.2f}x peak memory (target <= 0.6)")
for key, e in sorted(ab.items()):
    print(f"A/B {key:20}: {e['speedup']:.3f}x with the kernel ({e['without_tok_s']:.0f} -> "
          f"{e['with_tok_s']:.0f} tok/s)")
