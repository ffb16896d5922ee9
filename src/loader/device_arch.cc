#include "loader/device_arch.h"

#include <algorithm>
#include <cctype>
#include <map>

#include "core/error.h"

namespace khub::loader {
namespace {

struct CudaArch {
  int major = 0;
  int minor = 0;
  char suffix = 0;  // 0, 'a' or 'f'
  bool ptx = false;
};

bool parse_uint(const std::string& s, size_t* pos, int* out) {
  size_t start = *pos;
  int v = 0;
  while (*pos < s.size() && std::isdigit(static_cast<unsigned char>(s[*pos])) && *pos - start < 3) {
    v = v * 10 + (s[*pos] - '0');
    ++*pos;
  }
  if (*pos == start) return false;
  *out = v;
  return true;
}

bool parse_cuda_arch(const std::string& s, CudaArch* out, bool allow_suffix) {
  size_t pos = 0;
  CudaArch a;
  if (!parse_uint(s, &pos, &a.major) || pos >= s.size() || s[pos] != '.') return false;
  ++pos;
  if (!parse_uint(s, &pos, &a.minor)) return false;
  if (allow_suffix && pos < s.size() && (s[pos] == 'a' || s[pos] == 'f')) a.suffix = s[pos++];
  if (allow_suffix && s.compare(pos, std::string::npos, "+PTX") == 0) {
    a.ptx = true;
    pos += 4;
  }
  if (pos != s.size()) return false;
  *out = a;
  return true;
}

ArchFit cuda_fit(const CudaArch& a, int dev_major, int dev_minor) {
  bool same = a.major == dev_major && a.minor == dev_minor;
  if (same) return ArchFit::kExact;
  if (a.suffix == 'a') return ArchFit::kNone;  // arch-specific SASS and PTX: exactly X.Y only
  if (a.major == dev_major && dev_minor > a.minor) return ArchFit::kCompatible;
  // Plain PTX JIT-compiles for any newer capability; family ('f') PTX stays in its family, which
  // the same-major case above already covers.
  if (a.ptx && a.suffix == 0 &&
      std::make_pair(dev_major, dev_minor) > std::make_pair(a.major, a.minor)) {
    return ArchFit::kJit;
  }
  return ArchFit::kNone;
}

// "gfx942:sramecc+:xnack-" -> "gfx942"
std::string gfx_base(const std::string& s) { return s.substr(0, s.find(':')); }

bool valid_gfx(const std::string& s) {
  std::string b = gfx_base(s);
  if (b.size() < 4 || b.compare(0, 3, "gfx") != 0) return false;
  for (size_t i = 3; i < b.size(); ++i) {
    char c = b[i];
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') return false;
  }
  return true;
}

const std::map<std::string, std::vector<std::string>>& gfx_generics() {
  static const std::map<std::string, std::vector<std::string>> kGenerics = {
      {"gfx9-generic", {"gfx900", "gfx902", "gfx904", "gfx906", "gfx909", "gfx90c"}},
      {"gfx9-4-generic", {"gfx940", "gfx941", "gfx942", "gfx950"}},
      {"gfx10-1-generic", {"gfx1010", "gfx1011", "gfx1012", "gfx1013"}},
      {"gfx10-3-generic",
       {"gfx1030", "gfx1031", "gfx1032", "gfx1033", "gfx1034", "gfx1035", "gfx1036"}},
      {"gfx11-generic",
       {"gfx1100", "gfx1101", "gfx1102", "gfx1103", "gfx1150", "gfx1151", "gfx1152", "gfx1153"}},
      {"gfx12-generic", {"gfx1200", "gfx1201"}},
  };
  return kGenerics;
}

// "apple9" -> ("apple", 9)
bool parse_metal_family(const std::string& s, std::string* prefix, int* n) {
  size_t i = 0;
  while (i < s.size() && std::isalpha(static_cast<unsigned char>(s[i]))) ++i;
  if (i == 0 || i == s.size()) return false;
  size_t pos = i;
  if (!parse_uint(s, &pos, n) || pos != s.size()) return false;
  *prefix = s.substr(0, i);
  return *prefix == "apple" || *prefix == "mac" || *prefix == "common";
}

bool valid_name_token(const std::string& s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.') {
      return false;
    }
  }
  return true;
}

}  // namespace

std::string_view arch_fit_name(ArchFit fit) {
  switch (fit) {
    case ArchFit::kNone:
      return "none";
    case ArchFit::kJit:
      return "jit";
    case ArchFit::kCompatible:
      return "compatible";
    case ArchFit::kExact:
      return "exact";
  }
  return "?";
}

std::string check_arch_string(BackendKind backend, const std::string& arch) {
  switch (backend) {
    case BackendKind::kCuda: {
      CudaArch a;
      if (!parse_cuda_arch(arch, &a, true)) {
        return "invalid CUDA arch '" + arch + "' (expected X.Y, X.Ya, X.Yf, optionally +PTX)";
      }
      return "";
    }
    case BackendKind::kRocm:
      return valid_gfx(arch) ? "" : "invalid ROCm arch '" + arch + "' (expected gfxNNN)";
    case BackendKind::kMetal: {
      std::string prefix;
      int n;
      return parse_metal_family(arch, &prefix, &n)
                 ? ""
                 : "invalid Metal GPU family '" + arch + "' (expected appleN or macN)";
    }
    default:
      return valid_name_token(arch) ? "" : "invalid arch '" + arch + "'";
  }
}

ArchMatch best_arch_match(BackendKind backend, const std::vector<std::string>& archs,
                          const std::string& device_arch) {
  ArchMatch best;
  auto consider = [&](ArchFit fit, const std::string& arch) {
    if (fit > best.fit) best = {fit, arch};
  };
  for (const std::string& arch : archs) {
    std::string bad = check_arch_string(backend, arch);
    if (!bad.empty()) fail(ErrorKind::kFormat, "backend.archs: ", bad);
  }
  switch (backend) {
    case BackendKind::kCuda: {
      CudaArch dev;
      if (!parse_cuda_arch(device_arch, &dev, false)) {
        fail(ErrorKind::kInvalidArgument, "invalid CUDA compute capability '", device_arch,
             "' (expected X.Y, e.g. 9.0)");
      }
      for (const std::string& arch : archs) {
        CudaArch a;
        parse_cuda_arch(arch, &a, true);
        consider(cuda_fit(a, dev.major, dev.minor), arch);
      }
      break;
    }
    case BackendKind::kRocm: {
      std::string dev = gfx_base(device_arch);
      for (const std::string& arch : archs) {
        std::string base = gfx_base(arch);
        if (base == dev) {
          consider(ArchFit::kExact, arch);
        } else if (auto it = gfx_generics().find(base); it != gfx_generics().end()) {
          if (std::count(it->second.begin(), it->second.end(), dev)) {
            consider(ArchFit::kCompatible, arch);
          }
        }
      }
      break;
    }
    case BackendKind::kMetal: {
      std::string dev_prefix;
      int dev_n = 0;
      if (!parse_metal_family(device_arch, &dev_prefix, &dev_n)) {
        fail(ErrorKind::kInvalidArgument, "invalid Metal GPU family '", device_arch,
             "' (expected appleN or macN)");
      }
      for (const std::string& arch : archs) {
        std::string prefix;
        int n = 0;
        parse_metal_family(arch, &prefix, &n);
        if (prefix != dev_prefix) continue;
        if (n == dev_n) consider(ArchFit::kExact, arch);
        if (n < dev_n) consider(ArchFit::kCompatible, arch);
      }
      break;
    }
    default:
      for (const std::string& arch : archs) {
        if (arch == device_arch) consider(ArchFit::kExact, arch);
        if (backend == BackendKind::kXpu && arch == "spir64") consider(ArchFit::kJit, arch);
      }
      break;
  }
  return best;
}

}  // namespace khub::loader
