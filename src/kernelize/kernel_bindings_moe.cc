// The `MoE` layer's binding (docs/layer-contracts.md): one kernel call per forward with the
// layer's router and expert weights, the routing and the activation as attributes. The weights
// are fixed in inference, so what the kernel needs in another dtype (a CPU model whose experts
// were dequantized from MXFP4 to f32 next to a bf16 router) is converted once, here; the large
// expert tensors are passed as they are whenever they share a dtype.
#include "kernelize/binding_checks.h"
#include "layers/moe.h"
#include "ops/elementwise.h"

namespace khub {

std::string bind_moe(MoELayer& m, const loader::KernelFunction& fwd, const std::string& desc,
                     const KernelizeOptions& o) {
  using binding::check_args;
  if (auto e = check_args(fwd.info(), {"x", "router_weight", "gate_up", "down", "out"});
      !e.empty()) {
    return e;
  }
  if (!binding::supports_dtype(fwd.info(), "x", o.activation_dtype)) {
    return binding::dtype_reason(fwd.info(), "x", o.activation_dtype);
  }
  const MoEWeights& w = m.w;
  const ops::ExpertActivation& act = m.options.activation;
  if (act.swiglu_limit <= 0 && act.act != ops::GatedActivation::kSilu) {
    return "computes SiLU(gate)·up or gpt-oss's clamped SwiGLU experts, not this layer's "
           "activation";
  }
  for (auto [name, t] :
       {std::pair{"router_bias", &w.router_bias}, std::pair{"gate_up_bias", &w.gate_up_bias},
        std::pair{"down_bias", &w.down_bias}}) {
    if (t->defined()) {
      if (auto e = check_args(fwd.info(), {name}); !e.empty()) return e;
    }
  }
  // The experts' dtype decides; the other weights follow it (converted once when they differ).
  const DType wd = w.gate_up.dtype();
  if (!binding::supports_dtype(fwd.info(), "gate_up", wd)) {
    return binding::dtype_reason(fwd.info(), "gate_up", wd);
  }
  if (!o.device.is_cpu() && wd != o.activation_dtype) {
    return "takes the experts in the activations' dtype " +
           std::string(dtype_name(o.activation_dtype)) + " on CUDA, not " +
           std::string(dtype_name(wd));
  }
  auto like_experts = [&](const Tensor& t) {
    if (!t.defined()) return t;
    Tensor d = t.to(o.device);
    return d.dtype() == wd ? d.contiguous() : ops::cast(d.contiguous(), wd);
  };
  struct Weights {
    Tensor router, router_bias, gate_up, gate_up_bias, down, down_bias;
  } kw{like_experts(w.router),       like_experts(w.router_bias), like_experts(w.gate_up),
       like_experts(w.gate_up_bias), like_experts(w.down),        like_experts(w.down_bias)};
  const MoEOptions opt = m.options;
  m.set_forward(
      [&m, fwd, kw, opt, dt = o.activation_dtype, dev = o.device](const Tensor& x_in) {
        if (x_in.dtype() != dt || x_in.device() != dev || x_in.dim() != 2) {
          return m.reference(x_in);
        }
        Tensor x = x_in.contiguous();
        Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
        loader::KernelArgs args{
            {{"x", x},
             {"router_weight", kw.router},
             {"gate_up", kw.gate_up},
             {"down", kw.down},
             {"out", out}},
            {{"top_k", opt.top_k},
             {"topk_softmax", opt.routing == MoERouting::kTopKSoftmax},
             {"renormalize", opt.renormalize},
             {"swiglu_limit", static_cast<double>(opt.activation.swiglu_limit)},
             {"swiglu_alpha", static_cast<double>(opt.activation.swiglu_alpha)}}};
        if (kw.router_bias.defined()) args.tensors.push_back({"router_bias", kw.router_bias});
        if (kw.gate_up_bias.defined()) args.tensors.push_back({"gate_up_bias", kw.gate_up_bias});
        if (kw.down_bias.defined()) args.tensors.push_back({"down_bias", kw.down_bias});
        fwd(args, binding::on_current_stream(x));
        return out;
      },
      desc);
  return "";
}

}  // namespace khub
