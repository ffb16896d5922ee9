# Puts the MoE benchmark's parts side by side (scripts/cuda/moe_checks.sh): khub's `bench decode`
# reports (reference path, and the kernels with CUDA graphs) and transformers' figures, measured in
# the same run on the same GPU and checkpoint, plus the batch-1 decode bandwidth limit: the bytes
# one token must read (every non-expert weight, the router, and top_k experts per layer, at the
# bytes per parameter khub runs them in) over the copy bandwidth measured in the same run.
#   python3 moe_summary.py MODEL_DIR TRANSFORMERS.json OUT.json KHUB_NAME=KHUB.json ...
import json
import sys


def active_bytes_per_token(c, bytes_per_param):
    h, inter, e, k = c["hidden_size"], c["intermediate_size"], c["num_local_experts"], c["num_experts_per_tok"]
    d, hq, hk, layers, vocab = c["head_dim"], c["num_attention_heads"], c["num_key_value_heads"], c["num_hidden_layers"], c["vocab_size"]
    attn = h * hq * d + 2 * h * hk * d + hq * d * h  # q, k, v, o
    if c.get("attention_bias"):
        attn += hq * d + 2 * hk * d + h
    attn += hq  # sinks
    expert = 2 * inter * h + 2 * inter + h * inter + h  # gate_up (+ bias), down (+ bias)
    router = e * h + e
    per_layer = attn + router + k * expert + 2 * h  # two norms
    params = layers * per_layer + vocab * h + h  # lm_head (the embedding row is negligible)
    return params * bytes_per_param


def main():
    model_dir, hf_path, out_path = sys.argv[1:4]
    with open(f"{model_dir}/config.json") as f:
        config = json.load(f)
    with open(hf_path) as f:
        hf = json.load(f)
    khub = {}
    for arg in sys.argv[4:]:
        name, path = arg.split("=", 1)
        try:
            with open(path) as f:
                khub[name] = json.load(f)
        except (OSError, json.JSONDecodeError) as e:
            khub[name] = {"error": f"{path}: {e}"}
    bytes_tok = active_bytes_per_token(config, 2)  # bf16 weights, MXFP4 experts dequantized
    limit = hf["copy_TBps"] * 1e12 / bytes_tok
    hf_decode = {r["batch"]: r["tokens_per_s"] for r in hf.get("decode", [])}
    rows = []
    for name, rep in khub.items():
        for r in rep.get("results", []):
            b = r["batch"]
            row = {"khub": name, "what": f"decode b{b}", "khub_tok_s": r["tokens_per_s"],
                   "transformers_tok_s": hf_decode.get(b), "graph_replays": r.get("graph_replays")}
            if row["transformers_tok_s"]:
                row["ratio"] = row["khub_tok_s"] / row["transformers_tok_s"]
            if b == 1:
                row["fraction_of_bandwidth_limit"] = row["khub_tok_s"] / limit
            rows.append(row)
        for p in rep.get("prefill", []):
            row = {"khub": name, "what": f"prefill {p['tokens']}", "khub_tok_s": p["tokens_per_s"]}
            if "prefill" in hf and hf["prefill"]["tokens"] == p["tokens"]:
                row["transformers_tok_s"] = hf["prefill"]["tokens_per_s"]
                row["ratio"] = row["khub_tok_s"] / row["transformers_tok_s"]
            rows.append(row)
    summary = {
        "benchmark": "gpt-oss-20b-shaped MoE (random weights, MXFP4 experts on disk, bf16 in memory): "
        "khub next to transformers, same GPU, same run",
        "model_config": {k: config.get(k) for k in ("hidden_size", "intermediate_size", "num_hidden_layers",
                                                    "num_local_experts", "num_experts_per_tok", "vocab_size")},
        "decode_b1_active_bytes_per_token": bytes_tok,
        "copy_TBps": hf["copy_TBps"],
        "decode_b1_limit_tok_s": limit,
        "rows": rows,
        "transformers": hf,
        "khub": khub,
    }
    with open(out_path, "w") as f:
        json.dump(summary, f, indent=1)
    print(f"{'':12} {'what':14} {'khub tok/s':>12} {'transformers':>13} {'ratio':>7} {'of limit':>9}")
    for r in rows:
        tr = r.get("transformers_tok_s")
        print(f"{r['khub']:12} {r['what']:14} {r['khub_tok_s']:12.1f} {tr if tr else float('nan'):13.1f} "
              f"{r.get('ratio', float('nan')):7.2f} {r.get('fraction_of_bandwidth_limit', float('nan')):9.2f}")
    print(f"decode b1 limit: {limit:.0f} tok/s ({bytes_tok / 1e9:.2f} GB per token, copy {hf['copy_TBps']:.2f} TB/s)")


if __name__ == "__main__":
    main()
