#!/usr/bin/env bash
# The kernel commands end to end: publish two releases, `khub versions`, `khub info --json` (the
# variant list and the selection), `khub verify` (exit 0, then exit 1 after tampering), and the
# error for a malformed reference.
set -euo pipefail
KHUB=$1
FIXTURES=$2  # build/test-fixtures
T=$(mktemp -d)
trap 'chmod -R u+w "$T" 2>/dev/null; rm -rf "$T"' EXIT
export KHUB_HUB_PATH="$T/hub" KHUB_RECEIPTS_DIR="$T/receipts" LOCAL_KERNELS=
fail() { echo "FAIL: $*"; exit 1; }

"$KHUB" publish "$FIXTURES/scale-v1" --hub "$T/hub" --tag v1.0.0 >/dev/null
"$KHUB" publish "$FIXTURES/scale-v2" --hub "$T/hub" --tag v1.1.0 --json > "$T/pub.json"
python3 - "$T/pub.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
assert j["repo"] == "khub-test/scale" and len(j["revision"]) == 40, j
assert "tags/v1.1.0" in j["refs-updated"], j
PY

"$KHUB" versions khub-test/scale > "$T/versions.txt"
[ "$(grep -c 'fits cpu' "$T/versions.txt")" = 4 ] || { cat "$T/versions.txt"; fail "versions"; }

"$KHUB" info 'khub-test/scale@<1.1' --json > "$T/info.json"
python3 - "$T/info.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
assert j["resolved-from"] == "v1.0.0", j
assert j["selected"] and j["variants"][0]["selected"], j
assert j["metadata"]["name"] == "scale" and j["manifest"]["layers"][0]["name"] == "Scale", j
PY
"$KHUB" info khub-test/scale | grep -q "selected: khub1-cpu" || fail "info text"

"$KHUB" verify khub-test/scale@v1.0.0 > /dev/null || fail "verify of a good revision"
rev=$(cat "$T/hub/khub-test/scale/refs/tags/v1.0.0")
lib=$(ls "$T/hub/khub-test/scale/revisions/$rev/build/"*/libscale.so)
chmod u+w "$lib"
printf 'X' | dd of="$lib" bs=1 seek=200 conv=notrunc 2>/dev/null
if "$KHUB" verify khub-test/scale@v1.0.0 > "$T/verify.txt"; then fail "verify accepted a tampered file"; fi
grep -q 'hash mismatch for "libscale.so"' "$T/verify.txt" || { cat "$T/verify.txt"; fail "verify message"; }
"$KHUB" verify khub-test/scale@v1.1.0 > /dev/null || fail "the other revision is intact"

set +e
"$KHUB" info 'khub-test/sc ale' 2> "$T/err.txt"
rc=$?
set -e
[ $rc = 2 ] || fail "malformed reference exit code $rc"
grep -q "character ' ' at position 12" "$T/err.txt" || { cat "$T/err.txt"; fail "parse error text"; }
echo "cli ok"
