#!/usr/bin/env bash
# `khub generate --use-kernels` through the CLI on the bundled hub: the JSON `kernels` list (one
# entry per layer key: key, kernel {repo, revision, variant} or null, reason), a --kernel-config
# file in the user's document's forms, USE_HUB_KERNELS=0, a project's kernels.lock pinning the
# kernels generate loads (and refusing a variant that differs from it), and a bad config naming
# its key.
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
assert set(by) == {"RMSNorm", "FusedAddRMSNorm", "rotary_pos_emb", "RotaryKVCache", "Attention",
                   "SiluAndMul"}, set(by)
for key in ("RMSNorm", "FusedAddRMSNorm", "rotary_pos_emb", "SiluAndMul"):
    k = by[key]["kernel"]
    assert k and len(k["revision"]) == 40 and k["variant"] == "khub1-cpu-x86_64-linux", by[key]
for key in ("Attention", "RotaryKVCache"):  # CUDA-only kernels
    assert by[key]["kernel"] is None and "cpu" in by[key]["reason"], by[key]
c = {k["key"]: k for k in cfg["kernels"]}
r = c["rotary_pos_emb"]
assert r["kernel"] is None and "kernel_config" in r["reason"], r
# ^1.0 picks the highest v1.x tag (rmsnorm has v1.0.0 and v1.1.0).
assert c["RMSNorm"]["kernel"]["ref"] == "khub-community/rmsnorm@^1.0:RMSNorm", c["RMSNorm"]
assert c["SiluAndMul"]["kernel"] is not None
assert all(k["kernel"] is None for k in off["kernels"]), off["kernels"]
PY
# The same through HTTP: `khub serve` over the bundled hub, no local hub, a fresh cache.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$khub" serve --root "$hub" --port "$port" 2>"$dir/serve.log" &
serve_pid=$!
trap 'kill $serve_pid 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 50); do curl -s "http://127.0.0.1:$port/api/models/x/y" >/dev/null 2>&1 && break; sleep 0.1; done
http=$(KHUB_HUB_PATH= HF_ENDPOINT=http://127.0.0.1:$port KERNELS_CACHE=$dir/cache run --use-kernels)
python3 - "$kern" "$http" <<'PY'
import json, sys
local, http = (json.loads(a) for a in sys.argv[1:])
assert http["ids"] == local["ids"]
l = {k["key"]: k["kernel"] for k in local["kernels"]}
for k in http["kernels"]:
    if l[k["key"]] is None:
        continue
    assert k["kernel"] and k["kernel"]["revision"] == l[k["key"]]["revision"], (k, l[k["key"]])
PY
ls "$dir/cache" | grep -q "kernels--khub-community--rmsnorm"

# A project's kernels.lock pins what generate loads: rmsnorm locked to v1.0.0, although the default
# (branch v1) is v1.1.0; found as the nearest kernels.lock above the working directory.
mkdir -p "$dir/proj/sub"
printf '[dependencies]\n"khub-community/rmsnorm" = "v1.0.0"\n"khub-community/activation" = 1\n' \
  > "$dir/proj/kernels.toml"
HF_ENDPOINT=http://127.0.0.1:$port KERNELS_CACHE=$dir/cache "$khub" lock "$dir/proj" >/dev/null
locked=$(cd "$dir/proj/sub" && KHUB_LOG_LEVEL=info run --use-kernels 2>"$dir/locked.err")
grep -q "applying $dir/proj/kernels.lock" "$dir/locked.err"
unlocked=$(cd "$dir/proj/sub" && run --use-kernels --kernels-lock none)
python3 - "$locked" "$unlocked" "$dir/proj/kernels.lock" "$hub" <<'PY'
import json, sys
locked, unlocked = (json.loads(a) for a in sys.argv[1:3])
lock = {e["repo_id"]: e for e in json.load(open(sys.argv[3]))}
v100 = open(sys.argv[4] + "/khub-community/rmsnorm/refs/tags/v1.0.0").read().strip()
assert lock["khub-community/rmsnorm"]["sha"] == v100, lock["khub-community/rmsnorm"]
l = {k["key"]: k["kernel"] for k in locked["kernels"]}
u = {k["key"]: k["kernel"] for k in unlocked["kernels"]}
assert l["RMSNorm"]["revision"] == v100, l["RMSNorm"]
assert u["RMSNorm"]["revision"] != v100, u["RMSNorm"]  # the default is the v1 branch head
assert l["SiluAndMul"]["revision"] == lock["khub-community/activation"]["sha"], l["SiluAndMul"]
assert locked["ids"] == unlocked["ids"]
PY
# A lock whose metadata digest differs from the hub's is refused: the key falls back to the
# reference, and the report says why, naming the lock's digest.
python3 - "$dir/proj/kernels.lock" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
for e in j:
    if e["repo_id"] == "khub-community/activation":
        for v in e["khub"]["variants"].values():
            v["metadata"] = "sha256-" + "0" * 64
json.dump(j, open(sys.argv[1], "w"))
PY
tampered=$(cd "$dir/proj" && run --use-kernels 2>/dev/null)
python3 - "$tampered" <<'PY'
import json, sys
k = {k["key"]: k for k in json.loads(sys.argv[1])["kernels"]}
s = k["SiluAndMul"]
assert s["kernel"] is None and "kernels.lock locks sha256-0000" in s["reason"], s
assert k["RMSNorm"]["kernel"] is not None, k["RMSNorm"]  # the other locked kernel still loads
PY
kill $serve_pid

echo '{"kernel_mapping": {"RMSNorm": 7}}' > "$dir/bad.json"
if run --use-kernels --kernel-config "$dir/bad.json" 2>"$dir/err"; then exit 1; fi
grep -q "kernel_config\['RMSNorm'\]" "$dir/err"
echo "kernels_cli: OK"
