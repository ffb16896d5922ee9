#!/usr/bin/env bash
# The browser test of the `khub serve` web pages (tests/serve_web/browser_test.sh) drives Debian's
# Chromium (DEBIAN_PACKAGES in setup.sh) through the DevTools protocol with puppeteer-core from
# npm, which downloads no browser of its own. Installed into .testdata/browser (gitignored, its
# own prefix so that the tokenizer test data beside it is left alone) only when missing; the
# version is pinned.
set -euo pipefail
cd "$(dirname "$0")/../.."
VERSION=24.10.2
DEST=.testdata/browser
if [ -f "$DEST/node_modules/puppeteer-core/package.json" ] &&
   grep -q "\"version\": \"$VERSION\"" "$DEST/node_modules/puppeteer-core/package.json"; then
  exit 0
fi
echo "setup: installing puppeteer-core@$VERSION into $DEST"
mkdir -p "$DEST"
npm install --prefix "$DEST" --no-audit --no-fund --no-save --loglevel=error "puppeteer-core@$VERSION"
