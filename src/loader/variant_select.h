// Variant selection (docs/design.md §4): every folder under build/ is accepted or rejected with a
// reason, the accepted ones are ordered deterministically, and the whole trace is kept for errors,
// `khub info` and the kernel report.
//
// Rejection, in this order: unparseable name (skipped), a foreign family (torch, tvm-ffi, ...), OS,
// CPU, khub ABI major, backend family (the variant's backend must be the device's), backend version
// (CUDA: same major and variant minor <= runtime minor; ROCm, XPU, CANN: exact, as HF), then from
// metadata.json: unreadable metadata, a backend that contradicts the folder name,
// backend.min-runtime above the device's runtime (or macOS for Metal), and device architecture
// (device_arch.h).
//
// Order among the accepted: best architecture fit first (exact SASS, then compatible SASS, then PTX
// JIT), then the highest backend version, then the folder name — a total order, so the same
// folders and machine always give the same choice.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "loader/device_arch.h"
#include "loader/metadata.h"
#include "loader/system_info.h"
#include "loader/variant.h"

namespace khub::loader {

enum class RejectReason {
  kNone,           // accepted
  kUnparseable,    // the folder name follows no known grammar (skipped)
  kForeignFamily,  // torch / tvm-ffi / noarch / universal: not loadable by khub
  kOs,
  kCpu,
  kAbiMajor,
  kBackendFamily,
  kBackendVersion,
  kMetadata,  // metadata.json missing or invalid, or contradicting the folder name
  kMinRuntime,
  kDeviceArch,
};
std::string_view reject_reason_name(RejectReason r);  // "os", "device-arch", ...

struct VariantDecision {
  std::string name;
  bool accepted = false;
  RejectReason reason = RejectReason::kNone;
  std::string detail;  // why, in words (also for accepted ones: how it fits)
  std::optional<VariantName> parsed;
  ArchMatch arch;  // accepted GPU variants: the covering arch
};

struct Selection {
  SystemInfo system;
  // Accepted variants in preference order, then the rejected ones by name.
  std::vector<VariantDecision> decisions;

  const VariantDecision* chosen() const;
  // One line per variant: "  khub1-cpu-x86_64-linux: accepted (...)" / "...: rejected: os ...".
  std::string trace() const;
  nlohmann::json to_json() const;
};

// Reads the metadata of a variant that passed the name checks; may throw khub::Error.
using MetadataFn = std::function<VariantMetadata(const std::string& variant)>;

Selection select_variant(std::vector<std::string> folders, const SystemInfo& system,
                         const MetadataFn& metadata);

// The name-only part of the checks (no metadata): kNone when the name fits the system.
RejectReason check_variant_name(const std::string& folder, const SystemInfo& system,
                                std::string* detail, std::optional<VariantName>* parsed);

// "13.0" -> (13, 0); "2025.3" -> (2025, 3); "26" -> (26, 0). False when malformed.
bool parse_major_minor(const std::string& text, int* major, int* minor);

}  // namespace khub::loader
