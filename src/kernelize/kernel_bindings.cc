// How each layer type calls a kernel layer (docs/layer-contracts.md). A binding first checks that
// the kernel's forward signature has the contract's arguments and that its declared dtypes and
// constraints cover this layer; then it fills the layer's slot with a closure that allocates the
// outputs, calls the kernel, and — for an input outside what the kernel declared (another dtype or
// device at run time) — runs the reference forward for that input instead of a wrong kernel.
#include <algorithm>
#include <nlohmann/json.hpp>

#include "kernelize/kernelize.h"
#include "layers/activation.h"
#include "layers/attention.h"
#include "layers/norm.h"
#include "layers/rotary.h"
#include "ops/rotary.h"

namespace khub {
namespace {

using loader::FunctionInfo;
using loader::KernelArgs;
using loader::KernelFunction;

// "" when f has every named argument; else which one is missing.
std::string check_args(const FunctionInfo& f, std::initializer_list<const char*> names) {
  for (const char* n : names) {
    bool found = std::any_of(f.args.begin(), f.args.end(),
                             [&](const loader::ArgInfo& a) { return a.name == n; });
    if (!found) {
      return std::string("does not match the layer contract: its forward '") + f.name +
             "' has no argument '" + n + "' (docs/layer-contracts.md)";
    }
  }
  return "";
}

bool supports_dtype(const FunctionInfo& f, const std::string& arg, DType dtype) {
  for (const loader::ArgInfo& a : f.args) {
    if (a.name != arg) continue;
    if (!a.same_as.empty()) return supports_dtype(f, a.same_as, dtype);
    return std::find(a.dtypes.begin(), a.dtypes.end(), dtype) != a.dtypes.end();
  }
  return false;
}

std::string dtype_reason(const FunctionInfo& f, const std::string& arg, DType dtype) {
  for (const loader::ArgInfo& a : f.args) {
    if (a.name == arg) {
      return "supports " + (a.dtypes_text.empty() ? f.dtypes_text : a.dtypes_text) + " for '" +
             arg + "', not " + std::string(dtype_name(dtype));
    }
  }
  return "has no argument '" + arg + "'";
}

// Constraint check for attention: the kernel's JSON constraints against the layer's needs.
std::string check_attention_constraints(const FunctionInfo& f, const AttentionLayer& a) {
  const nlohmann::json& c = f.constraints;
  if (c.contains("head_dim") && c["head_dim"].is_array()) {
    bool ok = false;
    for (const auto& v : c["head_dim"])
      ok |= v.is_number_integer() && v.get<int64_t>() == a.head_dim;
    if (!ok)
      return "supports head_dim " + c["head_dim"].dump() + ", not " + std::to_string(a.head_dim);
  }
  auto needs = [&](const char* feature, bool used) -> std::string {
    if (used && !(c.contains(feature) && c[feature].is_boolean() && c[feature].get<bool>())) {
      return std::string("does not declare support for ") + feature;
    }
    return "";
  };
  if (auto r = needs("sliding_window", a.window > 0); !r.empty()) return r;
  if (auto r = needs("softcap", a.softcap > 0); !r.empty()) return r;
  if (auto r = needs("sinks", a.sinks); !r.empty()) return r;
  return "";
}

std::string bind_norm(RMSNormLayer& n, const KernelFunction& fwd, const std::string& desc,
                      const KernelizeOptions& o) {
  if (auto r = check_args(fwd.info(), {"x", "weight", "out"}); !r.empty()) return r;
  if (!supports_dtype(fwd.info(), "x", o.activation_dtype)) {
    return dtype_reason(fwd.info(), "x", o.activation_dtype);
  }
  Tensor w = n.weight.to(o.device).to(o.activation_dtype);  // the kernel's weight dtype is x's
  double eps = n.eps;
  n.set_forward(
      [&n, fwd, w, eps, dt = o.activation_dtype, dev = o.device](const Tensor& x) {
        if (x.dtype() != dt || x.device() != dev) return n.reference_forward(x);
        Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
        fwd(KernelArgs{{{"x", x}, {"weight", w}, {"out", out}}, {{"eps", eps}}});
        return out;
      },
      desc);
  return "";
}

std::string bind_act(ActAndMulLayer& a, const KernelFunction& fwd, const std::string& desc,
                     const KernelizeOptions& o) {
  if (auto r = check_args(fwd.info(), {"x", "out"}); !r.empty()) return r;
  if (!supports_dtype(fwd.info(), "x", o.activation_dtype)) {
    return dtype_reason(fwd.info(), "x", o.activation_dtype);
  }
  a.set_forward(
      [&a, fwd, dt = o.activation_dtype, dev = o.device](const Tensor& x) {
        if (x.dtype() != dt || x.device() != dev) return ops::act_and_mul(x, a.act);
        Shape s = x.shape();
        s.back() /= 2;
        Tensor out = Tensor::empty(s, x.dtype(), x.device());
        fwd(KernelArgs{{{"x", x}, {"out", out}}, {}});
        return out;
      },
      desc);
  return "";
}

std::string bind_rotary(RotaryLayer& r, const KernelFunction& fwd, const std::string& desc,
                        const KernelizeOptions& o) {
  if (auto e = check_args(fwd.info(), {"q", "k", "cos", "sin"}); !e.empty()) return e;
  if (!supports_dtype(fwd.info(), "q", o.activation_dtype)) {
    return dtype_reason(fwd.info(), "q", o.activation_dtype);
  }
  r.set_forward(
      [&r, fwd, dt = o.activation_dtype](Tensor& q, Tensor& k, const Tensor& cos,
                                         const Tensor& sin) {
        if (q.dtype() != dt || k.dtype() != dt) {
          ops::apply_rotary(q, k, cos, sin, r.rotary_dim, r.interleaved);
          return;
        }
        fwd(KernelArgs{{{"q", q}, {"k", k}, {"cos", cos}, {"sin", sin}},
                       {{"rotary_dim", r.rotary_dim}, {"interleaved", r.interleaved}}});
      },
      desc);
  return "";
}

std::string bind_attention(AttentionLayer& a, const KernelFunction& fwd, const std::string& desc,
                           const KernelizeOptions& o) {
  if (auto e = check_args(fwd.info(), {"q", "k", "v", "out"}); !e.empty()) return e;
  if (!supports_dtype(fwd.info(), "q", o.activation_dtype)) {
    return dtype_reason(fwd.info(), "q", o.activation_dtype);
  }
  if (auto e = check_attention_constraints(fwd.info(), a); !e.empty()) return e;
  a.set_forward(
      [fwd](const Tensor& q, const Tensor& k, const Tensor& v, const ops::AttentionParams& p,
            const Tensor& sinks) {
        Tensor out = Tensor::empty(q.shape(), q.dtype(), q.device());
        KernelArgs args{{{"q", q.unsqueeze(0)},
                         {"k", k.unsqueeze(0)},
                         {"v", v.unsqueeze(0)},
                         {"out", out.unsqueeze(0)}},
                        {{"scale", static_cast<double>(p.scale)},
                         {"causal", p.causal},
                         {"window", p.window},
                         {"softcap", static_cast<double>(p.softcap)},
                         {"q_offset", p.q_offset}}};
        if (sinks.defined()) args.tensors.push_back({"sinks", sinks});
        fwd(args);
        return out;
      },
      desc);
  return "";
}

}  // namespace

std::string bind_kernel_layer(KernelizableLayer& layer, const loader::Kernel& kernel,
                              const std::string& kernel_layer, const KernelizeOptions& o) {
  loader::KernelLayer kl = kernel.layer(kernel_layer);
  std::string desc = kernel.identity().label() + " :" + kernel_layer;
  if (auto* n = dynamic_cast<RMSNormLayer*>(&layer)) return bind_norm(*n, kl.forward, desc, o);
  if (auto* a = dynamic_cast<ActAndMulLayer*>(&layer)) return bind_act(*a, kl.forward, desc, o);
  if (auto* r = dynamic_cast<RotaryLayer*>(&layer)) return bind_rotary(*r, kl.forward, desc, o);
  if (auto* a = dynamic_cast<AttentionLayer*>(&layer)) {
    return bind_attention(*a, kl.forward, desc, o);
  }
  return "has no binding for layer type '" + std::string(layer.layer_key()) + "'";
}

}  // namespace khub
