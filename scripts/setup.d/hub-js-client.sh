#!/usr/bin/env bash
# The official JavaScript Hub client, @huggingface/hub from npm, for the test that drives
# `khub serve` with it (tests/hub_http/js_client_test.mjs). Installed into .testdata/hfjs/
# (gitignored; its own prefix, so that npm does not prune the tokenizer data beside it) only when
# missing; the version is pinned so that the test checks one known client.
set -euo pipefail
cd "$(dirname "$0")/../.."
VERSION=2.17.5
DEST=.testdata/hfjs
pkg="$DEST/node_modules/@huggingface/hub/package.json"
if [ -s "$pkg" ] && grep -q "\"version\": \"$VERSION\"" "$pkg"; then exit 0; fi
echo "setup: installing @huggingface/hub@$VERSION into $DEST"
mkdir -p "$DEST"
npm install --prefix "$DEST" --no-audit --no-fund --no-save --loglevel=error "@huggingface/hub@$VERSION"
