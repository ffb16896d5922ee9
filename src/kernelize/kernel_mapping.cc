#include "kernelize/kernel_mapping.h"

#include <algorithm>

#include "core/error.h"

namespace khub {
namespace {

thread_local KernelMapping t_current;

[[noreturn]] void bad_ref(const std::string& text, const std::string& context, const char* why) {
  fail(ErrorKind::kInvalidArgument, context, " = \"", text, "\": ", why,
       ". Expected \"org/repo[@REV][:Layer]\" (REV: a tag v1.2.3, a constraint like >=1.0,<2.0 ",
       "or ^1.2, a branch v1 or main, or a 40-hex commit), \"/absolute/path[:Layer]\" for a ",
       "local kernel, or \"\" to keep the reference forward");
}

bool valid_name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
}

}  // namespace

KernelLayerRef KernelLayerRef::parse(const std::string& text, const std::string& context) {
  KernelLayerRef r;
  if (text.empty()) {
    r.disabled = true;
    return r;
  }
  std::string body = text;
  // The layer name follows the last ':' (a REV never contains ':').
  auto colon = body.rfind(':');
  if (colon != std::string::npos) {
    r.layer = body.substr(colon + 1);
    body = body.substr(0, colon);
    if (r.layer.empty()) bad_ref(text, context, "the layer name after ':' is empty");
    for (char c : r.layer) {
      if (!valid_name_char(c)) bad_ref(text, context, "the layer name has an invalid character");
    }
  }
  if (body.empty()) bad_ref(text, context, "the repository is empty");
  if (body[0] == '/') {
    r.local = true;
    r.repo = body;
    return r;
  }
  std::string repo = body.substr(0, body.find('@'));
  auto slash = repo.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == repo.size() ||
      repo.find('/', slash + 1) != std::string::npos) {
    bad_ref(text, context, "the repository must be exactly \"org/repo\"");
  }
  for (char c : repo) {
    if (c != '/' && !valid_name_char(c)) {
      bad_ref(text, context, "the repository name has an invalid character");
    }
  }
  if (body.size() > repo.size() && body.size() == repo.size() + 1) {
    bad_ref(text, context, "the revision after '@' is empty");
  }
  r.repo = body;
  return r;
}

std::string KernelLayerRef::str() const {
  if (disabled) return "";
  return layer.empty() ? repo : repo + ":" + layer;
}

void KernelMapping::add(const std::string& key, DeviceType device, ModeRepos repos,
                        std::optional<CapabilityRange> range) {
  KHUB_CHECK_ARG(!key.empty(), "kernel mapping: an empty layer key");
  KHUB_CHECK_ARG(!repos.empty(), "kernel mapping for '", key, "': no repositories");
  for (const auto& [mode, ref] : repos) mode_validate_registration(mode);
  if (range) {
    KHUB_CHECK_ARG(
        device == DeviceType::kCUDA || device == DeviceType::kROCm, "kernel mapping for '", key,
        "': capability ranges apply to cuda and rocm only, ", "not ", device_type_name(device));
    KHUB_CHECK_ARG(range->min <= range->max, "kernel mapping for '", key, "': capability range [",
                   range->min, ", ", range->max, "] is empty");
  }
  CapabilityRange r = range.value_or(CapabilityRange{});
  auto& entries = keys_[key][device];
  for (Entry& e : entries) {
    if (e.range == r) {
      e.repos = std::move(repos);
      return;
    }
  }
  entries.push_back({r, std::move(repos)});
}

void KernelMapping::merge(const KernelMapping& other) {
  for (const auto& [key, devices] : other.keys_) {
    for (const auto& [device, entries] : devices) {
      for (const Entry& e : entries) {
        std::optional<CapabilityRange> r;
        if (device == DeviceType::kCUDA || device == DeviceType::kROCm) r = e.range;
        add(key, device, e.repos, r);
      }
    }
  }
}

void KernelMapping::override_with(const KernelMapping& other) {
  for (const auto& [key, devices] : other.keys_) {
    for (const auto& [device, entries] : devices) keys_[key][device] = entries;
  }
}

std::vector<std::string> KernelMapping::keys() const {
  std::vector<std::string> out;
  for (const auto& [k, v] : keys_) out.push_back(k);
  return out;
}

MappingLookup KernelMapping::lookup(const std::string& key, DeviceType device, int capability,
                                    Mode requested) const {
  MappingLookup out;
  auto k = keys_.find(key);
  if (k == keys_.end()) {
    out.reason = "no kernel mapping for layer key '" + key + "'";
    return out;
  }
  auto d = k->second.find(device);
  if (d == k->second.end()) {
    std::string devices;
    for (const auto& [t, e] : k->second)
      devices += (devices.empty() ? "" : ", ") + std::string(device_type_name(t));
    out.reason = "no kernel mapped for device " + std::string(device_type_name(device)) +
                 " (mapped: " + devices + ")";
    return out;
  }
  // Narrowest interval containing the capability; ties keep registration order.
  const Entry* best = nullptr;
  for (const Entry& e : d->second) {
    if (!e.range.contains(capability)) continue;
    if (best == nullptr || e.range.width() < best->range.width()) best = &e;
  }
  if (best == nullptr) {
    out.reason = "no capability interval contains " + std::to_string(capability / 10) + "." +
                 std::to_string(capability % 10);
    return out;
  }
  for (Mode m : mode_fallback_chain(requested)) {
    auto it = best->repos.find(m);
    if (it != best->repos.end()) {
      out.ref = &it->second;
      out.matched_mode = m;
      return out;
    }
  }
  std::string registered;
  for (const auto& [m, r] : best->repos)
    registered += (registered.empty() ? "" : ", ") + mode_name(m);
  out.reason = "no entry for mode " + mode_name(requested) +
               " or its fallbacks (registered: " + registered + ")";
  return out;
}

const KernelMapping& current_kernel_mapping() { return t_current; }

void register_kernel_mapping(const KernelMapping& mapping, bool inherit) {
  if (!inherit) t_current = KernelMapping();
  t_current.merge(mapping);
}

UseKernelMapping::UseKernelMapping(const KernelMapping& mapping, bool inherit) : saved_(t_current) {
  register_kernel_mapping(mapping, inherit);
}

UseKernelMapping::~UseKernelMapping() { t_current = std::move(saved_); }

}  // namespace khub
