#!/usr/bin/env bash
# Builds the dev/cuda experiments against an existing CUDA build of khub (default build/).
set -euo pipefail
cd "$(dirname "$0")/../.."
b=${1:-build}
mkdir -p "$b/dev"
libs=()
for p in models kernelize layers loader hub ops io core; do libs+=("$b/src/$p/libkhub_$p.a"); done
for src in dev/cuda/*.cc; do
  g++ -std=c++20 -O2 -Isrc -Iinclude -I/usr/local/cuda/include "$src" \
    -Wl,--start-group "${libs[@]}" -Wl,--end-group -L/usr/local/cuda/lib64 -lcudart_static \
    -lcublas -lopenblas -lcurl -lssl -lcrypto -lz -lpthread -ldl -lrt \
    -Wl,-rpath,/usr/local/cuda/lib64 -o "$b/dev/$(basename "$src" .cc)"
done
