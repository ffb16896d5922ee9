#include "loader/variant.h"

#include <vector>

namespace khub::loader {
namespace {

bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// Callers pass at most 6 digits (checked), so this never overflows.
int to_int(std::string_view s) {
  int v = 0;
  for (char c : s) v = v * 10 + (c - '0');
  return v;
}

std::vector<std::string_view> split_dash(std::string_view s) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    size_t dash = s.find('-', start);
    parts.push_back(s.substr(start, dash == std::string_view::npos ? dash : dash - start));
    if (dash == std::string_view::npos) break;
    start = dash + 1;
  }
  return parts;
}

void set_why(std::string* why, std::string text) {
  if (why) *why = std::move(text);
}

// "<digits>" where the last digit is the minor: "130" -> 13.0, "71" -> 7.1.
bool parse_last_digit_minor(std::string_view digits, int* major, int* minor) {
  if (!all_digits(digits) || digits.size() < 2 || digits.size() > 4) return false;
  *major = to_int(digits.substr(0, digits.size() - 1));
  *minor = digits.back() - '0';
  return true;
}

// The "<cpu>-<os>" suffix shared by every arch family.
bool parse_system(std::string_view cpu, std::string_view os, VariantName* v, std::string* why) {
  std::string c = normalize_cpu(cpu);
  if (c != "x86_64" && c != "aarch64") {
    set_why(why, "unknown cpu '" + std::string(cpu) + "' (expected x86_64 or aarch64)");
    return false;
  }
  if (os != "linux" && os != "darwin" && os != "windows") {
    set_why(why, "unknown os '" + std::string(os) + "' (expected linux, darwin or windows)");
    return false;
  }
  v->cpu = c;
  v->os = std::string(os);
  return true;
}

bool parse_backend_into(std::string_view token, VariantName* v, std::string* why) {
  auto b = parse_backend_token(token, why);
  if (!b) return false;
  v->backend = *b;
  return true;
}

}  // namespace

std::string_view variant_family_name(VariantFamily family) {
  switch (family) {
    case VariantFamily::kKhub:
      return "khub";
    case VariantFamily::kTorch:
      return "torch";
    case VariantFamily::kTorchStableAbi:
      return "torch-stable-abi";
    case VariantFamily::kTvmFfi:
      return "tvm-ffi";
    case VariantFamily::kTorchNoarch:
      return "torch-noarch";
    case VariantFamily::kTorchUniversal:
      return "torch-universal";
  }
  return "?";
}

std::string_view backend_kind_name(BackendKind kind) {
  switch (kind) {
    case BackendKind::kCpu:
      return "cpu";
    case BackendKind::kCuda:
      return "cuda";
    case BackendKind::kRocm:
      return "rocm";
    case BackendKind::kMetal:
      return "metal";
    case BackendKind::kXpu:
      return "xpu";
    case BackendKind::kCann:
      return "cann";
    case BackendKind::kNeuron:
      return "neuron";
    case BackendKind::kTpu:
      return "tpu";
  }
  return "?";
}

bool backend_kind_parse(std::string_view name, BackendKind* out) {
  for (BackendKind k :
       {BackendKind::kCpu, BackendKind::kCuda, BackendKind::kRocm, BackendKind::kMetal,
        BackendKind::kXpu, BackendKind::kCann, BackendKind::kNeuron, BackendKind::kTpu}) {
    if (backend_kind_name(k) == name) {
      *out = k;
      return true;
    }
  }
  return false;
}

std::string Backend::version_str() const {
  if (!versioned) return "";
  return std::to_string(major) + "." + std::to_string(minor);
}

std::optional<Backend> parse_backend_token(std::string_view token, std::string* why) {
  Backend b;
  b.token = std::string(token);
  if (token == "cpu" || token == "metal" || token == "neuron" || token == "tpu") {
    backend_kind_parse(token, &b.kind);
    return b;
  }
  struct Prefix {
    std::string_view prefix;
    BackendKind kind;
  };
  for (const Prefix& p : {Prefix{"cu", BackendKind::kCuda}, Prefix{"rocm", BackendKind::kRocm},
                          Prefix{"xpu", BackendKind::kXpu}, Prefix{"cann", BackendKind::kCann}}) {
    if (token.substr(0, p.prefix.size()) != p.prefix) continue;
    std::string_view digits = token.substr(p.prefix.size());
    b.kind = p.kind;
    b.versioned = true;
    bool ok = false;
    if (p.kind == BackendKind::kXpu) {
      // xpu<YYYY><minor>: a four-digit year then the minor ("xpu20253" = 2025.3).
      ok = all_digits(digits) && digits.size() >= 5 && digits.size() <= 6;
      if (ok) {
        b.major = to_int(digits.substr(0, 4));
        b.minor = to_int(digits.substr(4));
      }
    } else {
      ok = parse_last_digit_minor(digits, &b.major, &b.minor);
    }
    if (ok) return b;
    set_why(why, "backend '" + std::string(token) + "' has no valid version (expected " +
                     std::string(p.prefix) +
                     (p.kind == BackendKind::kXpu
                          ? "<YYYY><minor>, e.g. xpu20253)"
                          : "<major><minor>, e.g. " + std::string(p.prefix) + "130)"));
    return std::nullopt;
  }
  set_why(why, "unknown backend '" + std::string(token) +
                   "' (expected cpu, metal, neuron, tpu, cuXY, rocmXY, xpuYYYYM or cannXY)");
  return std::nullopt;
}

std::string normalize_cpu(std::string_view cpu) {
  if (cpu == "arm64") return "aarch64";
  if (cpu == "AMD64" || cpu == "amd64") return "x86_64";
  return std::string(cpu);
}

std::string khub_variant_name(int abi_major, const Backend& backend, std::string_view cpu,
                              std::string_view os) {
  return "khub" + std::to_string(abi_major) + "-" + backend.token + "-" + std::string(cpu) + "-" +
         std::string(os);
}

std::optional<VariantName> parse_variant_name(std::string_view name, std::string* why) {
  VariantName v;
  v.name = std::string(name);
  std::vector<std::string_view> p = split_dash(name);
  for (std::string_view part : p) {
    if (part.empty()) {
      set_why(why, "empty component between dashes");
      return std::nullopt;
    }
  }
  const std::string_view head = p[0];

  // khub<ABI>-<backend>-<cpu>-<os>
  if (head.substr(0, 4) == "khub") {
    std::string_view abi = head.substr(4);
    if (!all_digits(abi) || abi.size() > 4) {
      set_why(why, "'" + std::string(head) + "' is not khub<ABI major>");
      return std::nullopt;
    }
    if (p.size() != 4) {
      set_why(why, "khub variants have 4 components, khub<ABI>-<backend>-<cpu>-<os>");
      return std::nullopt;
    }
    v.family = VariantFamily::kKhub;
    v.abi_major = to_int(abi);
    if (!parse_backend_into(p[1], &v, why) || !parse_system(p[2], p[3], &v, why)) {
      return std::nullopt;
    }
    return v;
  }

  // tvm-ffi<MAJ><MIN>-<backend>-<cpu>-<os>
  if (head == "tvm") {
    if (p.size() != 5 || p[1].substr(0, 3) != "ffi" || p[1].size() < 5 || p[1].size() > 7 ||
        !all_digits(p[1].substr(3))) {
      set_why(why, "expected tvm-ffi<MAJ><MIN>-<backend>-<cpu>-<os>");
      return std::nullopt;
    }
    v.family = VariantFamily::kTvmFfi;
    v.abi_major = p[1][3] - '0';
    v.abi_minor = to_int(p[1].substr(4));
    if (!parse_backend_into(p[2], &v, why) || !parse_system(p[3], p[4], &v, why)) {
      return std::nullopt;
    }
    return v;
  }

  if (head != "torch" && head.substr(0, 5) != "torch") {
    set_why(why, "unknown variant family '" + std::string(head) +
                     "' (expected khub<ABI>, torch<VER>, torch-stable-abi<VER>, tvm-ffi<VER>, "
                     "torch-<backend> or torch-universal)");
    return std::nullopt;
  }

  if (head == "torch") {
    // torch-universal, torch-<backend> (noarch), torch-stable-abi<MAJ><MIN>-...
    if (p.size() == 2 && p[1] == "universal") {
      v.family = VariantFamily::kTorchUniversal;
      return v;
    }
    if (p.size() == 2) {
      static const std::pair<std::string_view, BackendKind> kNoarch[] = {
          {"cpu", BackendKind::kCpu},       {"cuda", BackendKind::kCuda},
          {"rocm", BackendKind::kRocm},     {"xpu", BackendKind::kXpu},
          {"metal", BackendKind::kMetal},   {"npu", BackendKind::kCann},
          {"neuron", BackendKind::kNeuron}, {"tpu", BackendKind::kTpu}};
      for (const auto& [token, kind] : kNoarch) {
        if (p[1] == token) {
          v.family = VariantFamily::kTorchNoarch;
          v.backend.kind = kind;
          v.backend.token = std::string(token);
          return v;
        }
      }
      set_why(why, "unknown noarch backend 'torch-" + std::string(p[1]) +
                       "' (expected cpu, cuda, rocm, xpu, metal, npu, neuron or tpu)");
      return std::nullopt;
    }
    if (p.size() == 6 && p[1] == "stable" && p[2].substr(0, 3) == "abi" && p[2].size() >= 5 &&
        p[2].size() <= 7 && all_digits(p[2].substr(3))) {
      v.family = VariantFamily::kTorchStableAbi;
      v.abi_major = p[2][3] - '0';
      v.abi_minor = to_int(p[2].substr(4));
      if (!parse_backend_into(p[3], &v, why) || !parse_system(p[4], p[5], &v, why)) {
        return std::nullopt;
      }
      return v;
    }
    set_why(why, "expected torch-universal, torch-<backend> or torch-stable-abi<VER>-...");
    return std::nullopt;
  }

  // torch<MAJ><MIN>[-cxx11|-cxx98]-<backend>-<cpu>-<os>; single-digit major (torch210 = 2.10).
  std::string_view ver = head.substr(5);
  if (!all_digits(ver) || ver.size() < 2 || ver.size() > 4) {
    set_why(why, "'" + std::string(head) + "' is not torch<MAJ><MIN>");
    return std::nullopt;
  }
  v.family = VariantFamily::kTorch;
  v.abi_major = ver[0] - '0';
  v.abi_minor = to_int(ver.substr(1));
  size_t i = 1;
  if (p.size() == 5 && (p[1] == "cxx11" || p[1] == "cxx98")) {
    v.cxx_abi = std::string(p[1]);
    i = 2;
  } else if (p.size() != 4) {
    set_why(why, "expected torch<MAJ><MIN>[-cxx11|-cxx98]-<backend>-<cpu>-<os>");
    return std::nullopt;
  }
  if (!parse_backend_into(p[i], &v, why) || !parse_system(p[i + 1], p[i + 2], &v, why)) {
    return std::nullopt;
  }
  return v;
}

}  // namespace khub::loader
