#!/usr/bin/env python3
"""The ratio table of scripts/cuda/house_bench.sh: every figure of the JSON files under
OUT_DIR/before and OUT_DIR/after (STEP_REPEAT.json, as `khub bench decode`, `khub bench kernels`
bench_kernels_cuda and `khub bench train` write them), the better of the repeats on each side, after/before, and a
verdict. Exits 1 when a figure of `after` is worse than `before` by more than --tolerance, or is
missing where `before` has it; 2 when there is nothing to compare.
  scripts/cuda/house_compare.py OUT_DIR [--tolerance 0.05]
"""
import argparse
import glob
import json
import os
import sys

HIGHER, LOWER, INFO = "higher", "lower", "info"  # which way is better; INFO: context only


def figures(step, report):
    """(name, value, better) of one report of one step."""
    out = []
    if step.startswith("decode"):
        for r in report.get("results", []):
            out.append((f"{step} {r['preset']} batch {r['batch']} decode tok/s", r["tokens_per_s"],
                        HIGHER))
        for p in report.get("prefill", []):
            out.append((f"{step} {p['preset']} prefill {p['tokens']} tok/s", p["tokens_per_s"],
                        HIGHER))
    elif step == "train_cpu":
        for r in report.get("results", []):
            out.append((f"train_cpu batch {r['batch']} x {report.get('seq_len')} train tok/s",
                        r["tokens_per_s"], HIGHER))
    elif step == "kernels":
        for d in report.get("decode", []):
            out.append((f"kernels cpu batch {d['batch']} reference tok/s",
                        d["reference_tokens_per_s"], HIGHER))
            out.append((f"kernels cpu batch {d['batch']} kernels tok/s", d["kernels_tokens_per_s"],
                        HIGHER))
        k = report.get("kernelize_ms", {})
        for which in ("cold", "warm"):
            if f"{which}_median" in k:
                out.append((f"kernels kernelize at load, {which} ms", k[f"{which}_median"], LOWER))
    elif step == "cuda_kernels":
        if "copy_TBps" in report:
            out.append(("cuda_kernels copy TB/s (the GPU, for context)", report["copy_TBps"], INFO))
        for key, detail in report.items():
            if key.endswith("_detail") and isinstance(detail, dict):
                name = key[: -len("_detail")]
                if isinstance(report.get(name), (int, float)):
                    out.append((f"cuda_kernels {name} (fraction of copy)", report[name], HIGHER))
    return out


def fmt(v):
    return f"{v:12.0f}" if abs(v) >= 1000 else f"{v:12.4g}"


def collect(side_dir):
    """name -> (best value over the repeats, better), in first-seen order."""
    best = {}
    for path in sorted(glob.glob(os.path.join(side_dir, "*.json"))):
        step = os.path.basename(path)[: -len(".json")].rsplit("_", 1)[0]
        try:
            report = json.load(open(path))
        except (OSError, ValueError) as e:
            print(f"house_compare: {path}: {e}", file=sys.stderr)
            continue
        for name, value, better in figures(step, report):
            if name in best:
                old = best[name][0]
                value = min(old, value) if better == LOWER else max(old, value)
            best[name] = (value, better)
    return best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out_dir")
    ap.add_argument("--tolerance", type=float, default=0.05)
    a = ap.parse_args()
    before = collect(os.path.join(a.out_dir, "before"))
    after = collect(os.path.join(a.out_dir, "after"))
    names = list(before) + [n for n in after if n not in before]
    if not names:
        print(f"house_compare: no figures under {a.out_dir}/before or {a.out_dir}/after")
        return 2
    gpu = os.path.join(a.out_dir, "gpu.txt")
    if os.path.exists(gpu):
        print("GPU:", open(gpu).read().strip())
    width = max(len(n) for n in names)
    print(f"{'figure':<{width}}  {'before':>12}  {'after':>12}  {'after/before':>12}  verdict")
    bad = 0
    for n in names:
        b, f = before.get(n), after.get(n)
        if b is None or f is None:
            verdict = "only before" if f is None else "only after"
            bad += f is None
            bv = fmt(b[0]) if b else f"{'-':>12}"
            fv = fmt(f[0]) if f else f"{'-':>12}"
            print(f"{n:<{width}}  {bv}  {fv}  {'-':>12}  {verdict}")
            continue
        better = b[1]
        ratio = f[0] / b[0] if b[0] else float("inf")
        if better == INFO:
            verdict = "context"
        elif (better == HIGHER and ratio < 1 - a.tolerance) or (
                better == LOWER and ratio > 1 + a.tolerance):
            verdict = "WORSE"
            bad += 1
        elif (better == HIGHER and ratio > 1 + a.tolerance) or (
                better == LOWER and ratio < 1 - a.tolerance):
            verdict = "better"
        else:
            verdict = "same"
        why = "" if better == INFO else f" ({better} is better)"
        print(f"{n:<{width}}  {fmt(b[0])}  {fmt(f[0])}  {ratio:12.3f}  {verdict}{why}")
    print(f"{bad} figure(s) worse than before by more than {a.tolerance:.0%} or missing"
          if bad else f"every figure within {a.tolerance:.0%} of before or better")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
