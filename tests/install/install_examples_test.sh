#!/usr/bin/env bash
# `cmake --install` into a temporary prefix, then, against that prefix only: the layout (public
# headers, internals, soname, CLI, completions, packages), every examples/ project built with
# find_package(khub CONFIG) and run (generate with kernels + a KernelConfig, a hub kernel on a
# tensor against float64, a training loop whose loss falls), the get_kernel example again through
# pkg-config, and the train example linked statically (khub::khub_static).
set -euo pipefail
build=$1 hub=$2
t=$(mktemp -d); trap 'rm -rf "$t"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
p=$t/prefix
cmake --install "$build" --prefix "$p" > "$t/install.log"

# Layout.
for f in include/khub/khub.h include/khub/models.h include/khub/kernel_abi.h \
         include/khub/kernel_manifest.h include/khub/internal/core/tensor.h \
         include/khub/internal/models/causal_lm.h include/khub/kernel-support/khub_cpu/abi_args.h \
         lib/libkhub.a lib/cmake/khub/khub-config.cmake lib/cmake/khub/khub-config-version.cmake \
         lib/pkgconfig/khub.pc bin/khub share/bash-completion/completions/khub \
         share/zsh/site-functions/_khub; do
  [ -e "$p/$f" ] || fail "$f not installed"
done
# Internals the public headers do not need stay out (the CLI, the server, the builder, .cc files).
for d in cli serve builder; do [ ! -e "$p/include/khub/internal/$d" ] || fail "internal $d installed"; done
[ -z "$(find "$p/include" -name '*.cc')" ] || fail "sources installed"
soname=$(readelf -d "$p/lib/libkhub.so" | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')
[ "$soname" = "libkhub.so.0.1" ] || fail "soname '$soname'"
[ -e "$p/lib/$soname" ] || fail "$soname missing"
"$p/bin/khub" --version | grep -qx 'khub [0-9.]*' || fail "installed khub --version"
cmp <("$p/bin/khub" completion bash) "$p/share/bash-completion/completions/khub" ||
  fail "installed bash completion differs from khub completion bash"

# A small model for the examples, made by the installed CLI.
"$p/bin/khub" init-model --arch qwen3 --preset tiny --out "$t/m" > /dev/null
export KHUB_HUB_PATH=$hub
cmake_ex() {  # name [extra cmake args]
  local name=$1; shift
  cmake -S examples/"$name" -B "$t/ex-$name$*" -G Ninja -DCMAKE_BUILD_TYPE=Release \
        -DCMAKE_PREFIX_PATH="$p" "$@" > "$t/cmake-$name.log" 2>&1 || { cat "$t/cmake-$name.log"; fail "configure $name"; }
  cmake --build "$t/ex-$name$*" > "$t/build-$name.log" 2>&1 || { cat "$t/build-$name.log"; fail "build $name"; }
}
for ex in generate get_kernel train; do cmake_ex $ex; done
# The examples load libkhub from the prefix, not from the build tree.
# (ldd's output is captured first: `ldd | grep -q` under pipefail fails when grep exits early and
# ldd dies of SIGPIPE, which is what made this check flaky.)
links=$(ldd "$t/ex-generate/generate")
grep -q "$p/lib/libkhub.so.0.1" <<< "$links" || fail "generate links $(grep khub <<< "$links")"

# generate: the kernels the KernelConfig names run, and the ids are the CLI's for the same config.
"$t/ex-generate/generate" "$t/m" 6 > "$t/gen.txt" 2> "$t/gen.err" || { cat "$t/gen.err"; fail "generate ran"; }
grep -q '^kernel RMSNorm khub-community/rmsnorm@' "$t/gen.txt" || fail "RMSNorm kernel: $(cat "$t/gen.txt")"
grep -q '^kernel SiluAndMul khub-community/activation@' "$t/gen.txt" || fail "SiluAndMul kernel"
cat > "$t/cfg.json" <<'JSON'
{"kernel_mapping": {"RMSNorm": "khub-community/rmsnorm@^1:RMSNorm",
                    "SiluAndMul": {"cpu": "khub-community/activation:SiluAndMul"}}}
JSON
"$p/bin/khub" generate --model "$t/m" --prompt-ids 1,2,3 --max-new-tokens 6 --ignore-eos \
  --use-kernels --kernel-config "$t/cfg.json" --json 2>/dev/null > "$t/cli.json"
want=$(python3 -c 'import json,sys; print(" ".join(map(str, json.load(open(sys.argv[1]))["ids"])))' "$t/cli.json")
got=$(head -1 "$t/gen.txt" | sed 's/ *$//')
[ "$got" = "$want" ] || fail "generate example ids '$got', khub generate '$want'"

# get_kernel: the kernel's RMSNorm against float64 math.
"$t/ex-get_kernel/get_kernel" > "$t/gk.txt" || { cat "$t/gk.txt"; fail "get_kernel"; }
grep -q 'khub-community/rmsnorm@.*max |kernel - float64 reference|' "$t/gk.txt" || fail "get_kernel output"

# train: the loss falls over 6 steps.
"$t/ex-train/train" "$t/m" 6 > "$t/train.txt" || { cat "$t/train.txt"; fail "train: loss did not fall"; }
[ "$(grep -c '^step ' "$t/train.txt")" = 6 ] || fail "train steps"

# pkg-config: the same get_kernel program, compiled with khub.pc's flags only.
export PKG_CONFIG_PATH=$p/lib/pkgconfig
[ "$(pkg-config --modversion khub)" = "$("$p/bin/khub" --version | cut -d' ' -f2)" ] || fail "khub.pc version"
# shellcheck disable=SC2046
c++ -O1 examples/get_kernel/main.cc -o "$t/gk-pc" $(pkg-config --cflags --libs khub) \
    -Wl,-rpath,"$p/lib" || fail "pkg-config build"
"$t/gk-pc" > /dev/null || fail "pkg-config build runs"

# The static library: the training example linked against libkhub.a (no libkhub.so needed).
mkdir -p "$t/static"
cp examples/train/main.cc "$t/static/"
sed 's/khub::khub)/khub::khub_static)/' examples/train/CMakeLists.txt > "$t/static/CMakeLists.txt"
cmake -S "$t/static" -B "$t/static/b" -G Ninja -DCMAKE_PREFIX_PATH="$p" > "$t/static.log" 2>&1 &&
  cmake --build "$t/static/b" >> "$t/static.log" 2>&1 || { cat "$t/static.log"; fail "static build"; }
static_links=$(ldd "$t/static/b/train")
! grep -q libkhub <<< "$static_links" || fail "static train still needs libkhub.so"
"$t/static/b/train" "$t/m" 3 > /dev/null || fail "static train runs"
echo "ok: installed tree, 3 examples (find_package), pkg-config, static"
