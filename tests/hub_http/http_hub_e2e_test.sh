#!/usr/bin/env bash
# The khub CLI through an HTTP hub, end to end: the test kernel is built and published into a
# local hub, `khub serve` serves it on loopback, and then, with KHUB_HUB_PATH empty and
# HF_ENDPOINT at the server, `khub versions`, `khub info --json`, `khub download` (the variant
# selected for this machine only), `khub lock` and `khub download --lock` work over HTTP — and
# again with the server stopped and HF_HUB_OFFLINE=1, from the cache alone.
set -euo pipefail
KHUB=$(realpath "$1")
tmp=$(mktemp -d)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$KHUB" build tests/loader/fixtures/scale --out "$tmp/built" > "$tmp/build.out"
# Remote kernels must be signed by a trusted key (docs/kernel-hub.md §8).
"$KHUB" keygen --out "$tmp/e2e.key" > /dev/null
printf '[[keys]]\npublic-key = "%s"\nrepos = ["khub-test/*"]\n' "$(cat "$tmp/e2e.key.pub")" \
  > "$tmp/trust.toml"
export KHUB_TRUST_POLICY="$tmp/trust.toml"
"$KHUB" publish "$tmp/built" --hub "$tmp/hub" --tag v1.0.0 --sign "$tmp/e2e.key" > "$tmp/publish.out"
echo "e2e-write-token-1 write" > "$tmp/tokens"
"$KHUB" serve --root "$tmp/hub" --port 0 --token-file "$tmp/tokens" --log "$tmp/serve.log" \
  > "$tmp/serve.out" 2>&1 &
server_pid=$!
for _ in $(seq 100); do grep -q "listening on" "$tmp/serve.out" 2>/dev/null && break; sleep 0.05; done
url=$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$tmp/serve.out")
[ -n "$url" ] || fail "khub serve did not start: $(cat "$tmp/serve.out")"

export HF_ENDPOINT="$url" KHUB_HUB_PATH="" LOCAL_KERNELS="" KERNELS_CACHE="$tmp/cache" HF_TOKEN=""
unset HF_HUB_OFFLINE

# Publishing over HTTP needs a write token, and gives the revision a local publish gives.
if "$KHUB" publish "$tmp/built" --hub "$url" --repo khub-test/scale-http > /dev/null 2>&1; then
  fail "an upload without a token was accepted"
fi
local_rev=$(sed -n 's/.*@\([0-9a-f]\{40\}\).*/\1/p' "$tmp/publish.out")
HF_TOKEN=e2e-write-token-1 "$KHUB" publish "$tmp/built" --hub "$url" --repo khub-test/scale-http \
  --tag v1.0.0 --sign "$tmp/e2e.key" --json > "$tmp/publish-http.json"
python3 - "$tmp/publish-http.json" "$local_rev" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
assert j["revision"] == sys.argv[2], (j["revision"], sys.argv[2])
assert sorted(j["refs-updated"]) == ["heads/main", "heads/v1", "tags/v1.0.0"], j
PY
"$KHUB" info khub-test/scale-http@v1.0.0 --json > "$tmp/info-http.json"
python3 - "$tmp/info-http.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
assert j["trust"]["verdict"] == "signed", j["trust"]   # the signature went up with the upload
PY

"$KHUB" versions khub-test/scale > "$tmp/versions.out"
grep -q "HTTP hub $url" "$tmp/versions.out" || fail "versions did not go through HTTP: $(cat "$tmp/versions.out")"
grep -q "v1.0.0" "$tmp/versions.out" || fail "versions lacks the tag: $(cat "$tmp/versions.out")"

"$KHUB" info khub-test/scale@v1.0.0 --json > "$tmp/info.json"
python3 - "$tmp/info.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
assert j["source"].startswith("HTTP hub "), j["source"]
assert j["selected"], "no variant selected: %s" % j
PY

"$KHUB" download khub-test/scale@v1 --json > "$tmp/download.json"
# The downloaded snapshot (files linked into blobs/) verifies against its metadata digest.
"$KHUB" verify khub-test/scale@v1 > "$tmp/verify.out" || fail "verify: $(cat "$tmp/verify.out")"
python3 - "$tmp/download.json" "$tmp/info.json" <<'PY'
import json, os, sys
d = json.load(open(sys.argv[1]))[0]
selected = json.load(open(sys.argv[2]))["selected"]
assert d["variants"] == [selected], (d["variants"], selected)
snap = d["path"]
assert os.path.isfile(os.path.join(snap, "build", selected, "metadata.json")), snap
others = [v for v in os.listdir(os.path.join(snap, "build")) if v != selected]
assert not others, "downloaded other variants too: %s" % others
PY

mkdir -p "$tmp/proj"
printf '[dependencies]\n"khub-test/scale" = 1\n' > "$tmp/proj/kernels.toml"
"$KHUB" lock "$tmp/proj" > /dev/null
python3 - "$tmp/proj/kernels.lock" <<'PY'
import json, sys
locks = json.load(open(sys.argv[1]))
assert locks[0]["repo_id"] == "khub-test/scale" and len(locks[0]["sha"]) == 40, locks
for v in locks[0]["variants"].values():
    assert v["hash"].startswith("sha256-") and v["hash_type"] == "git_lfs_concat", v
assert all(len(v["signers"]) == 1 for v in locks[0]["khub"]["variants"].values()), locks
PY
"$KHUB" download --lock "$tmp/proj/kernels.lock" > /dev/null

# The hub goes away: everything fetched before still answers, from the cache only.
kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""
requests=$(wc -l < "$tmp/serve.log")
export HF_HUB_OFFLINE=1
"$KHUB" info khub-test/scale@v1.0.0 --json > "$tmp/info-offline.json"
python3 - "$tmp/info-offline.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
assert "HF_HUB_OFFLINE" in j["source"] and j["selected"], j
PY
"$KHUB" download --lock "$tmp/proj/kernels.lock" > /dev/null
"$KHUB" versions khub-test/scale > /dev/null
"$KHUB" verify khub-test/scale@v1.0.0 > /dev/null
[ "$(wc -l < "$tmp/serve.log")" = "$requests" ] || fail "requests were made after the server stopped"
[ -n "${KHUB_E2E_VERBOSE:-}" ] && cat "$tmp/versions.out" "$tmp/serve.log"
echo "http hub e2e: OK"
