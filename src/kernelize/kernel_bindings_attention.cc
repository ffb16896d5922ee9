// The `Attention` layer's binding (docs/layer-contracts.md): the kernel's forward in every mode
// and, in Mode::kTraining, its backward (`attention_backward`), checked against the backward
// contract and the layer's needs (head_dim, sliding window, softcap, sinks) as the forward is. A
// layer the backward cannot serve keeps the reference for both directions, and the report says why.
#include <optional>
#include <utility>
#include <vector>

#include "kernelize/binding_checks.h"
#include "layers/attention.h"
#include "ops/backward.h"

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

// Constraint check for attention: the kernel's JSON constraints against the layer's needs.
std::string check_attention_constraints(const FunctionInfo& f, const AttentionLayer& a) {
  const nlohmann::json& c = f.constraints;
  if (auto r = check_head_dim(f, a.head_dim); !r.empty()) return r;
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

// The `Attention` backward's arguments (docs/layer-contracts.md): the forward's, its output, the
// output's gradient, then grad_q and the f32 cache gradients the kernel adds into.
std::string check_attention_backward(const std::optional<KernelFunction>& bwd,
                                     const AttentionLayer& a, DType dtype) {
  if (auto r = check_backward(bwd,
                              {"q", "k_cache", "v_cache", "seqs", "workspace", "out", "grad_out",
                               "grad_q", "grad_k_cache", "grad_v_cache"},
                              "q", dtype);
      !r.empty()) {
    return r;
  }
  const FunctionInfo& f = bwd->info();
  for (const char* g : {"grad_k_cache", "grad_v_cache"}) {
    if (!supports_dtype(f, g, DType::kF32))
      return "backward '" + f.name + "' " + dtype_reason(f, g, DType::kF32);
  }
  if (auto r = check_attention_constraints(f, a); !r.empty())
    return "backward '" + f.name + "' " + r;
  return "";
}

}  // namespace

std::string bind_attention(AttentionLayer& a, const loader::KernelLayer& kl,
                           const std::string& desc, const KernelizeOptions& o, bool training) {
  const KernelFunction& fwd = kl.forward;
  if (auto e = check_args(fwd.info(), {"q", "k_cache", "v_cache", "seqs", "workspace", "out"});
      !e.empty()) {
    return e;
  }
  if (!supports_dtype(fwd.info(), "q", o.activation_dtype)) {
    return dtype_reason(fwd.info(), "q", o.activation_dtype);
  }
  if (auto e = check_attention_constraints(fwd.info(), a); !e.empty()) return e;
  if (training) {
    if (auto e = check_attention_backward(kl.backward, a, o.activation_dtype); !e.empty()) return e;
  }
  auto attrs = [](const AttentionBatch& batch, const ops::AttentionParams& p) {
    return std::vector<std::pair<std::string, loader::AttrValue>>{
        {"scale", static_cast<double>(p.scale)},
        {"window", p.window},
        {"softcap", static_cast<double>(p.softcap)},
        {"max_q_len", batch.max_q_len},
        {"max_kv_len", batch.max_kv_len}};
  };
  a.set_forward(
      [fwd, attrs, dt = o.activation_dtype, dev = o.device](
          const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
          const AttentionBatch& batch, const ops::AttentionParams& p, const Tensor& sinks) {
        if (q.dtype() != dt || q.device() != dev) {
          return AttentionLayer::reference_forward(q, k_cache, v_cache, batch, p, sinks);
        }
        int64_t t = q.size(0), hq = q.size(1), d = q.size(2);
        // The contract's scratch: room for a split-KV decode (16 partials per row and head).
        int64_t ws = t <= 64 ? 16 * t * hq * (d + 2) : 0;
        Tensor workspace = Tensor::empty({ws}, DType::kF32, q.device());
        Tensor out = Tensor::empty(q.shape(), q.dtype(), q.device());
        KernelArgs args{{{"q", q},
                         {"k_cache", k_cache},
                         {"v_cache", v_cache},
                         {"seqs", batch.seqs},
                         {"workspace", workspace},
                         {"out", out}},
                        attrs(batch, p)};
        if (sinks.defined()) args.tensors.push_back({"sinks", sinks});
        fwd(args, on_current_stream(q));
        return out;
      },
      desc);
  if (!training) return "";
  // The kernel writes every row of grad_q (0 for rows of no sequence) and adds the keys' and
  // values' gradients into the f32 caches the model zeroed; its workspace holds the f32 dq
  // accumulator and two f32 values per row and head (log-sum-exp, rowsum(dO·O)).
  a.set_backward([bwd = *kl.backward, attrs, dt = o.activation_dtype, dev = o.device](
                     const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                     const Tensor& out, const Tensor& dout, const AttentionBatch& batch,
                     const ops::AttentionParams& p, Tensor* dq, Tensor* dk_cache,
                     Tensor* dv_cache) {
    auto bound_grad = [&](const Tensor* g) {
      return g != nullptr && g->defined() && g->dtype() == DType::kF32 && g->device() == dev &&
             g->is_contiguous() && g->shape() == k_cache.shape();
    };
    if (q.dtype() != dt || q.device() != dev || k_cache.dtype() != dt || out.dtype() != dt ||
        dout.dtype() != dt || dout.device() != dev || !bound_grad(dk_cache) ||
        !bound_grad(dv_cache)) {
      ops::attention_varlen_backward(q, k_cache, v_cache, dout, batch.host, p, dq, dk_cache,
                                     dv_cache);
      return;
    }
    int64_t t = q.size(0), hq = q.size(1), d = q.size(2);
    Tensor workspace = Tensor::empty({t * hq * (d + 2)}, DType::kF32, dev);
    *dq = Tensor::empty(q.shape(), dt, dev);
    bwd(KernelArgs{{{"q", q},
                    {"k_cache", k_cache},
                    {"v_cache", v_cache},
                    {"seqs", batch.seqs},
                    {"workspace", workspace},
                    {"out", out},
                    {"grad_out", dout},
                    {"grad_q", *dq},
                    {"grad_k_cache", *dk_cache},
                    {"grad_v_cache", *dv_cache}},
                   attrs(batch, p)},
        on_current_stream(q));
  });
  return "";
}

}  // namespace khub
