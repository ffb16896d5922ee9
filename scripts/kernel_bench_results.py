#!/usr/bin/env python3
"""Splits a bench/kernels_cpu results file (bench/results/*-cpu-kernels.json) into one file per
kernel project, kernels/<name>/bench/results/<date>-cpu.json, so that `khub publish` ships each
kernel's measured results with it and `khub serve` shows them on /<org>/<repo>/benchmarks
(hub/store/publish.h docs_from). The records are copied as measured; each output names its source.

    python3 scripts/kernel_bench_results.py bench/results/2026-11-24-cpu-kernels.json
"""
import json
import os
import sys

# The ops bench/kernels_cpu measures, by the kernel project that implements them (the layer names
# of each kernel's manifest; ".backward" records belong to the same kernel).
KERNEL_OF_OP = {
    "RMSNorm": "rmsnorm",
    "GemmaRMSNorm": "rmsnorm",
    "FusedAddRMSNorm": "rmsnorm",
    "SiluAndMul": "activation",
    "GeluTanhAndMul": "activation",
    "GeluAndMul": "activation",
    "rotary_pos_emb": "rotary",
}
# Per-op keys of the source's summaries, kept for the ops of the kernel.
PER_OP = ("summary", "target_70_percent")


def main(src, kernels_dir="kernels"):
    with open(src) as f:
        j = json.load(f)
    date = j.get("date", "undated")
    by_kernel = {}
    for rec in j["results"]:
        op = rec.get("op", "").split(".")[0]
        if op not in KERNEL_OF_OP:
            sys.exit(f"{src}: op {rec.get('op')!r} has no kernel in KERNEL_OF_OP")
        by_kernel.setdefault(KERNEL_OF_OP[op], []).append(rec)
    for kernel, records in sorted(by_kernel.items()):
        ops = {r["op"].split(".")[0] for r in records}
        out = {k: v for k, v in j.items() if k not in ("results",) + PER_OP}
        out["benchmark"] = f"khub-community/{kernel} on the CPU vs the eager per-op reference"
        out["source"] = (f"{src}: the records of {', '.join(sorted(ops))}, split by "
                         "scripts/kernel_bench_results.py")
        for key in PER_OP:
            if isinstance(j.get(key), dict):
                out[key] = {k: v for k, v in j[key].items()
                            if any(k.startswith(op + "_") for op in ops)}
        out["results"] = records
        dest = os.path.join(kernels_dir, kernel, "bench", "results", f"{date}-cpu.json")
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        with open(dest, "w") as f:
            json.dump(out, f, indent=1, sort_keys=True)
            f.write("\n")
        print(f"{dest}: {len(records)} records")


if __name__ == "__main__":
    main(*sys.argv[1:])
