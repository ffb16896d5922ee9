#!/usr/bin/env bash
# Packs what the GPU machine needs to run khub's GPU checks from binaries built here into one
# xz tarball (the device tool ships at most 64 MiB): bin/ (khub, the gpu-labelled tests, the CUDA
# benches), lib/ (shared libraries the GPU machine's image lacks: every non-glibc, non-CUDA library
# the binaries link), kernels/ (build/kernels), hub/ (build/hub), commit.txt (the commit the
# results the GPU scripts write are stamped with; "+dirty" when the working tree had changes) and
# sdk/ for building the Python module there (scripts/cuda/python_cuda.sh): libkhub.so and the
# installed headers (cmake --install), the system headers those include (nlohmann/, dlpack/, ...:
# sdk/third-party/) and pybind11's headers and CMake package (sdk/pybind11/, used when the
# machine's Python has no pybind11).
#   scripts/cuda/pack.sh [BUILD_DIR=build] [OUT=.devout/pkg.tar.xz]
# PACK_SLIM=1 packs only what scripts/cuda/house_bench.sh runs (khub, bench_kernels_cuda, lib/,
# kernels/, hub/, share/; no tests, no sdk/), so that two builds fit one device call.
# On the GPU machine: mkdir -p /tmp/pkg && tar xJf OUT -C /tmp/pkg; then scripts/cuda/*.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
out=${2:-.devout/pkg.tar.xz}
stage=$(mktemp -d)
inst=$(mktemp -d)
trap 'rm -rf "$stage" "$inst"' EXIT
mkdir -p "$stage/bin" "$stage/lib" "$(dirname "$out")"
slim=${PACK_SLIM:-0}
if [ "$slim" = 1 ]; then
  bins=(khub bench_kernels_cuda)
else
  bins=(khub bench_kernels_cuda bench_flash_decode bench_decode_step)
  for b in "$build"/bin/test_*_cuda; do bins+=("$(basename "$b")"); done
  for d in decode_breakdown step_overhead; do [ -x "$build/dev/$d" ] && cp "$build/dev/$d" "$stage/bin/"; done
fi
for b in "${bins[@]}"; do [ -x "$build/bin/$b" ] && cp "$build/bin/$b" "$stage/bin/"; done
if [ "$slim" = 1 ]; then
  :
elif [ -e "$build/lib/libkhub.so" ]; then
  cmake --install "$build" --prefix "$inst" > /dev/null
  mkdir -p "$stage/sdk/lib" "$stage/sdk/third-party"
  cp -r "$inst/include" "$stage/sdk/include"
  cp "$(readlink -f "$inst/lib/libkhub.so")" "$stage/sdk/lib/"
  # The system headers the installed ones include (<nlohmann/json.hpp>, <dlpack/dlpack.h>, ...).
  grep -rhoE '^#include <[A-Za-z0-9_+]+/' "$inst/include" | sed 's/^#include <//; s|/$||' |
    sort -u | while read -r d; do
      if [ "$d" != khub ] && [ -d "/usr/include/$d" ]; then cp -rL "/usr/include/$d" "$stage/sdk/third-party/"; fi
    done
  if [ -d /usr/include/pybind11 ] && [ -d /usr/lib/cmake/pybind11 ]; then
    mkdir -p "$stage/sdk/pybind11/include" "$stage/sdk/pybind11/lib/cmake"
    cp -r /usr/include/pybind11 "$stage/sdk/pybind11/include/"
    cp -r /usr/lib/cmake/pybind11 "$stage/sdk/pybind11/lib/cmake/"
  fi
else
  echo "pack: $build/lib/libkhub.so not built: no sdk/ (scripts/cuda/python_cuda.sh needs it)" >&2
fi
for b in "$stage"/bin/* "$stage"/sdk/lib/*; do if [ -e "$b" ]; then ldd "$b"; fi; done | awk '$3 ~ /^\// {print $1, $3}' | sort -u |
  grep -v -E '^(libc|libm|libpthread|libdl|librt|libstdc\+\+|libgcc_s|libcublas|libcublasLt|libcudart)\.' |
  while read -r name path; do cp -L "$path" "$stage/lib/$name"; done
cp -r "$build/kernels" "$stage/kernels"
cp -r "$build/hub" "$stage/hub"
# The install-level trust policy that trusts this build's signing key for the bundled hub
# (scripts/publish_bundled_hub.sh): found next to the binaries, as bin/../share/khub/.
[ -d "$build/share" ] && cp -r "$build/share" "$stage/share"
# The commit of the tree the build folder belongs to (another worktree's build names its own).
{ git -C "$build" rev-parse --short HEAD 2>/dev/null || echo unknown; } | tr -d '\n' >"$stage/commit.txt"
git -C "$build" diff --quiet HEAD 2>/dev/null || printf '+dirty' >>"$stage/commit.txt"
tar -C "$stage" -cf - . | xz -T2 -6 >"$out"
echo "pack: $out $(du -h "$out" | cut -f1) ($(ls "$stage/bin" | wc -l) binaries, $(ls "$stage/lib" | wc -l) libraries)"
