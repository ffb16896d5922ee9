# Sourced by the scripts/cuda/*_checks.sh scripts, which run on a GPU machine from binaries built
# elsewhere (scripts/cuda/pack.sh):
#   source "$(dirname "$0")/lib.sh"; cuda_checks_setup PKG_DIR OUT_DIR [TAIL_LINES=12]
# puts PKG_DIR/lib and the machine's cuBLAS on the library path, points khub at PKG_DIR's hub and
# kernels where it has them, records the GPU in OUT_DIR/gpu.txt and defines
#   run NAME TIMEOUT COMMAND...   COMMAND's output into OUT_DIR/NAME.log, its last lines printed,
#                                 a "NAME rc=.. ..s" line added to the summary array.
cuda_checks_setup() {
  local pkg=$1
  checks_out=$2
  checks_tail=${3:-12}
  mkdir -p "$checks_out"
  local cublas_dir
  cublas_dir=$(dirname "$(find /usr/local /opt /usr/lib -name 'libcublas.so.13*' 2>/dev/null | head -1)")
  export LD_LIBRARY_PATH="$pkg/lib:$cublas_dir:${LD_LIBRARY_PATH:-}"
  export HF_HUB_OFFLINE=1  # the GPU machine reaches no network
  # A package from pack.sh has them; a bare binary folder (gpu_checks.sh) may not.
  if [ -d "$pkg/hub" ]; then export KHUB_HUB_PATH=$pkg/hub; fi
  if [ -d "$pkg/kernels" ]; then export KHUB_TEST_KERNELS_DIR=$pkg/kernels; fi
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader |
    tee "$checks_out/gpu.txt"
  summary=()
}

run() {  # name timeout command...
  local name=$1 limit=$2
  shift 2
  local t0=$SECONDS
  timeout "$limit" "$@" >"$checks_out/$name.log" 2>&1
  local rc=$?
  summary+=("$(printf '%-24s rc=%-3s %4ss' "$name" "$rc" "$((SECONDS - t0))")")
  tail -n "$checks_tail" "$checks_out/$name.log"
}
