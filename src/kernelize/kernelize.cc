#include "kernelize/kernelize.h"

#include <chrono>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/logging.h"
#include "hub/get_kernel.h"
#include "kernelize/default_mapping.h"
#include "kernelize/env_switches.h"
#include "loader/system_info.h"

namespace khub {

KernelLoadFn default_kernel_loader(
    std::shared_ptr<const std::map<std::string, hub::LockedKernel>> locks) {
  return [locks](const KernelLayerRef& ref, Device device) {
    hub::KernelOptions opt;
    opt.device = device;
    opt.locks = locks;
    return ref.local ? hub::get_local_kernel(ref.repo, opt) : hub::get_kernel(ref.repo, opt);
  };
}

const KeyDecision* KernelReport::find(const std::string& key) const {
  for (const KeyDecision& k : keys) {
    if (k.key == key) return &k;
  }
  return nullptr;
}

std::string KernelReport::table() const {
  std::ostringstream os;
  os << "kernels (" << device.str() << ", mode " << mode_name(mode) << "):\n";
  for (const KeyDecision& k : keys) {
    os << "  " << k.key << " ×" << k.layers << ": ";
    if (k.kernel) {
      os << k.kernel->label() << " :" << k.kernel_layer << " (mapped for "
         << mode_name(k.matched_mode) << "; " << k.trust_verdict
         << (k.signer.empty() ? "" : " by key " + k.signer) << ")\n";
    } else {
      os << "reference — " << k.reason << "\n";
    }
  }
  return os.str();
}

nlohmann::json KernelReport::to_json() const {
  nlohmann::json out = nlohmann::json::array();
  for (const KeyDecision& k : keys) {
    nlohmann::json e = {{"key", k.key}, {"layers", k.layers}, {"mode", mode_name(mode)}};
    if (k.kernel) {
      e["kernel"] = {
          {"repo", k.kernel->repo},
          {"revision", k.kernel->revision},
          {"variant", k.kernel->variant},
          {"layer", k.kernel_layer},
          {"ref", k.kernel_ref},
          {"signer", k.signer.empty() ? nlohmann::json(nullptr) : nlohmann::json(k.signer)},
          {"trust", k.trust_verdict}};
      e["reason"] = nullptr;
    } else {
      e["kernel"] = nullptr;
      e["reason"] = k.reason;
    }
    out.push_back(e);
  }
  return out;
}

std::shared_ptr<const loader::Kernel> Kernelizer::load_memoized(const KernelLayerRef& ref,
                                                                Device device, std::string* error) {
  std::string id = ref.repo + "|" + device.str();
  if (auto it = loaded_.find(id); it != loaded_.end()) return it->second;
  if (auto it = failed_.find(id); it != failed_.end()) {
    *error = it->second;
    return nullptr;
  }
  try {
    auto k = load_(ref, device);
    loaded_[id] = k;
    return k;
  } catch (const Error& e) {
    *error = failed_[id] = "failed to load " + ref.repo + ": " + e.what();
  } catch (const std::exception& e) {
    *error = failed_[id] = "failed to load " + ref.repo + ": " + e.what();
  }
  return nullptr;
}

KernelReport Kernelizer::kernelize(const std::vector<KernelizableLayer*>& layers,
                                   const KernelizeOptions& o) {
  auto t0 = std::chrono::steady_clock::now();
  Mode mode = o.mode.value_or(o.training ? Mode::kTraining : Mode::kInference);
  mode_validate_request(mode);
  KernelReport report;
  report.mode = mode;
  report.device = o.device;

  // Keys in module order, with their instances.
  std::vector<std::string> order;
  std::map<std::string, std::vector<KernelizableLayer*>> by_key;
  for (KernelizableLayer* l : layers) {
    l->reset_forward();
    std::string key(l->layer_key());
    if (!by_key.count(key)) order.push_back(key);
    by_key[key].push_back(l);
  }

  bool disabled_all = kernel_mapping_disabled();
  bool hub_layers = hub_kernels_enabled();
  // The effective mapping: the scoped one, the defaults, the user's config, attention.
  KernelMapping mapping;
  bool inherit = !o.kernel_config || o.kernel_config->inherit_mapping();
  if (inherit) {
    mapping = current_kernel_mapping();
    if (o.use_default_mapping || o.kernel_config) mapping.merge(default_kernel_mapping());
  }
  if (o.kernel_config) mapping.override_with(o.kernel_config->mapping());
  if (!o.attn_implementation.empty()) {
    KernelMapping attn;
    attn.add("Attention", o.device.type,
             KernelLayerRef::parse(o.attn_implementation, "attn_implementation"));
    mapping.override_with(attn);
  }
  int capability = o.capability;
  if (capability == 0 && (o.device.is_cuda() || o.device.type == DeviceType::kROCm)) {
    // "9.0" → 90; a probe failure leaves 0, which only the widest intervals contain.
    try {
      std::string arch = loader::SystemInfo::detect(o.device).arch;
      auto dot = arch.find('.');
      if (dot != std::string::npos) {
        capability = std::stoi(arch.substr(0, dot)) * 10 + std::stoi(arch.substr(dot + 1));
      }
    } catch (const Error& e) {
      log_warn("kernelize: cannot probe ", o.device.str(), ": ", e.what());
    }
  }

  for (const std::string& key : order) {
    KeyDecision d;
    d.key = key;
    d.layers = static_cast<int64_t>(by_key[key].size());
    bool user_choice = false;  // explicit off-switches are not warned about
    auto fallback = [&](std::string why, bool quiet = false) {
      d.reason = std::move(why);
      user_choice = quiet;
    };
    bool from_attn_string = key == "Attention" && !o.attn_implementation.empty();
    if (disabled_all) {
      fallback("DISABLE_KERNEL_MAPPING is set", true);
    } else if (!hub_layers && !from_attn_string) {
      fallback("USE_HUB_KERNELS disables hub kernels", true);
    } else {
      MappingLookup m = mapping.lookup(key, o.device.type, capability, mode);
      std::string declined;
      for (KernelizableLayer* l : by_key[key]) {
        if (declined = l->declines_kernels(); !declined.empty()) break;
      }
      if (m.ref == nullptr) {
        fallback(m.reason);
      } else if (m.ref->disabled) {
        fallback("disabled by kernel_config (\"\")", true);
      } else if (!declined.empty()) {
        fallback(m.ref->str() + " " + declined, true);
      } else {
        d.kernel_ref = m.ref->str();
        d.matched_mode = m.matched_mode;
        std::string error;
        auto kernel = load_memoized(*m.ref, o.device, &error);
        std::string layer_name = m.ref->layer.empty() ? key : m.ref->layer;
        if (!kernel) {
          fallback(error);
        } else if (!kernel->has_layer(layer_name)) {
          std::string have;
          for (const auto& l : kernel->manifest().layers)
            have += (have.empty() ? "" : ", ") + l.name;
          fallback(kernel->identity().label() + " has no layer '" + layer_name +
                   "' (it has: " + have + ")");
        } else {
          const loader::LayerInfo& info = *kernel->manifest().layer(layer_name);
          // Registration errors: an entry registered for a mode its layer cannot serve.
          if (mode_has(m.matched_mode, Mode::kTraining) && !info.has_backward()) {
            fail(ErrorKind::kInvalidArgument, "kernel mapping for '", key, "': ", d.kernel_ref,
                 " is registered for mode ", mode_name(m.matched_mode),
                 " but its layer has no backward");
          }
          if (mode_has(m.matched_mode, Mode::kCompile) && !info.can_capture()) {
            fail(ErrorKind::kInvalidArgument, "kernel mapping for '", key, "': ", d.kernel_ref,
                 " is registered for mode ", mode_name(m.matched_mode),
                 " but its layer cannot be captured");
          }
          if (mode_has(mode, Mode::kTraining) && !info.has_backward()) {
            fallback(kernel->identity().label() + " :" + layer_name +
                     " has no backward (training mode)");
          } else if (mode_has(mode, Mode::kCompile) && !info.can_capture()) {
            fallback(kernel->identity().label() + " :" + layer_name +
                     " cannot be captured in a CUDA graph (compile mode)");
          } else {
            std::string why;
            for (KernelizableLayer* l : by_key[key]) {
              why = bind_kernel_layer(*l, *kernel, layer_name, o, mode);
              if (!why.empty()) break;
            }
            if (why.empty()) {
              d.kernel = kernel->identity();
              d.kernel_layer = layer_name;
              d.signer = kernel->trust().signer;
              d.trust_verdict = kernel->trust().verdict;
            } else {
              for (KernelizableLayer* l : by_key[key]) l->reset_forward();
              fallback(kernel->identity().label() + " :" + layer_name + " " + why);
            }
          }
        }
      }
    }
    if (!d.kernel && !user_choice) {
      if (o.strict || (!o.use_fallback && !d.kernel_ref.empty())) {
        fail(ErrorKind::kKernel, "kernelize (strict): layer key '", key,
             "' would fall back: ", d.reason);
      }
      if (!o.use_fallback) {
        fail(ErrorKind::kKernel, "kernelize (use_fallback = false): layer key '", key,
             "' has no kernel: ", d.reason);
      }
      if (warned_.insert(key + "|" + d.reason).second) {
        log_warn("kernelize: ", key, " uses the reference forward: ", d.reason);
      }
    }
    report.keys.push_back(std::move(d));
  }
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return report;
}

}  // namespace khub
