// KernelConfig: the user's per-layer-key choices, in every form of the user's document:
//   {"RMSNorm": "khub-community/rmsnorm:RMSNorm"}              plain reference (latest version)
//   {"RMSNorm": "khub-community/rmsnorm@v1.1.0:RMSNorm"}       pinned (tag, >=1,<2, ^1.1, v1, sha)
//   {"RMSNorm": {"cuda": "...", "cpu": "...", "rocm": "...", "metal": "...", "xpu": "..."}}
//   {"RMSNorm": ""}                                            keep the reference for this key
// Entries apply in every mode (unlike upstream, where they bind to the mode at load and vanish
// after train()); has-backward / can-capture still gate them per mode.
#pragma once

#include <initializer_list>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <utility>
#include <vector>

#include "kernelize/kernel_mapping.h"

namespace khub {

class KernelConfig {
 public:
  // A value: one reference string, or device → reference string.
  struct Value {
    Value(const char* s) : single(s), is_single(true) {}
    Value(std::string s) : single(std::move(s)), is_single(true) {}
    Value(std::initializer_list<std::pair<std::string, std::string>> d)
        : per_device(d), is_single(false) {}
    explicit Value(std::vector<std::pair<std::string, std::string>> d)
        : per_device(std::move(d)), is_single(false) {}
    std::string single;
    std::vector<std::pair<std::string, std::string>> per_device;
    bool is_single;
  };

  KernelConfig() = default;
  KernelConfig(std::vector<std::pair<std::string, Value>> entries, bool inherit_mapping = true);

  // {"kernel_mapping": {...}[, "inherit_mapping": bool]} or the mapping object itself. Errors name
  // the key (and device) and the expected form, prefixed by source.
  static KernelConfig from_json(const nlohmann::json& j, const std::string& source);
  static KernelConfig from_file(const std::string& path);

  // The mapping these entries describe (validated at construction).
  const KernelMapping& mapping() const { return mapping_; }
  const std::vector<std::string>& keys() const { return keys_; }
  bool inherit_mapping() const { return inherit_; }
  bool empty() const { return keys_.empty(); }

 private:
  void add(const std::string& key, const Value& value);

  KernelMapping mapping_;
  std::vector<std::string> keys_;
  bool inherit_ = true;
};

}  // namespace khub
