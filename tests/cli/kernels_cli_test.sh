#!/usr/bin/env bash
# `khub generate --use-kernels` through the CLI on the bundled hub: the JSON `kernels` list (one
# entry per layer key: key, kernel {repo, revision, variant} or null, reason), a --kernel-config
# file in the user's document's forms, USE_HUB_KERNELS=0, and a bad config naming its key.
set -euo pipefail
khub=$1; hub=$2
export KHUB_HUB_PATH=$hub
dir=$(mktemp -d); trap 'rm -rf "$dir"' EXIT
"$khub" init-model --arch llama --preset tiny --out "$dir/m" >/dev/null
run() { "$khub" generate --model "$dir/m" --prompt-ids 5,6,7 --max-new-tokens 6 --json "$@"; }
plain=$(run); kern=$(run --use-kernels)
cat > "$dir/cfg.json" <<'JSON'
{"kernel_mapping": {"rotary_pos_emb": "",
                    "RMSNorm": {"cpu": "khub-community/rmsnorm@^1.0:RMSNorm",
                                "cuda": "khub-community/rmsnorm:RMSNorm"}}}
JSON
cfg=$(run --use-kernels --kernel-config "$dir/cfg.json")
off=$(USE_HUB_KERNELS=0 run --use-kernels)
python3 - "$plain" "$kern" "$cfg" "$off" <<'PY'
import json, sys
plain, kern, cfg, off = (json.loads(a) for a in sys.argv[1:])
assert plain["kernels"] == [], plain["kernels"]
assert kern["ids"] == plain["ids"], (kern["ids"], plain["ids"])
by = {k["key"]: k for k in kern["kernels"]}
assert set(by) == {"RMSNorm", "rotary_pos_emb", "Attention", "SiluAndMul"}, set(by)
for key in ("RMSNorm", "rotary_pos_emb", "SiluAndMul"):
    k = by[key]["kernel"]
    assert k and len(k["revision"]) == 40 and k["variant"] == "khub1-cpu-x86_64-linux", by[key]
assert by["Attention"]["kernel"] is None and "cpu" in by["Attention"]["reason"]
c = {k["key"]: k for k in cfg["kernels"]}
r = c["rotary_pos_emb"]
assert r["kernel"] is None and "kernel_config" in r["reason"], r
# ^1.0 picks the highest v1.x tag (rmsnorm has v1.0.0 and v1.1.0).
assert c["RMSNorm"]["kernel"]["ref"] == "khub-community/rmsnorm@^1.0:RMSNorm", c["RMSNorm"]
assert c["SiluAndMul"]["kernel"] is not None
assert all(k["kernel"] is None for k in off["kernels"]), off["kernels"]
PY
echo '{"kernel_mapping": {"RMSNorm": 7}}' > "$dir/bad.json"
if run --use-kernels --kernel-config "$dir/bad.json" 2>"$dir/err"; then exit 1; fi
grep -q "kernel_config\['RMSNorm'\]" "$dir/err"
echo "kernels_cli: OK"
