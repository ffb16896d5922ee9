#include "loader/variant_select.h"

#include <algorithm>
#include <tuple>

#include "core/error.h"

namespace khub::loader {
namespace {

BackendKind backend_for_device(DeviceType d, bool* ok) {
  *ok = true;
  switch (d) {
    case DeviceType::kCPU:
      return BackendKind::kCpu;
    case DeviceType::kCUDA:
      return BackendKind::kCuda;
    case DeviceType::kROCm:
      return BackendKind::kRocm;
    case DeviceType::kMetal:
      return BackendKind::kMetal;
    case DeviceType::kXPU:
      return BackendKind::kXpu;
    case DeviceType::kNPU:
      return BackendKind::kCann;
  }
  *ok = false;
  return BackendKind::kCpu;
}

std::string backend_label(BackendKind k) {
  switch (k) {
    case BackendKind::kCuda:
      return "CUDA";
    case BackendKind::kRocm:
      return "ROCm";
    case BackendKind::kXpu:
      return "oneAPI";
    case BackendKind::kCann:
      return "CANN";
    default:
      return std::string(backend_kind_name(k));
  }
}

bool is_gpu_like(BackendKind k) {
  return k == BackendKind::kCuda || k == BackendKind::kRocm || k == BackendKind::kMetal ||
         k == BackendKind::kXpu;
}

}  // namespace

bool parse_major_minor(const std::string& text, int* major, int* minor) {
  int parts[2] = {0, 0};
  size_t i = 0, n = 0;
  while (n < 2) {
    size_t start = i;
    long v = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9' && i - start < 6) {
      v = v * 10 + (text[i] - '0');
      ++i;
    }
    if (i == start) return false;
    parts[n++] = static_cast<int>(v);
    if (i == text.size()) break;
    if (text[i] != '.') return false;
    ++i;
  }
  // A patch component ("13.0.1") is allowed and ignored.
  while (i < text.size()) {
    if (!(text[i] == '.' || (text[i] >= '0' && text[i] <= '9'))) return false;
    ++i;
  }
  *major = parts[0];
  *minor = parts[1];
  return true;
}

std::string_view reject_reason_name(RejectReason r) {
  switch (r) {
    case RejectReason::kNone:
      return "accepted";
    case RejectReason::kUnparseable:
      return "unparseable";
    case RejectReason::kForeignFamily:
      return "foreign-family";
    case RejectReason::kOs:
      return "os";
    case RejectReason::kCpu:
      return "cpu";
    case RejectReason::kAbiMajor:
      return "abi-major";
    case RejectReason::kBackendFamily:
      return "backend";
    case RejectReason::kBackendVersion:
      return "backend-version";
    case RejectReason::kMetadata:
      return "metadata";
    case RejectReason::kMinRuntime:
      return "min-runtime";
    case RejectReason::kDeviceArch:
      return "device-arch";
  }
  return "?";
}

RejectReason check_variant_name(const std::string& folder, const SystemInfo& sys,
                                std::string* detail, std::optional<VariantName>* parsed) {
  std::string why;
  *parsed = parse_variant_name(folder, &why);
  if (!*parsed) {
    *detail = "skipped, not a variant name: " + why;
    return RejectReason::kUnparseable;
  }
  const VariantName& v = **parsed;
  if (v.family != VariantFamily::kKhub) {
    *detail =
        std::string(variant_family_name(v.family)) + " variant: khub loads khub<ABI> variants only";
    return RejectReason::kForeignFamily;
  }
  if (v.os != sys.os) {
    *detail = "os " + v.os + ", this machine runs " + sys.os;
    return RejectReason::kOs;
  }
  if (v.cpu != sys.cpu) {
    *detail = "cpu " + v.cpu + ", this machine is " + sys.cpu;
    return RejectReason::kCpu;
  }
  if (v.abi_major != sys.abi_major) {
    *detail = "kernel ABI " + std::to_string(v.abi_major) + ", this khub loads kernel ABI " +
              std::to_string(sys.abi_major);
    return RejectReason::kAbiMajor;
  }
  bool ok = false;
  BackendKind want = backend_for_device(sys.device, &ok);
  if (!ok || v.backend.kind != want) {
    *detail = "backend " + std::string(backend_kind_name(v.backend.kind)) + ", selecting for a " +
              std::string(device_type_name(sys.device)) + " device";
    return RejectReason::kBackendFamily;
  }
  if (v.backend.versioned) {
    int rmaj = 0, rmin = 0;
    std::string label = backend_label(v.backend.kind);
    if (!parse_major_minor(sys.runtime_version, &rmaj, &rmin)) {
      *detail = label + " " + v.backend.version_str() + ", but this device's " + label +
                " runtime version is unknown";
      return RejectReason::kBackendVersion;
    }
    if (v.backend.kind == BackendKind::kCuda) {
      if (v.backend.major != rmaj) {
        *detail = "CUDA " + v.backend.version_str() + " needs a CUDA " +
                  std::to_string(v.backend.major) + ".x runtime, this machine has " +
                  sys.runtime_version;
        return RejectReason::kBackendVersion;
      }
      if (v.backend.minor > rmin) {
        *detail =
            "CUDA " + v.backend.version_str() + " is newer than the runtime " + sys.runtime_version;
        return RejectReason::kBackendVersion;
      }
    } else if (v.backend.major != rmaj || v.backend.minor != rmin) {
      *detail = label + " " + v.backend.version_str() + ", this machine has " +
                sys.runtime_version + " (" + label + " variants must match exactly)";
      return RejectReason::kBackendVersion;
    }
  }
  *detail = "";
  return RejectReason::kNone;
}

const VariantDecision* Selection::chosen() const {
  if (!decisions.empty() && decisions.front().accepted) return &decisions.front();
  return nullptr;
}

std::string Selection::trace() const {
  std::string out;
  const VariantDecision* c = chosen();
  for (const VariantDecision& d : decisions) {
    out += "  " + d.name + ": ";
    if (d.accepted) {
      out += &d == c ? "selected" : "accepted";
      if (!d.detail.empty()) out += " (" + d.detail + ")";
    } else {
      out += "rejected [" + std::string(reject_reason_name(d.reason)) + "]: " + d.detail;
    }
    out += "\n";
  }
  if (decisions.empty()) out += "  (no folders under build/)\n";
  return out;
}

nlohmann::json Selection::to_json() const {
  nlohmann::json arr = nlohmann::json::array();
  const VariantDecision* c = chosen();
  for (const VariantDecision& d : decisions) {
    nlohmann::json j;
    j["name"] = d.name;
    j["accepted"] = d.accepted;
    j["selected"] = &d == c;
    j["reason"] =
        d.accepted ? nlohmann::json(nullptr) : nlohmann::json(reject_reason_name(d.reason));
    j["detail"] = d.detail;
    if (d.accepted && d.arch.fit != ArchFit::kNone) {
      j["arch"] = d.arch.arch;
      j["arch-fit"] = arch_fit_name(d.arch.fit);
    }
    arr.push_back(std::move(j));
  }
  return arr;
}

Selection select_variant(std::vector<std::string> folders, const SystemInfo& sys,
                         const MetadataFn& metadata) {
  std::sort(folders.begin(), folders.end());
  folders.erase(std::unique(folders.begin(), folders.end()), folders.end());
  Selection sel;
  sel.system = sys;
  std::vector<VariantDecision> accepted, rejected;
  for (const std::string& folder : folders) {
    VariantDecision d;
    d.name = folder;
    d.reason = check_variant_name(folder, sys, &d.detail, &d.parsed);
    if (d.reason == RejectReason::kNone) {
      const VariantName& v = *d.parsed;
      try {
        VariantMetadata md = metadata(folder);
        int rmaj = 0, rmin = 0, nmaj = 0, nmin = 0;
        const std::string& have =
            v.backend.kind == BackendKind::kMetal ? sys.os_version : sys.runtime_version;
        if (md.backend != v.backend.kind) {
          d.reason = RejectReason::kMetadata;
          d.detail = "metadata.json says backend " + std::string(backend_kind_name(md.backend)) +
                     ", the folder name says " + std::string(backend_kind_name(v.backend.kind));
        } else if (!md.min_runtime.empty() && v.backend.kind != BackendKind::kCpu &&
                   (!parse_major_minor(md.min_runtime, &nmaj, &nmin) ||
                    !parse_major_minor(have, &rmaj, &rmin) ||
                    std::make_pair(rmaj, rmin) < std::make_pair(nmaj, nmin))) {
          d.reason = RejectReason::kMinRuntime;
          d.detail = "needs " +
                     std::string(v.backend.kind == BackendKind::kMetal ? "macOS " : "runtime ") +
                     md.min_runtime + ", this machine has " + (have.empty() ? "unknown" : have);
        } else if (is_gpu_like(v.backend.kind)) {
          if (sys.arch.empty()) {
            d.reason = RejectReason::kDeviceArch;
            d.detail = "the device architecture is unknown, cannot check backend.archs";
          } else if (md.archs.empty()) {
            d.reason = RejectReason::kDeviceArch;
            d.detail = "metadata.json lists no backend.archs, cannot check arch " + sys.arch;
          } else {
            d.arch = best_arch_match(v.backend.kind, md.archs, sys.arch);
            std::string list;
            for (const std::string& a : md.archs) list += (list.empty() ? "" : ", ") + a;
            if (d.arch.fit == ArchFit::kNone) {
              d.reason = RejectReason::kDeviceArch;
              d.detail = "archs [" + list + "] do not cover " +
                         (v.backend.kind == BackendKind::kCuda ? "compute capability " : "arch ") +
                         sys.arch;
            } else {
              d.detail = std::string(arch_fit_name(d.arch.fit)) + " fit via " + d.arch.arch;
            }
          }
        }
      } catch (const std::exception& e) {  // khub::Error, or anything a source throws
        d.reason = RejectReason::kMetadata;
        d.detail = e.what();
      }
    }
    d.accepted = d.reason == RejectReason::kNone;
    (d.accepted ? accepted : rejected).push_back(std::move(d));
  }
  // Sort keys computed up front: best arch fit, then the highest backend version, then the name.
  std::vector<std::tuple<int, int, int, std::string, size_t>> keys;
  for (size_t i = 0; i < accepted.size(); ++i) {
    const Backend& b = accepted[i].parsed->backend;
    keys.emplace_back(-static_cast<int>(accepted[i].arch.fit), -b.major, -b.minor, accepted[i].name,
                      i);
  }
  std::sort(keys.begin(), keys.end());
  std::vector<VariantDecision> ordered;
  for (const auto& k : keys) ordered.push_back(std::move(accepted[std::get<4>(k)]));
  accepted = std::move(ordered);
  sel.decisions = std::move(accepted);
  for (auto& d : rejected) sel.decisions.push_back(std::move(d));
  return sel;
}

}  // namespace khub::loader
