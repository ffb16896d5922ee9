// Variant folder names: the `build/<variant>/` folders of a kernel repo.
//
// khub's own family is `khub<ABI>-<backend>-<cpu>-<os>` (docs/design.md §4). The Hugging Face
// families (research/hf-kernels.md §2.2) are parsed exactly as the Python client does — torch exact
// (`torch212-cxx11-cu130-x86_64-linux`), torch stable ABI, tvm-ffi, torch noarch (`torch-cuda`) and
// `torch-universal` — so that a hub repo built for Python is described precisely; khub then rejects
// those families with a reason instead of ignoring them silently.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace khub::loader {

enum class VariantFamily {
  kKhub,            // khub1-cpu-x86_64-linux
  kTorch,           // torch212[-cxx11]-cu130-x86_64-linux
  kTorchStableAbi,  // torch-stable-abi29-cu130-x86_64-linux
  kTvmFfi,          // tvm-ffi01-cu128-x86_64-linux
  kTorchNoarch,     // torch-cuda
  kTorchUniversal,  // torch-universal
};
std::string_view variant_family_name(VariantFamily family);

// Backend families named by variants and metadata `backend.type`.
enum class BackendKind { kCpu, kCuda, kRocm, kMetal, kXpu, kCann, kNeuron, kTpu };
std::string_view backend_kind_name(BackendKind kind);  // "cpu", "cuda", ...
bool backend_kind_parse(std::string_view name, BackendKind* out);

// A backend token: `cpu`, `metal`, `neuron`, `tpu` (unversioned) or `cu130`, `rocm64`,
// `xpu20253`, `cann80` (versioned; the last digit is the minor, as in HF: cu128 = 12.8,
// xpu20253 = 2025.3).
struct Backend {
  BackendKind kind = BackendKind::kCpu;
  bool versioned = false;
  int major = 0;
  int minor = 0;
  std::string token;  // as written: "cu130"

  std::string version_str() const;  // "13.0", "" when unversioned
};
// Returns nullopt when the token is not a backend; `why` (optional) says what was expected.
std::optional<Backend> parse_backend_token(std::string_view token, std::string* why = nullptr);

struct VariantName {
  std::string name;  // the folder name as found
  VariantFamily family = VariantFamily::kKhub;
  // The framework version the variant was built against: khub ABI major (minor unused), torch
  // major.minor, torch stable-ABI major.minor, tvm-ffi major.minor. Unused for noarch/universal.
  int abi_major = 0;
  int abi_minor = 0;
  std::string cxx_abi;  // "cxx11", "cxx98" or "" (torch exact only)
  Backend backend;      // noarch: the backend named; universal: unset (kind kCpu, token "")
  std::string cpu;      // "x86_64" or "aarch64" (normalized); "" for noarch/universal
  std::string os;       // "linux", "darwin", "windows"; "" for noarch/universal
};

// Parses a variant folder name. Returns nullopt for names that follow no known grammar, with the
// reason in `why` (e.g. "unknown cpu 'riscv64' (expected x86_64 or aarch64)").
std::optional<VariantName> parse_variant_name(std::string_view name, std::string* why = nullptr);

// "arm64" -> "aarch64", "AMD64"/"amd64" -> "x86_64"; other names unchanged.
std::string normalize_cpu(std::string_view cpu);

// Formats khub's own variant name: khub<abi>-<backend token>-<cpu>-<os>.
std::string khub_variant_name(int abi_major, const Backend& backend, std::string_view cpu,
                              std::string_view os);

}  // namespace khub::loader
