// KernelMapping: layer key → device type → (CUDA/ROCm capability interval) → mode → kernel layer,
// with HF kernels' semantics (research/hf-kernels.md §1.6–1.7): a bare entry is registered under
// Mode::kFallback; the narrowest capability interval containing the device wins; a newer entry for
// the same key, device and interval replaces the whole mode dict. Mappings are scoped per thread:
// register_kernel_mapping changes the current one, UseKernelMapping for a scope.
#pragma once

#include <climits>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/device.h"
#include "kernelize/mode.h"

namespace khub {

// What a mapping entry points at: "org/repo[@REV][:Layer]" (a hub repo), "/abs/path[:Layer]"
// (a local kernel folder), or nothing (disabled: the reference forward runs).
struct KernelLayerRef {
  std::string repo;   // "org/repo@REV" or an absolute path; empty when disabled
  std::string layer;  // layer name in the kernel's manifest; empty = the layer key
  bool local = false;
  bool disabled = false;

  // Parses a KernelConfig / mapping string. "" gives a disabled reference. Throws
  // Error(kInvalidArgument) naming `context` (e.g. "kernel_config['RMSNorm']['cuda']") and the
  // expected forms.
  static KernelLayerRef parse(const std::string& text, const std::string& context);
  std::string str() const;  // round-trips through parse
  bool operator==(const KernelLayerRef&) const = default;
};

// Inclusive [min, max] over capability major*10+minor (e.g. 80, 90).
struct CapabilityRange {
  int min = 0;
  int max = INT_MAX;
  bool contains(int c) const { return min <= c && c <= max; }
  int width() const { return max - min; }
  bool operator==(const CapabilityRange&) const = default;
};

using ModeRepos = std::map<Mode, KernelLayerRef>;

struct MappingLookup {
  const KernelLayerRef* ref = nullptr;  // null: no entry (see reason)
  Mode matched_mode = Mode::kFallback;
  std::string reason;  // why nothing matched
};

class KernelMapping {
 public:
  // Registers repos for (key, device type[, interval]). Each mode key is validated. A capability
  // interval is allowed only for cuda and rocm.
  void add(const std::string& key, DeviceType device, ModeRepos repos,
           std::optional<CapabilityRange> range = std::nullopt);
  // Convenience: one reference usable in every mode.
  void add(const std::string& key, DeviceType device, const KernelLayerRef& ref) {
    add(key, device, {{Mode::kFallback, ref}});
  }
  // Merges other into this: other's (key, device, interval) entries replace this one's.
  void merge(const KernelMapping& other);
  // A user's choice (kernel_config, attn_implementation): each (key, device) other names replaces
  // all of this one's intervals for it, so a narrower inherited interval cannot outrank it.
  void override_with(const KernelMapping& other);
  MappingLookup lookup(const std::string& key, DeviceType device, int capability,
                       Mode requested) const;
  bool has_key(const std::string& key) const { return keys_.count(key) > 0; }
  std::vector<std::string> keys() const;
  bool empty() const { return keys_.empty(); }

 private:
  struct Entry {
    CapabilityRange range;
    ModeRepos repos;
  };
  std::map<std::string, std::map<DeviceType, std::vector<Entry>>> keys_;
};

// The calling thread's current mapping (initially empty).
const KernelMapping& current_kernel_mapping();
// Merges mapping into the current one; inherit = false first resets the current one.
void register_kernel_mapping(const KernelMapping& mapping, bool inherit = true);

// use_kernel_mapping as a scope: the previous mapping comes back on destruction.
class UseKernelMapping {
 public:
  explicit UseKernelMapping(const KernelMapping& mapping, bool inherit = true);
  ~UseKernelMapping();
  UseKernelMapping(const UseKernelMapping&) = delete;
  UseKernelMapping& operator=(const UseKernelMapping&) = delete;

 private:
  KernelMapping saved_;
};

}  // namespace khub
