#!/usr/bin/env bash
# Writes the parity checkpoints of tests/fixtures/parity/recipes.json with `khub init-model`.
# usage: make_parity_checkpoints.sh KHUB_BINARY OUT_DIR [RECIPES_JSON (default: the parity recipes)]
set -euo pipefail
khub=$1; out=$2
recipes=${3:-$(dirname "$0")/../../tests/fixtures/parity/recipes.json}
python3 - "$recipes" "$khub" "$out" <<'PY'
import json, subprocess, sys
recipes, khub, out = sys.argv[1:]
r = json.load(open(recipes))
for name, m in r["models"].items():
    subprocess.run([khub, "init-model", "--arch", m["arch"], "--preset", m["preset"], "--seed",
                    str(m["seed"]), "--out", f"{out}/{name}", "--config-override",
                    json.dumps(m["overrides"])], check=True)
PY
