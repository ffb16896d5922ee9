#!/usr/bin/env bash
# `khub train` and `khub grad` end to end on the embedded default (the ~100M-parameter Qwen3-shaped
# model `khub init-model --preset small` creates, with its byte-level tokenizer): the loss falls
# on a small real text, the output folder is a checkpoint `khub generate` loads, a resumed run
# continues it exactly as an uninterrupted one, and bad input fails with a message naming it
# without touching the last good checkpoint.
set -euo pipefail
khub=$1
dir=$(mktemp -d); trap 'rm -rf "$dir"' EXIT
"$khub" init-model --arch qwen3 --preset small --out "$dir/m" --seed 0 >/dev/null
[ -f "$dir/m/tokenizer.json" ]
# A fixed real text (two of the project's documents as they were when this test was written), so
# that editing the docs does not change what this test trains on.
cp tests/fixtures/training/cli_train_text.txt "$dir/text.txt"
common=(--data "$dir/text.txt" --seq-len 48 --batch 2 --lr 3e-4 --seed 1 --json)

# 6 steps in one go, and 3 + resume 3: same losses, bit-identical weights.
"$khub" train --model "$dir/m" "${common[@]}" --out "$dir/full" --steps 6 > "$dir/full.jsonl"
"$khub" train --model "$dir/m" "${common[@]}" --out "$dir/half" --steps 3 > "$dir/half.jsonl"
"$khub" train --resume "$dir/half" "${common[@]}" --out "$dir/half" --steps 6 > "$dir/rest.jsonl"
python3 - "$dir" <<'PY'
import json, sys
d = sys.argv[1]
rows = lambda f: [json.loads(l) for l in open(f"{d}/{f}") if '"loss"' in l]
full, half, rest = rows("full.jsonl"), rows("half.jsonl"), rows("rest.jsonl")
assert [r["step"] for r in full] == [1, 2, 3, 4, 5, 6], full
assert all(set(r) == {"step", "loss", "grad_norm", "lr", "tokens_per_s"} for r in full), full[0]
assert full[-1]["loss"] < 0.8 * full[0]["loss"], [r["loss"] for r in full]
assert [r["loss"] for r in half + rest] == [r["loss"] for r in full], (half + rest, full)
PY
cmp "$dir/full/model.safetensors" "$dir/half/model.safetensors"
cmp "$dir/full/optimizer.safetensors" "$dir/half/optimizer.safetensors"
cmp "$dir/m/tokenizer.json" "$dir/full/tokenizer.json"
cmp "$dir/m/config.json" "$dir/full/config.json"
"$khub" generate --model "$dir/full" --prompt "The layer" --max-new-tokens 4 --json > /dev/null

# grad: one entry per checkpoint tensor, the tied lm_head under the embedding's name.
"$khub" grad --model "$dir/m" --prompt-ids "1,5,9,13;2,6,10,14" --json > "$dir/grad.json"
python3 - "$dir/grad.json" <<'PY'
import json, sys
g = json.load(open(sys.argv[1]))
n = g["grad_norms"]
assert "lm_head.weight" not in n and "model.embed_tokens.weight" in n, sorted(n)[:3]
assert len(n) == 1 + 12 * 11 + 1, len(n)  # embed, 12 × (q,k,v,o, q/k norm, 3 MLP, 2 norms), norm
assert g["loss"] > 0 and all(v > 0 for v in n.values())
PY

# grad --save-grads: every gradient under its checkpoint name, f32, whose L2 norms are the JSON's.
"$khub" grad --model "$dir/m" --prompt-ids "1,5,9,13;2,6,10,14" --json \
  --save-grads "$dir/grads.safetensors" > "$dir/grad2.json"
python3 - "$dir/grad2.json" "$dir/grads.safetensors" <<'PY'
import array, json, math, struct, sys
norms = json.load(open(sys.argv[1]))["grad_norms"]
raw = open(sys.argv[2], "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
head = json.loads(raw[8:8 + n])
meta = head.pop("__metadata__")
assert float(meta["loss"]) > 0, meta
assert sorted(head) == sorted(norms), (sorted(head)[:3], sorted(norms)[:3])
for name, t in head.items():
    assert t["dtype"] == "F32", (name, t)
    b, e = t["data_offsets"]
    v = array.array("f", raw[8 + n + b:8 + n + e])
    assert len(v) == math.prod(t["shape"]), (name, t)
    l2 = math.sqrt(sum(float(x) * x for x in v))
    assert abs(l2 - norms[name]) <= 1e-5 * norms[name], (name, l2, norms[name])
PY

# --no-shuffle: the rows in the file's order. With --lr 0 the weights never change, so step i's
# loss is the loss `khub grad` gives row i alone; the default order is the seeded shuffle.
rows=("3,17,29,41,53,67" "101,113,127,139,151,163" "211,223,239,251,263,277"
  "307,311,331,347,359,373" "401,419,431,443,457,467")
: > "$dir/rows.jsonl"
for r in "${rows[@]}"; do echo "{\"input_ids\": [$r]}" >> "$dir/rows.jsonl"; done
for r in "${rows[@]}"; do "$khub" grad --model "$dir/m" --prompt-ids "$r" --json; done > "$dir/alone.jsonl"
order_args=(--data "$dir/rows.jsonl" --seq-len 6 --batch 1 --steps 5 --lr 0 --seed 3 --json)
"$khub" train --model "$dir/m" "${order_args[@]}" --no-shuffle --out "$dir/ordered" > "$dir/ordered.jsonl"
"$khub" train --model "$dir/m" "${order_args[@]}" --out "$dir/shuffled" > "$dir/shuffled.jsonl"
python3 - "$dir" <<'PY'
import json, sys
d = sys.argv[1]
losses = lambda f: [json.loads(l)["loss"] for l in open(f"{d}/{f}") if '"loss"' in l]
alone, ordered, shuffled = losses("alone.jsonl"), losses("ordered.jsonl"), losses("shuffled.jsonl")
assert len(set(round(x, 6) for x in alone)) == 5, alone  # the rows are told apart by their loss
close = lambda a, b: abs(a - b) <= 1e-6 * abs(b)
assert len(ordered) == 5 and all(map(close, ordered, alone)), (ordered, alone)
pos = [min(range(5), key=lambda i: abs(alone[i] - x)) for x in shuffled]
assert sorted(pos) == [0, 1, 2, 3, 4] and all(close(x, alone[i]) for x, i in zip(shuffled, pos)), (shuffled, alone)
assert pos != [0, 1, 2, 3, 4], pos  # seed 3 shuffles 5 rows out of the file's order
PY

# bench train: issue 18's top-level figures are the first batch's (tiny shapes, one timed step).
"$khub" bench train --arch qwen3 --preset tiny --batches 2,1 --seq-len 8 --steps 1 \
  --models-dir "$dir/bench-models" --out "$dir/bench.json" >/dev/null
python3 - "$dir/bench.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
first = j["results"][0]
assert [r["batch"] for r in j["results"]] == [2, 1], j["results"]
assert j["train_tok_s"] == first["tokens_per_s"] > 0, j
assert j["mfu"] == first["fraction_of_bound"] and 0 < j["mfu"] < 1, j
assert j["peak_mem_bytes"] == first["peak_mem_bytes"], j
assert j["device"] == "cpu" and j["date"] and "commit" in j, j
ph = first["phases"]
assert set(ph) == {"forward_s", "backward_s", "update_s"} and min(ph.values()) > 0, ph
PY
# scripts/cuda/train_report.py merges such runs with a transformers peer file (here a stand-in
# of train_peer.py's format) into issue 18's top-level figures: the headline is the kernels run,
# the peer the faster eager variant, and a without_KEY run is an A/B against "flash".
mkdir -p "$dir/runs"
cp "$dir/bench.json" "$dir/runs/kernels.json"
cp "$dir/bench.json" "$dir/runs/flash.json"
cp "$dir/bench.json" "$dir/runs/without_RMSNorm.json"
python3 - "$dir/runs/peer_2x8.json" <<'PY'
import json, sys
json.dump({"results": [{"variant": "bf16", "tokens_per_s": 10.0, "peak_mem_bytes": 4.0},
                       {"variant": "autocast", "tokens_per_s": 20.0, "peak_mem_bytes": 8.0},
                       {"variant": "compile", "error": "RuntimeError: no compiler"}]},
          open(sys.argv[1], "w"))
PY
python3 scripts/cuda/train_report.py "$dir/runs" "$dir/report.json" --commit test >/dev/null
python3 - "$dir/report.json" "$dir/bench.json" <<'PY'
import json, sys
r, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert r["headline_run"] == "kernels" and r["train_tok_s"] == b["train_tok_s"], r
assert r["peer_variant"] == "autocast" and r["peer_train_tok_s"] == 20.0, r
assert r["peer_peak_mem_bytes"] == 8.0 and r["ratio_tok_s"] == b["train_tok_s"] / 20.0, r
assert set(r["kernel_ab"]) == {"RMSNorm"} and "error" in r["peer_variants"]["compile"], r
PY

# Bad input: a clear error, and the good checkpoint stays byte-identical.
sha=$(sha256sum "$dir/full/model.safetensors")
expect_fail() {  # expect_fail PATTERN ARGS...
  local pattern=$1; shift
  if out=$("$khub" "$@" 2>&1); then echo "expected failure: $*"; exit 1; fi
  grep -q -- "$pattern" <<<"$out" || { echo "wanted '$pattern' in: $out"; exit 1; }
}
: > "$dir/empty.txt"
expect_fail "empty" train --model "$dir/m" --data "$dir/empty.txt" --out "$dir/full" --steps 1
expect_fail "missing.txt" train --model "$dir/m" --data "$dir/missing.txt" --out "$dir/full"
expect_fail "max_position_embeddings" train --model "$dir/m" --data "$dir/text.txt" \
  --seq-len 100000 --out "$dir/full"
expect_fail "32000" train --model "$dir/m" --data-ids "1,2,40000" --out "$dir/full"
expect_fail "at least 2" train --model "$dir/m" --data-ids "1" --out "$dir/full"
expect_fail "optimizer" train --model "$dir/m" --data-ids "1,2,3" --optimizer lion --out "$dir/full"
expect_fail "steps are captured on CUDA only (the model is on cpu)" train --model "$dir/m" \
  --data-ids "1,2,3" --out "$dir/full" --mode training,compile --use-kernels
expect_fail "runs through the hub's kernels" train --model "$dir/m" --data-ids "1,2,3" \
  --out "$dir/full" --mode training,compile
expect_fail "not a khub training checkpoint" train --model "$dir/m" --data-ids "1,2,3" \
  --out "$dir/m" --steps 1
[ "$(sha256sum "$dir/full/model.safetensors")" = "$sha" ]
echo ok
