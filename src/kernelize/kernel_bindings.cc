// How each layer type calls a kernel layer (docs/layer-contracts.md). A binding first checks that
// the kernel's forward signature has the contract's arguments and that its declared dtypes and
// constraints cover this layer; then it fills the layer's slot with a closure that allocates the
// outputs, calls the kernel, and — for an input outside what the kernel declared (another dtype or
// device at run time) — runs the reference forward for that input instead of a wrong kernel.
// In Mode::kTraining the kernel layer's backward function is checked the same way first and fills
// the backward slot; a layer never gets a kernel forward without its backward in training mode
// (the model's backward would differentiate a function it did not run).
#include <algorithm>
#include <nlohmann/json.hpp>
#include <optional>

#include "core/stream.h"
#include "kernelize/binding_checks.h"
#include "kernelize/kernelize.h"
#include "layers/activation.h"
#include "layers/attention.h"
#include "layers/decode_step.h"
#include "layers/linear_cross_entropy.h"
#include "layers/moe.h"
#include "layers/norm.h"
#include "layers/rotary.h"
#include "layers/rotary_cache.h"
#include "ops/backward.h"
#include "ops/elementwise.h"
#include "ops/rotary.h"

namespace khub {
namespace {

using binding::check_args;
using binding::check_backward;
using binding::check_head_dim;
using binding::dtype_reason;
using binding::on_current_stream;
using binding::supports_dtype;
using loader::FunctionInfo;
using loader::KernelArgs;
using loader::KernelFunction;

// The dtype a norm backward's `grad_weight` is allocated in: f32 when the kernel lists f32 for it
// explicitly (not through "same:x"; the CUDA rmsnorm does) — the sum over every token then reaches
// the f32 parameter gradient unrounded; else the activations' when it takes them (the CPU rmsnorm
// writes it in x's dtype); nullopt when it takes neither.
std::optional<DType> grad_weight_dtype(const FunctionInfo& f, DType activation) {
  for (const loader::ArgInfo& a : f.args) {
    if (a.name == "grad_weight" && a.same_as.empty() &&
        std::find(a.dtypes.begin(), a.dtypes.end(), DType::kF32) != a.dtypes.end()) {
      return DType::kF32;
    }
  }
  if (supports_dtype(f, "grad_weight", activation)) return activation;
  return std::nullopt;
}

// khub's parameter gradients are f32 (ops/backward.h): a kernel's grad_weight in another dtype or
// on another device is converted, then added.
void add_weight_grad(Tensor* dweight, const Tensor& grad_weight) {
  if (dweight == nullptr) return;
  Tensor g = ops::cast(grad_weight, dweight->dtype()).to(dweight->device());
  ops::add_inplace(*dweight, g);
}

// A norm's weight as a kernel call takes it: in the activations' dtype, on the bound device. In
// inference the weights are fixed, so the converted copy made at bind time serves every call. In
// training an optimizer updates the layer's weight after every step (and the first parameters()
// call may replace a weight that views a mapped file by an owned copy), so each call reads the
// layer's live weight: passed as is when its dtype and device already match (f32 on the CPU),
// re-converted per call otherwise — a copy made at bind time would silently train against the
// weights as they were then.
class NormWeight {
 public:
  NormWeight(const Tensor& live, const KernelizeOptions& o, bool training)
      : live_(&live), dtype_(o.activation_dtype), device_(o.device) {
    if (!training) cached_ = ops::cast(live.to(device_), dtype_);
  }
  Tensor get() const {
    if (cached_.defined()) return cached_;
    const Tensor& w = *live_;
    if (w.dtype() == dtype_ && w.device() == device_) return w;
    return ops::cast(w.to(device_), dtype_);
  }

 private:
  const Tensor* live_;  // the layer's weight member (the layer outlives its slots)
  Tensor cached_;
  DType dtype_;
  Device device_;
};

std::string bind_norm(RMSNormLayer& n, const loader::KernelLayer& kl, const std::string& desc,
                      const KernelizeOptions& o, bool training) {
  const KernelFunction& fwd = kl.forward;
  if (auto r = check_args(fwd.info(), {"x", "weight", "out"}); !r.empty()) return r;
  if (!supports_dtype(fwd.info(), "x", o.activation_dtype)) {
    return dtype_reason(fwd.info(), "x", o.activation_dtype);
  }
  std::optional<DType> gw_dtype;
  if (training) {
    if (auto r = check_backward(kl.backward, {"x", "weight", "grad_out", "grad_x", "grad_weight"},
                                "x", o.activation_dtype);
        !r.empty()) {
      return r;
    }
    gw_dtype = grad_weight_dtype(kl.backward->info(), o.activation_dtype);
    if (!gw_dtype) {
      return "backward '" + kl.backward->info().name + "' takes 'grad_weight' in neither " +
             std::string(dtype_name(o.activation_dtype)) + " nor f32";
    }
  }
  NormWeight w(n.weight, o, training);
  double eps = n.eps;
  n.set_forward(
      [&n, fwd, w, eps, dt = o.activation_dtype, dev = o.device](const Tensor& x) {
        if (x.dtype() != dt || x.device() != dev) return n.reference_forward(x);
        Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
        fwd(KernelArgs{{{"x", x}, {"weight", w.get()}, {"out", out}}, {{"eps", eps}}},
            on_current_stream(x));
        return out;
      },
      desc);
  if (!training) return "";
  n.set_backward([&n, bwd = *kl.backward, w, eps, gw_dt = *gw_dtype, dt = o.activation_dtype,
                  dev = o.device](const Tensor& x, const Tensor& dy, Tensor* dweight) {
    if (x.dtype() != dt || dy.dtype() != dt || x.device() != dev || dy.device() != dev) {
      return n.reference_backward(x, dy, dweight);
    }
    Tensor grad_x = Tensor::empty(x.shape(), dt, dev);
    Tensor grad_weight = Tensor::empty({x.size(-1)}, gw_dt, dev);
    bwd(KernelArgs{{{"x", x},
                    {"weight", w.get()},
                    {"grad_out", dy},
                    {"grad_x", grad_x},
                    {"grad_weight", grad_weight}},
                   {{"eps", eps}}},
        on_current_stream(x));
    add_weight_grad(dweight, grad_weight);
    return grad_x;
  });
  return "";
}

std::string bind_fused_norm(FusedAddRMSNormLayer& n, const loader::KernelLayer& kl,
                            const std::string& desc, const KernelizeOptions& o, bool training) {
  const KernelFunction& fwd = kl.forward;
  if (auto r = check_args(fwd.info(), {"x", "residual", "weight", "out"}); !r.empty()) return r;
  if (!supports_dtype(fwd.info(), "x", o.activation_dtype)) {
    return dtype_reason(fwd.info(), "x", o.activation_dtype);
  }
  std::optional<DType> gw_dtype;
  if (training) {
    if (auto r = check_backward(
            kl.backward,
            {"residual", "weight", "grad_out", "grad_residual", "grad_x", "grad_weight"},
            "residual", o.activation_dtype);
        !r.empty()) {
      return r;
    }
    gw_dtype = grad_weight_dtype(kl.backward->info(), o.activation_dtype);
    if (!gw_dtype) {
      return "backward '" + kl.backward->info().name + "' takes 'grad_weight' in neither " +
             std::string(dtype_name(o.activation_dtype)) + " nor f32";
    }
  }
  NormWeight w(n.weight, o, training);
  double eps = n.eps;
  n.set_forward(
      [&n, fwd, w, eps, dt = o.activation_dtype, dev = o.device](const Tensor& x,
                                                                 Tensor& residual) {
        if (x.dtype() != dt || residual.dtype() != dt || x.device() != dev) {
          return n.reference_forward(x, residual);
        }
        Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
        fwd(KernelArgs{{{"x", x}, {"residual", residual}, {"weight", w.get()}, {"out", out}},
                       {{"eps", eps}}},
            on_current_stream(x));
        return out;
      },
      desc);
  if (!training) return "";
  // The kernel adds the norm's input gradient into grad_residual (in: the gradient flowing into
  // the residual stream from later layers; out: that plus the norm's, the gradient of both x and
  // the residual before the add — FusedAddNormBackward's contract) and writes the same value to
  // grad_x, which the layer does not need.
  n.set_backward(
      [&n, bwd = *kl.backward, w, eps, gw_dt = *gw_dtype, dt = o.activation_dtype, dev = o.device](
          const Tensor& sum, const Tensor& dy, Tensor& dresidual, Tensor* dweight) {
        if (sum.dtype() != dt || dy.dtype() != dt || dresidual.dtype() != dt ||
            sum.device() != dev || dy.device() != dev || dresidual.device() != dev) {
          n.reference_backward(sum, dy, dresidual, dweight);
          return;
        }
        Tensor grad_x = Tensor::empty(sum.shape(), dt, dev);
        Tensor grad_weight = Tensor::empty({sum.size(-1)}, gw_dt, dev);
        bwd(KernelArgs{{{"residual", sum},
                        {"weight", w.get()},
                        {"grad_out", dy},
                        {"grad_residual", dresidual},
                        {"grad_x", grad_x},
                        {"grad_weight", grad_weight}},
                       {{"eps", eps}}},
            on_current_stream(sum));
        add_weight_grad(dweight, grad_weight);
      });
  return "";
}

std::string bind_act(ActAndMulLayer& a, const loader::KernelLayer& kl, const std::string& desc,
                     const KernelizeOptions& o, bool training) {
  const KernelFunction& fwd = kl.forward;
  if (auto r = check_args(fwd.info(), {"x", "out"}); !r.empty()) return r;
  if (!supports_dtype(fwd.info(), "x", o.activation_dtype)) {
    return dtype_reason(fwd.info(), "x", o.activation_dtype);
  }
  if (training) {
    if (auto r = check_backward(kl.backward, {"x", "grad_out", "grad_x"}, "x", o.activation_dtype);
        !r.empty()) {
      return r;
    }
  }
  a.set_forward(
      [&a, fwd, dt = o.activation_dtype, dev = o.device](const Tensor& x) {
        if (x.dtype() != dt || x.device() != dev) return ops::act_and_mul(x, a.act);
        Shape s = x.shape();
        s.back() /= 2;
        Tensor out = Tensor::empty(s, x.dtype(), x.device());
        fwd(KernelArgs{{{"x", x}, {"out", out}}, {}}, on_current_stream(x));
        return out;
      },
      desc);
  if (!training) return "";
  a.set_backward([&a, bwd = *kl.backward, dt = o.activation_dtype, dev = o.device](
                     const Tensor& x, const Tensor& dy) {
    if (x.dtype() != dt || dy.dtype() != dt || x.device() != dev || dy.device() != dev) {
      return ops::act_and_mul_backward(x, dy, a.act);
    }
    Tensor grad_x = Tensor::empty(x.shape(), dt, dev);
    bwd(KernelArgs{{{"x", x}, {"grad_out", dy}, {"grad_x", grad_x}}, {}}, on_current_stream(x));
    return grad_x;
  });
  return "";
}

std::string bind_rotary(RotaryLayer& r, const loader::KernelLayer& kl, const std::string& desc,
                        const KernelizeOptions& o, bool training) {
  const KernelFunction& fwd = kl.forward;
  if (auto e = check_args(fwd.info(), {"q", "k", "cos", "sin"}); !e.empty()) return e;
  if (!supports_dtype(fwd.info(), "q", o.activation_dtype)) {
    return dtype_reason(fwd.info(), "q", o.activation_dtype);
  }
  if (training) {
    if (auto e = check_backward(kl.backward, {"grad_q", "grad_k", "cos", "sin"}, "grad_q",
                                o.activation_dtype);
        !e.empty()) {
      return e;
    }
  }
  r.set_forward(
      [&r, fwd, dt = o.activation_dtype, dev = o.device](Tensor& q, Tensor& k, const Tensor& cos,
                                                         const Tensor& sin) {
        if (q.dtype() != dt || k.dtype() != dt || q.device() != dev) {
          ops::apply_rotary(q, k, cos, sin, r.rotary_dim, r.interleaved);
          return;
        }
        fwd(KernelArgs{{{"q", q}, {"k", k}, {"cos", cos}, {"sin", sin}},
                       {{"rotary_dim", r.rotary_dim}, {"interleaved", r.interleaved}}},
            on_current_stream(q));
      },
      desc);
  if (!training) return "";
  // In place, as the forward: the inverse rotation of the gradients.
  r.set_backward([&r, bwd = *kl.backward, dt = o.activation_dtype, dev = o.device](
                     Tensor& dq, Tensor& dk, const Tensor& cos, const Tensor& sin) {
    if (dq.dtype() != dt || dk.dtype() != dt || dq.device() != dev || dk.device() != dev) {
      ops::apply_rotary_backward(dq, dk, cos, sin, r.rotary_dim, r.interleaved);
      return;
    }
    bwd(KernelArgs{{{"grad_q", dq}, {"grad_k", dk}, {"cos", cos}, {"sin", sin}},
                   {{"rotary_dim", r.rotary_dim}, {"interleaved", r.interleaved}}},
        on_current_stream(dq));
  });
  return "";
}

// Rows of logits a LinearCrossEntropy kernel computes at once: what the reference takes on the
// CPU; on CUDA about 256 MiB of f32 logits, so the GEMMs get hundreds of rows.
int64_t lce_chunk_rows(const Tensor& hidden, int64_t vocab) {
  if (hidden.device().is_cpu()) return LinearCrossEntropyLayer::reference_chunk_rows(vocab);
  return std::clamp<int64_t>((int64_t{256} << 20) / (4 * std::max<int64_t>(vocab, 1)), 16, 4096);
}

std::string bind_linear_cross_entropy(LinearCrossEntropyLayer& l, const loader::KernelLayer& kl,
                                      const std::string& desc, const KernelizeOptions& o,
                                      bool training) {
  const KernelFunction& fwd = kl.forward;
  if (auto r = check_args(fwd.info(), {"hidden", "weight", "targets", "loss"}); !r.empty()) {
    return r;
  }
  if (!supports_dtype(fwd.info(), "hidden", o.activation_dtype)) {
    return dtype_reason(fwd.info(), "hidden", o.activation_dtype);
  }
  if (training) {
    if (auto r = check_backward(kl.backward,
                                {"hidden", "weight", "targets", "grad_hidden", "grad_weight"},
                                "hidden", o.activation_dtype);
        !r.empty()) {
      return r;
    }
    if (!supports_dtype(kl.backward->info(), "grad_weight", DType::kF32)) {
      return "backward '" + kl.backward->info().name + "' " +
             dtype_reason(kl.backward->info(), "grad_weight", DType::kF32);
    }
  }
  auto bound = [dt = o.activation_dtype, dev = o.device](const Tensor& h, const Tensor& w) {
    return h.dtype() == dt && w.dtype() == dt && h.device() == dev && w.device() == dev &&
           h.is_contiguous() && w.is_contiguous();
  };
  auto device_ids = [](const Tensor& h, const CrossEntropyTargets& t) {
    if (t.ids.defined()) return t.ids;
    return Tensor::from_vector(t.host, {static_cast<int64_t>(t.host.size())}, DType::kI32)
        .to(h.device());
  };
  auto attrs = [&l](const Tensor& h, const Tensor& w) {
    return std::vector<std::pair<std::string, loader::AttrValue>>{
        {"softcap", static_cast<double>(l.softcap)},
        {"ignore_index", int64_t{LinearCrossEntropyLayer::kIgnoreIndex}},
        {"chunk_rows", lce_chunk_rows(h, w.size(0))}};
  };
  l.set_forward(
      [&l, fwd, bound, device_ids, attrs](const Tensor& hidden, const Tensor& weight,
                                          const CrossEntropyTargets& targets) {
        if (!bound(hidden, weight)) return l.reference_parts(hidden, weight, targets);
        l.check(hidden, weight, targets);
        Tensor loss = Tensor::empty({hidden.size(0)}, DType::kF32, hidden.device());
        KernelArgs args{{{"hidden", hidden},
                         {"weight", weight},
                         {"targets", device_ids(hidden, targets)},
                         {"loss", loss}},
                        attrs(hidden, weight)};
        fwd(args, on_current_stream(hidden));
        return loss;  // per-row losses, summed where they are read (Loss::item)
      },
      desc);
  if (!training) return "";
  l.set_backward([&l, bwd = *kl.backward, bound, device_ids, attrs](
                     const Tensor& hidden, const Tensor& weight, const CrossEntropyTargets& targets,
                     float grad_scale, Tensor* dweight) {
    if (!bound(hidden, weight)) {
      return l.reference_backward(hidden, weight, targets, grad_scale, dweight);
    }
    l.check(hidden, weight, targets);
    // The kernel adds into grad_weight: the parameter's own gradient when it is the contiguous
    // f32 [V, H] on the weight's device, else a zeroed scratch added afterwards.
    Tensor gw;
    bool direct = dweight != nullptr && dweight->dtype() == DType::kF32 &&
                  dweight->device() == weight.device() && dweight->is_contiguous() &&
                  dweight->shape() == weight.shape();
    if (direct) {
      gw = *dweight;
    } else {
      gw = Tensor::empty(weight.shape(), DType::kF32, weight.device());
      ops::zero_inplace(gw);
    }
    Tensor grad_hidden = Tensor::empty(hidden.shape(), hidden.dtype(), hidden.device());
    KernelArgs args{{{"hidden", hidden},
                     {"weight", weight},
                     {"targets", device_ids(hidden, targets)},
                     {"grad_hidden", grad_hidden},
                     {"grad_weight", gw}},
                    attrs(hidden, weight)};
    args.attrs.push_back({"grad_scale", static_cast<double>(grad_scale)});
    bwd(args, on_current_stream(hidden));
    if (!direct) add_weight_grad(dweight, gw);
    return grad_hidden;
  });
  return "";
}

std::string bind_rotary_cache(RotaryKVCacheLayer& r, const KernelFunction& fwd,
                              const std::string& desc, const KernelizeOptions& o) {
  if (auto e = check_args(fwd.info(), {"q", "k", "v", "cos", "sin", "rows", "k_cache", "v_cache"});
      !e.empty()) {
    return e;
  }
  const bool norm = r.q_norm != nullptr;
  if (norm) {
    if (auto e = check_args(fwd.info(), {"q_weight", "k_weight"}); !e.empty()) return e;
    if (r.k_norm == nullptr || r.k_norm->gemma != r.q_norm->gemma || r.k_norm->eps != r.q_norm->eps)
      return "cannot serve q and k norms of different kinds or eps";
  }
  if (!supports_dtype(fwd.info(), "q", o.activation_dtype)) {
    return dtype_reason(fwd.info(), "q", o.activation_dtype);
  }
  if (auto e = check_head_dim(fwd.info(), r.head_dim); !e.empty()) return e;
  // The norm weights in the activations' dtype, converted once here.
  Tensor qw, kw;
  if (norm) {
    qw = ops::cast(r.q_norm->weight.to(o.device), o.activation_dtype);
    kw = ops::cast(r.k_norm->weight.to(o.device), o.activation_dtype);
  }
  const double eps = norm ? r.q_norm->eps : 0.0;
  const bool gemma = norm && r.q_norm->gemma;
  r.set_forward(
      [&r, fwd, qw, kw, eps, gemma, dt = o.activation_dtype, dev = o.device](
          Tensor& q, Tensor& k, const Tensor& v, const Tensor& cos, const Tensor& sin,
          const Tensor& rows, Tensor& k_cache, Tensor& v_cache) {
        if (q.dtype() != dt || k_cache.dtype() != dt || q.device() != dev) {
          r.reference_forward(q, k, v, cos, sin, rows, k_cache, v_cache);
          return;
        }
        KernelArgs args{{{"q", q},
                         {"k", k},
                         {"v", v},
                         {"cos", cos},
                         {"sin", sin},
                         {"rows", rows},
                         {"k_cache", k_cache},
                         {"v_cache", v_cache}},
                        {{"rotary_dim", r.rotary->rotary_dim},
                         {"interleaved", r.rotary->interleaved},
                         {"eps", eps},
                         {"gemma_norm", gemma}}};
        if (qw.defined()) {
          args.tensors.push_back({"q_weight", qw});
          args.tensors.push_back({"k_weight", kw});
        }
        fwd(args, on_current_stream(q));
      },
      desc);
  return "";
}

}  // namespace

std::string bind_kernel_layer(KernelizableLayer& layer, const loader::Kernel& kernel,
                              const std::string& kernel_layer, const KernelizeOptions& o,
                              Mode mode) {
  loader::KernelLayer kl = kernel.layer(kernel_layer);
  std::string desc = kernel.identity().label() + " :" + kernel_layer;
  const bool training = mode_has(mode, Mode::kTraining);
  if (auto* n = dynamic_cast<RMSNormLayer*>(&layer)) return bind_norm(*n, kl, desc, o, training);
  if (auto* n = dynamic_cast<FusedAddRMSNormLayer*>(&layer)) {
    return bind_fused_norm(*n, kl, desc, o, training);
  }
  if (auto* a = dynamic_cast<ActAndMulLayer*>(&layer)) return bind_act(*a, kl, desc, o, training);
  if (auto* r = dynamic_cast<RotaryLayer*>(&layer)) return bind_rotary(*r, kl, desc, o, training);
  if (auto* l = dynamic_cast<LinearCrossEntropyLayer*>(&layer)) {
    return bind_linear_cross_entropy(*l, kl, desc, o, training);
  }
  if (auto* a = dynamic_cast<AttentionLayer*>(&layer)) {
    return bind_attention(*a, kl, desc, o, training);
  }
  // No contract defines a backward for RotaryKVCache (docs/layer-contracts.md) and no shipped
  // kernel declares one, so kernelize falls back on has-backward before binding; a kernel that
  // does declare one still gets no forward here, since khub could not call its backward.
  if (auto* r = dynamic_cast<RotaryKVCacheLayer*>(&layer)) {
    if (!training) return bind_rotary_cache(*r, kl.forward, desc, o);
    if (!kl.backward) return "has no backward (training mode)";
    return "has a backward, but khub has no backward binding for layer key '" +
           std::string(layer.layer_key()) + "' (training mode)";
  }
  if (auto* s = dynamic_cast<DecodeStepLayer*>(&layer)) {
    // The `DecodeStep` contract has no backward: training keeps the per-layer path.
    if (training) return "has no backward (training mode)";
    return bind_decode_step(*s, kl.forward, desc, o);
  }
  if (auto* m = dynamic_cast<MoELayer*>(&layer)) {
    // The `MoE` contract has no backward (docs/layer-contracts.md): training keeps the reference.
    if (training) return "has no backward (training mode)";
    return bind_moe(*m, kl.forward, desc, o);
  }
  return "has no binding for layer type '" + std::string(layer.layer_key()) + "'";
}

}  // namespace khub
