# The preamble the GPU-machine scripts share (kernel_checks.sh, train_checks.sh, gpu_checks.sh,
# ab_decode.sh, house_bench.sh): where cuBLAS is, the environment that runs a package's binaries
# (scripts/cuda/pack.sh), the GPU's name, and run(), which times one step into a log. Sourced:
#   . "$(dirname "$0")/lib.sh"
# Defines no options of its own (the caller keeps its `set -uo pipefail`).

# The folder of the GPU machine's libcublas.so.13 (its image has CUDA's libraries, not khub's).
khub_cublas_dir() {
  dirname "$(find /usr/local /opt /usr/lib -name 'libcublas.so.13*' 2>/dev/null | head -1)"
}

# LD_LIBRARY_PATH for binaries whose missing libraries were packed into DIR/lib.
khub_use_libs() {  # DIR
  export LD_LIBRARY_PATH="$1/lib:$(khub_cublas_dir):${LD_LIBRARY_PATH:-}"
}

# Everything a package's khub and tests need: its libraries, its bundled hub (and nothing from the
# network: HF_HUB_OFFLINE=1) and its built kernel projects for the kernel tests.
khub_use_package() {  # PKG_DIR
  khub_use_libs "$1"
  export KHUB_HUB_PATH=$1/hub HF_HUB_OFFLINE=1 KHUB_TEST_KERNELS_DIR=$1/kernels
}

# The GPU's name, driver and memory, printed and written to OUT_DIR/gpu.txt.
khub_gpu_info() {  # OUT_DIR
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$1/gpu.txt"
}

# run NAME LIMIT COMMAND...: COMMAND under `timeout LIMIT`, its output in $out/NAME.log (the
# caller sets `out`), the last $run_tail lines (default 12) printed, and a line with its exit
# status and seconds appended to the summary array that khub_summary prints.
summary=()
run() {
  local name=$1 limit=$2
  shift 2
  local t0=$SECONDS
  timeout "$limit" "$@" >"$out/$name.log" 2>&1
  local rc=$?
  summary+=("$(printf '%-26s rc=%-3s %4ss' "$name" "$rc" "$((SECONDS - t0))")")
  tail -n "${run_tail:-12}" "$out/$name.log"
  return $rc
}

khub_summary() {  # [FILE]: also written to FILE
  if [ $# -gt 0 ]; then
    printf '%s\n' "${summary[@]}" | tee "$1"
  else
    printf '%s\n' "${summary[@]}"
  fi
}
