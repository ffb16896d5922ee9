#!/usr/bin/env bash
# khub's Python module on the GPU machine, in one command: builds python/ (standalone CMake
# project, python/CMakeLists.txt) against the package's libkhub and headers (pack.sh's sdk/) for
# the machine's Python + CUDA torch, then runs tests/python/cuda_test.py: hub kernels
# (khub-community/rmsnorm@^1) on torch CUDA f32/bf16 tensors, zero-copy and in place, against
# torch float64 math, and AutoModelForCausalLM.from_pretrained(..., use_kernels=True) on cuda
# generating the ids `khub generate` does. Prints a PASS/FAIL table; exits 0 only when all pass.
#
#   here:     cmake --build build && bash scripts/publish_bundled_hub.sh build
#             bash scripts/cuda/pack.sh build .devout/pkg.tar.xz
#   there:    mkdir -p /tmp/pkg && tar xJf .devout/pkg.tar.xz -C /tmp/pkg
#             bash scripts/cuda/python_cuda.sh [PKG=/tmp/pkg] [OUT_DIR=$OUT or /tmp/khub-python-cuda]
#
# KHUB_PYTHON=... picks the interpreter (default /opt/torch/.venv/bin/python3, else python3).
set -euo pipefail
cd "$(dirname "$0")/../.."
pkg=$(realpath "${1:-/tmp/pkg}")
out=${2:-${OUT:-/tmp/khub-python-cuda}}
mkdir -p "$out"
out=$(realpath "$out")
die() { echo "python_cuda: FAIL: $*" >&2; exit 1; }
. scripts/cuda/lib.sh

# What the machine must have: a GPU, the package, an interpreter with CUDA torch and Python.h.
command -v nvidia-smi > /dev/null || die "no nvidia-smi: not a GPU machine"
khub_gpu_info "$out"
[ -x "$pkg/bin/khub" ] || die "$pkg/bin/khub missing: untar pack.sh's package into $pkg"
sdk=$pkg/sdk
ls "$sdk"/lib/libkhub.so.*.*.* > /dev/null 2>&1 && [ -f "$sdk/include/khub/khub.h" ] ||
  die "$pkg has no sdk/ (libkhub + headers): pack it with this branch's scripts/cuda/pack.sh"
py=${KHUB_PYTHON:-/opt/torch/.venv/bin/python3}
[ -x "$py" ] || py=$(command -v python3) || die "no python3"
"$py" -c 'import torch, sys; assert torch.cuda.is_available(), "torch sees no GPU"
print("python_cuda: Python %s, torch %s (CUDA %s)" % (sys.version.split()[0], torch.__version__,
                                                     torch.version.cuda))' ||
  die "$py has no CUDA torch"
pyinc=$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
[ -f "$pyinc/Python.h" ] || die "no Python.h in $pyinc (the interpreter's development headers)"
venv_bin=$(dirname "$py")
export PATH="$PATH:$venv_bin"  # the venv's cmake and ninja when the system has none
command -v cmake > /dev/null || die "no cmake (PATH or $venv_bin)"
cxx=${CXX:-$(command -v g++ || command -v c++ || true)}
[ -n "$cxx" ] || die "no C++ compiler (g++)"
# pybind11: the interpreter's own (pip), else the headers pack.sh carried from the build machine.
pb_dir=$("$py" -m pybind11 --cmakedir 2> /dev/null || true)
if [ -z "$pb_dir" ] || [ ! -d "$pb_dir" ]; then
  pb_dir=$sdk/pybind11/lib/cmake/pybind11
  [ -d "$pb_dir" ] || die "no pybind11: neither '$py -m pybind11' nor $pb_dir"
  echo "python_cuda: pybind11 from the package ($pb_dir)"
fi

khub_use_package "$pkg"
export KHUB_PROGRAM_DIR=$pkg/bin  # the package's bundled hub and its trust policy (bin/../share)
gen=(); command -v ninja > /dev/null && gen=(-G Ninja)
build=$out/build
t0=$SECONDS
{
  cmake -S python -B "$build" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER="$cxx" \
    -DKHUB_PREFIX="$sdk" -DKHUB_THIRD_PARTY_INCLUDE="$sdk/third-party" \
    -DPython_EXECUTABLE="$py" -Dpybind11_DIR="$pb_dir" &&
    cmake --build "$build" -j "$(nproc)"
} > "$out/build.log" 2>&1 || { tail -n 40 "$out/build.log"; die "building the module (log: $out/build.log)"; }
echo "python_cuda: module built in $((SECONDS - t0)) s: $(ls "$build"/khub/_khub*.so)"
export PYTHONPATH=$build
set +e
PYTHONUNBUFFERED=1 "$py" tests/python/cuda_test.py "$pkg/bin/khub" "$out" 2>&1 | tee "$out/cuda_test.log"
rc=${PIPESTATUS[0]}
set -e
# The example too, on cuda (its own check: exit 1 when the kernel's result is off).
if "$py" examples/python/rmsnorm.py --device cuda --dtype bf16 > "$out/example.log" 2>&1; then
  echo "PASS  examples/python/rmsnorm.py --device cuda --dtype bf16: $(grep 'max |' "$out/example.log")"
else
  echo "FAIL  examples/python/rmsnorm.py --device cuda --dtype bf16:"; cat "$out/example.log"; rc=1
fi
[ "$rc" = 0 ] && echo "python_cuda: ALL PASS" || echo "python_cuda: FAILED (logs in $out)"
exit "$rc"
