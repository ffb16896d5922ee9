#!/usr/bin/env bash
# The web pages of `khub serve` in a real browser: Debian's headless Chromium driven through the
# DevTools protocol by puppeteer-core (scripts/setup.d/browser-testdata.sh), against `khub serve`
# on loopback over the demo hub of web_fixture.h. browser_test.cjs checks the DOM, clicks through
# repo -> version -> variant, searches, and saves screenshots under OUT_DIR.
# Usage: browser_test.sh KHUB FIXTURE_TOOL [OUT_DIR]   (exit 77 = skipped, with the reason)
set -euo pipefail
KHUB=$1
FIXTURE=$2
OUT=${3:-}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CHROMIUM=$(command -v chromium || true)
PUPPETEER="$ROOT/.testdata/browser/node_modules/puppeteer-core"
if [ -z "$CHROMIUM" ]; then
  echo "SKIP: no chromium on PATH (Debian package 'chromium', installed by scripts/setup.sh)"
  exit 77
fi
if ! command -v node >/dev/null 2>&1 || [ ! -d "$PUPPETEER" ]; then
  echo "SKIP: node or $PUPPETEER missing (run scripts/setup.sh)"
  exit 77
fi
TMP=$(mktemp -d "${TMPDIR:-/tmp}/khub-browser-XXXXXX")
[ -n "$OUT" ] || OUT="$TMP/out"
rm -rf "$OUT"
mkdir -p "$OUT"
SERVER_PID=
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$TMP"
}
trap cleanup EXIT
"$FIXTURE" "$TMP/hub"
echo "browser-token-1234 read" > "$TMP/tokens"
"$KHUB" serve --root "$TMP/hub" --port 0 --token-file "$TMP/tokens" --log "$TMP/serve.log" \
  > "$TMP/serve.out" 2> "$TMP/serve.err" &
SERVER_PID=$!
for _ in $(seq 1 100); do
  grep -q "listening on" "$TMP/serve.out" 2>/dev/null && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$TMP/serve.err"; exit 1; }
  sleep 0.1
done
URL=$(sed -n 's/^khub serve: listening on \(http:[^ ]*\).*/\1/p' "$TMP/serve.out")
[ -n "$URL" ] || { echo "khub serve did not start"; cat "$TMP/serve.err"; exit 1; }
echo "khub serve at $URL; chromium $("$CHROMIUM" --version 2>/dev/null || echo '?'); screenshots in $OUT"
node "$(dirname "$0")/browser_test.cjs" "$URL" "$OUT" "$CHROMIUM" "$PUPPETEER" browser-token-1234
