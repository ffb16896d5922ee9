#include "kernelize/kernel_config.h"

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace khub {
namespace {

const char* kForms =
    "a kernel reference string (\"org/repo[@REV][:Layer]\"), \"\" to keep the reference "
    "forward, or an object mapping cuda, rocm, metal, xpu, npu or cpu to such strings";

DeviceType parse_device_key(const std::string& key, const std::string& device) {
  std::string d = device;
  std::transform(d.begin(), d.end(), d.begin(), ::tolower);
  if (d == "mps") d = "metal";
  DeviceType t;
  if (!device_type_parse(d, &t)) {
    fail(ErrorKind::kInvalidArgument, "kernel_config['", key, "']: device '", device,
         "' is not one of cuda, rocm, metal (mps), xpu, npu, cpu");
  }
  return t;
}

}  // namespace

KernelConfig::KernelConfig(std::vector<std::pair<std::string, Value>> entries, bool inherit)
    : inherit_(inherit) {
  for (const auto& [key, value] : entries) add(key, value);
}

void KernelConfig::add(const std::string& key, const Value& value) {
  KHUB_CHECK_ARG(!key.empty(), "kernel_config: an empty layer key");
  KHUB_CHECK_ARG(std::find(keys_.begin(), keys_.end(), key) == keys_.end(), "kernel_config['", key,
                 "'] is given twice");
  keys_.push_back(key);
  std::string ctx = "kernel_config['" + key + "']";
  if (value.is_single) {
    KernelLayerRef ref = KernelLayerRef::parse(value.single, ctx);
    for (DeviceType t : {DeviceType::kCPU, DeviceType::kCUDA, DeviceType::kROCm, DeviceType::kMetal,
                         DeviceType::kXPU, DeviceType::kNPU}) {
      mapping_.add(key, t, ref);
    }
    return;
  }
  KHUB_CHECK_ARG(!value.per_device.empty(), ctx, " is an empty object; expected ", kForms);
  std::vector<DeviceType> seen;
  for (const auto& [device, text] : value.per_device) {
    DeviceType t = parse_device_key(key, device);
    KHUB_CHECK_ARG(std::find(seen.begin(), seen.end(), t) == seen.end(), ctx, ": device '", device,
                   "' is given twice");
    seen.push_back(t);
    mapping_.add(key, t, KernelLayerRef::parse(text, ctx + "['" + device + "']"));
  }
}

KernelConfig KernelConfig::from_json(const nlohmann::json& j, const std::string& source) {
  try {
    KHUB_CHECK_ARG(j.is_object(), "expected a JSON object {\"kernel_mapping\": {...}}, got ",
                   j.type_name());
    const nlohmann::json* m = &j;
    bool inherit = true;
    if (j.contains("kernel_mapping")) {
      m = &j["kernel_mapping"];
      for (auto it = j.begin(); it != j.end(); ++it) {
        if (it.key() == "kernel_mapping") continue;
        if (it.key() == "inherit_mapping" && it.value().is_boolean()) {
          inherit = it.value().get<bool>();
          continue;
        }
        fail(ErrorKind::kInvalidArgument, "unknown field '", it.key(),
             "' (expected kernel_mapping and optionally inherit_mapping: true|false)");
      }
    }
    KHUB_CHECK_ARG(m->is_object(), "kernel_mapping must be an object of layer key → value, got ",
                   m->type_name());
    std::vector<std::pair<std::string, Value>> entries;
    for (auto it = m->begin(); it != m->end(); ++it) {
      const nlohmann::json& v = it.value();
      if (v.is_string()) {
        entries.emplace_back(it.key(), Value(v.get<std::string>()));
      } else if (v.is_object()) {
        std::vector<std::pair<std::string, std::string>> d;
        for (auto dv = v.begin(); dv != v.end(); ++dv) {
          if (!dv.value().is_string()) {
            fail(ErrorKind::kInvalidArgument, "kernel_config['", it.key(), "']['", dv.key(),
                 "'] is ", dv.value().type_name(), "; expected a kernel reference string or \"\"");
          }
          d.emplace_back(dv.key(), dv.value().get<std::string>());
        }
        entries.emplace_back(it.key(), Value(std::move(d)));
      } else {
        fail(ErrorKind::kInvalidArgument, "kernel_config['", it.key(), "'] is ", v.type_name(),
             " (", v.dump(), "); expected ", kForms);
      }
    }
    return KernelConfig(std::move(entries), inherit);
  } catch (const Error& e) {
    throw Error(e.kind(), source + ": " + e.what());
  }
}

KernelConfig KernelConfig::from_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) fail(ErrorKind::kNotFound, "cannot open kernel config ", path);
  nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
  if (j.is_discarded()) fail(ErrorKind::kFormat, path, ": not valid JSON");
  return from_json(j, path);
}

}  // namespace khub
