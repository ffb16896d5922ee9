#!/usr/bin/env bash
# Builds every kernel project (kernels/*/build.toml) with `khub build` and publishes it into the
# bundled hub, <build>/hub — the hub khub uses when KHUB_HUB_PATH is unset. The Makefile's `build`
# target runs it after compiling khub.
#
#   scripts/publish_bundled_hub.sh [BUILD_DIR=build] [KERNELS_DIR=kernels]
#
# Projects named in $KHUB_TWO_RELEASES (default: rmsnorm) are published twice on branch v<major>,
# as tags v<major>.0.0 and v<major>.1.0 — the same sources built with a different
# -DKHUB_KERNEL_RELEASE, so they are two genuinely different revisions and version selection has
# something to choose from. Unchanged sources are not rebuilt and re-publishing an unchanged build
# writes nothing, so a second run takes well under a second per kernel. When a kernel is rebuilt,
# its repo in the bundled hub is replaced (the hub is a build output; its tags would otherwise
# forbid republishing a release with new content).
#
# Each kernel's README.md and bench/results/*.json (kernels/<name>/) are published with it, for the
# repo and benchmarks pages of `khub serve` (--project; a change to them replaces the repo too).
#
# Every revision is signed (docs/kernel-hub.md §8). With $KHUB_SIGNING_KEY set (a release build:
# the khub-community release key, whose public half is keys/khub-community-release.pub and which
# khub's built-in trust policy trusts), that key signs. Otherwise a key made for this build dir,
# <build>/keys/khub-community-build.key (mode 0600, made once, never committed: build/ is ignored),
# signs, and <build>/share/khub/trust-policy.toml — the install-level policy layer of the khub
# next to it — trusts its public half for khub-community/* and nothing else.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
KERNELS=${2:-kernels}
KHUB="$BUILD/bin/khub"
HUB="$BUILD/hub"
OUT="$BUILD/kernels"
TWO_RELEASES=" ${KHUB_TWO_RELEASES:-rmsnorm} "

if [ ! -x "$KHUB" ]; then
  echo "publish_bundled_hub: $KHUB is not built" >&2
  exit 1
fi
if [ ! -d "$KERNELS" ]; then
  echo "publish_bundled_hub: no $KERNELS/ folder, nothing to publish"
  exit 0
fi
mkdir -p "$HUB" "$OUT"

if [ -n "${KHUB_SIGNING_KEY:-}" ]; then
  KEY="$KHUB_SIGNING_KEY"
else
  KEY="$BUILD/keys/khub-community-build.key"
  if [ ! -f "$KEY" ]; then
    mkdir -p "$BUILD/keys"
    chmod 700 "$BUILD/keys"
    "$KHUB" keygen --out "$KEY" >/dev/null
  fi
  POLICY="$BUILD/share/khub/trust-policy.toml"
  mkdir -p "$(dirname "$POLICY")"
  tmp_policy="$POLICY.tmp.$$"
  cat >"$tmp_policy" <<POLICY_EOF
# Written by scripts/publish_bundled_hub.sh: trusts this build's bundled-hub key for the
# khub-community kernels it signed ($KEY, private, mode 0600).
[[keys]]
name = "khub-community build key ($(basename "$(cd "$BUILD" && pwd)"))"
public-key = "$(cat "$KEY.pub")"
repos = ["khub-community/*"]
POLICY_EOF
  mv "$tmp_policy" "$POLICY"
fi

json_field() {  # json_field FIELD < json  (top-level string field, "changed" for any rebuild,
                #                          "variants" for the number of variants built)
  python3 -c '
import json, sys
j = json.load(sys.stdin)
f = sys.argv[1]
if f == "changed":
    print("yes" if any(not v["up-to-date"] for v in j["variants"]) else "no")
elif f == "variants":
    print(len(j["variants"]))
else:
    print(j[f])
' "$1"
}

# build NAME PROJECT OUT [DEFINE] -> sets $built_json
build() {
  local args=("$2" --out "$3" --json)
  [ -n "${4:-}" ] && args+=(--define "$4")
  built_json=$("$KHUB" build "${args[@]}")
}

# docs_changed PROJECT STAMP: whether the project's README.md and bench/results/*.json (which
# publish ships with the variants: --project) differ from the last run's; records them.
docs_changed() {
  local now
  now=$(cd "$1" && find README.md bench/results -maxdepth 1 -type f 2>/dev/null | LC_ALL=C sort |
    xargs -r -d '\n' sha256sum | sha256sum | cut -c1-64)
  if [ -f "$2" ] && [ "$(cat "$2")" = "$now" ]; then return 1; fi
  echo "$now" >"$2"
  return 0
}

shopt -s nullglob
count=0
for project in "$KERNELS"/*/; do
  project=${project%/}
  [ -f "$project/build.toml" ] || continue
  name=$(basename "$project")
  if [[ "$TWO_RELEASES" == *" $name "* ]]; then
    build "$name" "$project" "$OUT/$name-r0" KHUB_KERNEL_RELEASE=0
    changed0=$(json_field changed <<<"$built_json")
    build "$name" "$project" "$OUT/$name" KHUB_KERNEL_RELEASE=1
    changed1=$(json_field changed <<<"$built_json")
    repo=$(json_field repo-id <<<"$built_json")
    major=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' \
      "$(ls -d "$OUT/$name"/*/ | head -n1)metadata.json")
    docs=no
    docs_changed "$project" "$OUT/$name.docs-stamp" && docs=yes
    if [ "$changed0" = yes ] || [ "$changed1" = yes ] || [ "$docs" = yes ]; then
      rm -rf "${HUB:?}/$repo"
    fi
    "$KHUB" publish "$OUT/$name-r0" --hub "$HUB" --tag "v$major.0.0" --sign "$KEY" \
      --project "$project"
    "$KHUB" publish "$OUT/$name" --hub "$HUB" --tag "v$major.1.0" --sign "$KEY" \
      --project "$project"
  else
    build "$name" "$project" "$OUT/$name"
    if [ "$(json_field variants <<<"$built_json")" = 0 ]; then
      # A CUDA-only project (flash-attn) on a machine without nvcc: nothing to publish.
      echo "publish_bundled_hub: $name has no variant this machine can build, skipped"
      continue
    fi
    repo=$(json_field repo-id <<<"$built_json")
    docs=no
    docs_changed "$project" "$OUT/$name.docs-stamp" && docs=yes
    if [ "$(json_field changed <<<"$built_json")" = yes ] || [ "$docs" = yes ]; then
      rm -rf "${HUB:?}/$repo"
    fi
    "$KHUB" publish "$OUT/$name" --hub "$HUB" --sign "$KEY" --project "$project"
  fi
  count=$((count + 1))
done
echo "publish_bundled_hub: $count kernel projects in $HUB"
