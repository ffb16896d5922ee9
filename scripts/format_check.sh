#!/usr/bin/env bash
# Fails when any tracked C/C++/CUDA source differs from clang-format's output (.clang-format).
set -euo pipefail
cd "$(dirname "$0")/.."
bad=0
while IFS= read -r f; do
  [ -f "$f" ] || continue
  if ! clang-format --dry-run -Werror "$f" >/dev/null 2>&1; then
    echo "format: $f differs from clang-format (run: make format)"; bad=1
  fi
done < <(git ls-files '*.h' '*.cc' '*.cu' '*.cuh' 2>/dev/null)
exit $bad
