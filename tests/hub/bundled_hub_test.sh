#!/usr/bin/env bash
# scripts/publish_bundled_hub.sh on the test fixtures: two releases of one kernel become two tags
# on branch v1 with different revisions, and a second run rebuilds and re-publishes nothing.
set -euo pipefail
KHUB=$1
cd "$(dirname "$0")/../.."
T=$(mktemp -d)
trap 'chmod -R u+w "$T" 2>/dev/null; rm -rf "$T"' EXIT
mkdir -p "$T/bin"
ln -s "$(readlink -f "$KHUB")" "$T/bin/khub"
export KHUB_TWO_RELEASES=scale KHUB_HUB_PATH="$T/hub"
bash scripts/publish_bundled_hub.sh "$T" tests/loader/fixtures > "$T/run1.log"
v100=$(cat "$T/hub/khub-test/scale/refs/tags/v1.0.0")
v110=$(cat "$T/hub/khub-test/scale/refs/tags/v1.1.0")
v1=$(cat "$T/hub/khub-test/scale/refs/heads/v1")
[ "$v100" != "$v110" ] || { echo "v1.0.0 and v1.1.0 are the same revision"; exit 1; }
[ "$v1" = "$v110" ] || { echo "branch v1 is not at v1.1.0"; exit 1; }
"$T/bin/khub" versions khub-test/scale | grep -q "v1.0.0  tag     $v100" || { "$T/bin/khub" versions khub-test/scale; exit 1; }
before=$(find "$T/hub" "$T/kernels" -newer "$T/run1.log" -not -name .lock | wc -l)
bash scripts/publish_bundled_hub.sh "$T" tests/loader/fixtures > "$T/run2.log"
if grep -E "^(published|moved)" "$T/run2.log"; then echo "second run published again"; exit 1; fi
after=$(find "$T/hub" "$T/kernels" -newer "$T/run1.log" -not -name .lock | wc -l)
[ "$after" = "$before" ] || { echo "second run wrote files"; find "$T/hub" "$T/kernels" -newer "$T/run1.log"; exit 1; }
echo "bundled hub script ok"
