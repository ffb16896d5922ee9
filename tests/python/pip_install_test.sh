#!/usr/bin/env bash
# `pip install .` (pyproject.toml + setup.py, docs/python.md §Install), offline with Debian's pip:
#   1. into a venv (--system-site-packages, for numpy and torch) from this build
#      (KHUB_CMAKE_BUILD_DIR): the package holds _khub and libkhub under its soname, _khub's run
#      path is $ORIGIN alone, the libkhub the process maps is the package's, a hub kernel called on
#      numpy matches float64 math, examples/python/rmsnorm.py runs (a model too), pip uninstall
#      removes every file;
#   2. with --target from an installed khub (KHUB_PREFIX = `cmake --install` of this build): only
#      the module is compiled, by python/CMakeLists.txt standalone (what scripts/cuda/
#      python_cuda.sh does on the GPU machine), and the same kernel call works from there.
# Nothing is written outside a temporary folder: pip's and setuptools' build files included.
#   pip_install_test.sh PYTHON BUILD_DIR [--no-prefix]
set -euo pipefail
python=$1 build=$(realpath "$2") mode=${3:-}
src=$(pwd)
t=$(mktemp -d); trap 'chmod -R u+w "$t" 2>/dev/null; rm -rf "$t"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
export PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 HF_HUB_OFFLINE=1
unset PYTHONPATH KHUB_PROGRAM_DIR
before=$(git -C "$src" status --porcelain --ignored 2>/dev/null | LC_ALL=C sort || true)

"$python" -m venv --system-site-packages "$t/venv" || fail "python3 -m venv (python3-venv)"
py=$t/venv/bin/python
KHUB_CMAKE_BUILD_DIR=$build "$py" -m pip install --no-build-isolation --no-index --no-deps "$src" \
  > "$t/pip.log" 2>&1 || { cat "$t/pip.log"; fail "pip install into the venv"; }
site=$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["platlib"])')
pkg=$site/khub
soname=$(readelf -d "$build/lib/libkhub.so" | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')
ext=$("$py" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
for f in __init__.py "_khub$ext" "$soname"; do [ -f "$pkg/$f" ] || fail "khub/$f not installed"; done
[ ! -L "$pkg/$soname" ] || fail "khub/$soname is a link (a wheel holds files)"
runpath=$(readelf -d "$pkg/_khub$ext" | sed -n 's/.*\(RUNPATH\|RPATH\).*\[\(.*\)\]/\2/p')
[ "$runpath" = '$ORIGIN' ] || fail "_khub's run path is '$runpath', not \$ORIGIN (the build tree leaks)"
want_version=$(sed -n 's/^project(khub VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")
shown=$("$py" -m pip show khub)  # captured first: grep -q would end the pipe early (pipefail)
grep -qx "Version: $want_version" <<< "$shown" || fail "pip show: $shown"

# From the venv, in a folder far from the build tree; the hub and its trust policy named.
mkdir "$t/run"
cd "$t/run"
KHUB_HUB_PATH=$build/hub "$py" - "$pkg" "$soname" "$build/share/khub/trust-policy.toml" <<'PY'
import os, sys
import numpy as np
import khub
pkg, soname, policy = sys.argv[1:]
assert os.path.dirname(os.path.abspath(khub.__file__)) == pkg, khub.__file__
maps = [l.split()[-1] for l in open("/proc/self/maps") if "libkhub.so" in l]
assert maps and all(m == os.path.join(pkg, soname) for m in maps), sorted(set(maps))
assert khub.program_dir() != os.path.dirname(pkg), khub.program_dir()  # no bundled hub here
# Without the build's policy its signing key is unknown here (first: a loaded kernel is cached).
try:
    khub.get_kernel("khub-community/rmsnorm@^1", require_signed=True)
    raise SystemExit("an untrusted signature passed require_signed without the policy")
except khub.VerificationError as e:
    assert "is not trusted for khub-community/rmsnorm" in str(e), str(e)
k = khub.get_kernel("khub-community/rmsnorm@^1", trust_policy=policy)
assert k.trust["verdict"] == "signed", k.trust
rng = np.random.default_rng(3)
x = rng.standard_normal((6, 128)).astype(np.float32)
w = rng.standard_normal(128).astype(np.float32)
out = np.empty_like(x)
assert k.rms_norm_forward(x, w, out, eps=1e-6) is out
xd = x.astype(np.float64)
ref = xd / np.sqrt((xd * xd).mean(-1, keepdims=True) + 1e-6) * w
np.testing.assert_allclose(out, ref, rtol=2e-5, atol=2e-6)
print("venv ok:", k, khub.__version__)
PY
# The example, against the installed package, with a model (the hub as the CLI's: program dir).
"$build/bin/khub" init-model --arch qwen3 --preset tiny --out "$t/m" > /dev/null
KHUB_PROGRAM_DIR=$build/bin "$py" "$src/examples/python/rmsnorm.py" --model "$t/m" \
  > "$t/example.txt" 2>&1 || { cat "$t/example.txt"; fail "examples/python/rmsnorm.py"; }
grep -q '^rms_norm_forward cpu f32: max |kernel - float64|' "$t/example.txt" || fail "$(cat "$t/example.txt")"
grep -q '^kernel RMSNorm khub-community/rmsnorm@' "$t/example.txt" || fail "$(cat "$t/example.txt")"
cli=$("$build/bin/khub" generate --model "$t/m" --prompt-ids 1,2,3 --max-new-tokens 8 --use-kernels \
      --kernels-lock none --json 2>/dev/null | "$py" -c 'import json,sys; print(*json.load(sys.stdin)["ids"])')
grep -qx "generated: $cli" "$t/example.txt" || fail "example ids: $(grep generated "$t/example.txt"), CLI: $cli"
cd "$src"

"$py" -m pip uninstall -y khub > "$t/uninstall.log" 2>&1 || { cat "$t/uninstall.log"; fail "uninstall"; }
[ ! -e "$pkg" ] || fail "pip uninstall left $(ls "$pkg")"

if [ "$mode" != --no-prefix ]; then
  # 2. From an installed khub: python/CMakeLists.txt standalone, into a --target folder.
  cmake --install "$build" --prefix "$t/prefix" > "$t/install.log"
  KHUB_PREFIX=$t/prefix "$python" -m pip install -v --no-build-isolation --no-index --no-deps \
    --target "$t/site" "$src" > "$t/pip-prefix.log" 2>&1 ||
    { cat "$t/pip-prefix.log"; fail "pip install --target with KHUB_PREFIX"; }
  grep -q -- "-S $src/python " "$t/pip-prefix.log" || fail "KHUB_PREFIX did not build python/ alone"
  [ -f "$t/site/khub/$soname" ] || fail "--target: khub/$soname missing"
  (cd "$t/run" && PYTHONPATH=$t/site KHUB_HUB_PATH=$build/hub KHUB_PROGRAM_DIR=$build/bin "$python" - \
     "$t/site/khub/$soname" <<'PY'
import sys
import numpy as np
import khub
maps = {l.split()[-1] for l in open("/proc/self/maps") if "libkhub.so" in l}
assert maps == {sys.argv[1]}, maps
k = khub.get_kernel("khub-community/activation")
x = np.linspace(-3, 3, 64, dtype=np.float32).reshape(2, 32)
out = np.empty((2, 16), np.float32)
k.silu_and_mul_forward(x, out)
a, b = x[:, :16].astype(np.float64), x[:, 16:].astype(np.float64)
np.testing.assert_allclose(out, a / (1 + np.exp(-a)) * b, rtol=1e-5, atol=1e-6)
print("--target ok:", k)
PY
  ) || fail "the --target install"
fi

after=$(git -C "$src" status --porcelain --ignored 2>/dev/null | LC_ALL=C sort || true)
[ "$before" = "$after" ] || fail "pip wrote into the source tree: $(diff <(echo "$before") <(echo "$after"))"
echo "pip install ok"
