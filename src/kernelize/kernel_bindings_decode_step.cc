// The `DecodeStep` layer's binding (docs/layer-contracts.md, docs/design.md §8): the whole
// decoder stack of a batch-1 decode step in one kernel call. The kernel's constraints (its
// manifest's JSON) say which stacks it serves; a stack using anything else (a sliding window,
// soft-capping, sinks, biases, MoE, sandwich or Gemma norms, another activation, a head_dim or
// width outside its list) is not bound and the report names the feature: the model then runs its
// per-layer path, visibly. In inference the weights are fixed, so the binding stacks each kind of
// projection into one [L, ...] tensor and points the model's own tensors at views of it: the
// per-layer path (prefill) reads the same memory, nothing is held twice.
#include <nlohmann/json.hpp>

#include "core/env.h"
#include "kernelize/binding_checks.h"
#include "layers/decode_step.h"
#include "ops/elementwise.h"

namespace khub {
namespace {

// Counters the kernel keeps between phases (kernels/decode-step/cuda/decode_step.h): one per
// phase of each layer (five), the LM head's, and the exit counter; zero between launches.
int64_t sync_words(int64_t layers) { return layers * 5 + 2; }

std::string check_constraints(const loader::FunctionInfo& f, const DecodeStackFeatures& s) {
  const nlohmann::json& c = f.constraints;
  auto declares = [&](const char* feature) {
    return c.contains(feature) && c[feature].is_boolean() && c[feature].get<bool>();
  };
  for (auto [feature, used] :
       {std::pair{"qk_norm", s.qk_norm}, std::pair{"bias", s.bias},
        std::pair{"sliding_window", s.sliding_window}, std::pair{"softcap", s.softcap},
        std::pair{"sinks", s.sinks}, std::pair{"moe", s.moe},
        std::pair{"sandwich_norm", s.sandwich_norm}, std::pair{"gemma_norm", s.gemma_norm},
        std::pair{"interleaved_rotary", s.interleaved_rotary},
        std::pair{"scale_embeddings", s.scale_embeddings}}) {
    if (used && !declares(feature)) {
      return std::string("does not declare support for ") + feature;
    }
  }
  if (c.contains("head_dim") && c["head_dim"].is_array()) {
    bool ok = false;
    for (const auto& v : c["head_dim"])
      ok |= v.is_number_integer() && v.get<int64_t>() == s.head_dim;
    if (!ok) {
      return "supports head_dim " + c["head_dim"].dump() + ", not " + std::to_string(s.head_dim);
    }
  }
  if (c.contains("activations") && c["activations"].is_array()) {
    bool ok = false;
    for (const auto& v : c["activations"])
      ok |= v.is_string() && v.get<std::string>() == s.activation;
    if (!ok) return "supports activations " + c["activations"].dump() + ", not " + s.activation;
  }
  const int64_t max_w = c.value("max_width", int64_t{0}),
                mult = c.value("width_multiple", int64_t{1});
  for (auto [what, w] :
       {std::pair{"hidden_size", s.hidden}, std::pair{"heads × head_dim", s.heads * s.head_dim},
        std::pair{"intermediate_size", s.intermediate}}) {
    if ((max_w > 0 && w > max_w) || (mult > 1 && w % mult != 0)) {
      return std::string("supports widths up to ") + std::to_string(max_w) + " in multiples of " +
             std::to_string(mult) + ", not " + what + " " + std::to_string(w);
    }
  }
  return "";
}

// Copies the layers' tensors of one kind into a new [L, ...] tensor and points each layer's
// tensor at its view (a re-kernelize copies again and the previous stack is released).
Tensor stack_in_place(const std::vector<Tensor*>& parts) {
  Shape s = parts[0]->shape();
  s.insert(s.begin(), static_cast<int64_t>(parts.size()));
  Tensor out = Tensor::empty(s, parts[0]->dtype(), parts[0]->device());
  for (size_t i = 0; i < parts.size(); ++i) {
    Tensor dst = out.select(0, static_cast<int64_t>(i));
    dst.copy_from(*parts[i]);
    *parts[i] = dst;
  }
  return out;
}

// The small per-layer vectors (norm weights), stacked [L, 2, n] in the activations' dtype.
Tensor stack_pairs(const std::vector<std::pair<const Tensor*, const Tensor*>>& pairs, DType dt,
                   Device dev) {
  const int64_t n = pairs[0].first->numel();
  Tensor out = Tensor::empty({static_cast<int64_t>(pairs.size()), 2, n}, dt, dev);
  for (size_t i = 0; i < pairs.size(); ++i) {
    out.select(0, static_cast<int64_t>(i))
        .select(0, 0)
        .copy_from(ops::cast(pairs[i].first->to(dev), dt));
    out.select(0, static_cast<int64_t>(i))
        .select(0, 1)
        .copy_from(ops::cast(pairs[i].second->to(dev), dt));
  }
  return out;
}

}  // namespace

std::string bind_decode_step(DecodeStepLayer& s, const loader::KernelFunction& fwd,
                             const std::string& desc, const KernelizeOptions& o) {
  using binding::check_args;
  if (auto e = check_args(fwd.info(), {"x", "cos", "sin", "rows", "seqs", "kv_cache", "sync",
                                       "qkv_weight", "o_weight", "gate_up_weight", "down_weight",
                                       "norms", "final_norm", "lm_head", "scratch", "logits"});
      !e.empty()) {
    return e;
  }
  const DecodeStackFeatures& f = s.features;
  if (f.qk_norm) {
    if (auto e = check_args(fwd.info(), {"qk_norms"}); !e.empty()) return e;
  }
  if (!binding::supports_dtype(fwd.info(), "x", o.activation_dtype)) {
    return binding::dtype_reason(fwd.info(), "x", o.activation_dtype);
  }
  if (auto e = check_constraints(fwd.info(), f); !e.empty()) return e;
  if (s.layers.empty() || s.final_norm == nullptr || s.lm_head == nullptr) {
    return "has no decoder layers to run";
  }
  const DType dt = o.activation_dtype;
  const Device dev = o.device;
  std::vector<Tensor*> qkv, ow, gu, down;
  for (const DecodeStackLayer& L : s.layers) {
    for (Tensor* w : {L.qkv_weight, L.o_weight, L.gate_up_weight, L.down_weight}) {
      if (w->dtype() != dt || w->device() != dev) {
        return "takes the projections in the activations' dtype " + std::string(dtype_name(dt)) +
               " on " + dev.str() + ", not " + std::string(dtype_name(w->dtype())) + " on " +
               w->device().str();
      }
    }
    qkv.push_back(L.qkv_weight);
    ow.push_back(L.o_weight);
    gu.push_back(L.gate_up_weight);
    down.push_back(L.down_weight);
  }
  if (s.lm_head->dtype() != dt || s.lm_head->device() != dev) {
    return "takes the LM head in " + std::string(dtype_name(dt)) + " on " + dev.str();
  }
  struct Weights {
    Tensor qkv, o, gate_up, down, norms, qk_norms, final_norm, sync;
  } w;
  w.qkv = stack_in_place(qkv);
  w.o = stack_in_place(ow);
  w.gate_up = stack_in_place(gu);
  w.down = stack_in_place(down);
  std::vector<std::pair<const Tensor*, const Tensor*>> norms, qk;
  for (const DecodeStackLayer& L : s.layers) {
    norms.push_back({L.input_norm, L.post_norm});
    if (f.qk_norm) qk.push_back({L.q_norm, L.k_norm});
  }
  w.norms = stack_pairs(norms, dt, dev);
  if (f.qk_norm) w.qk_norms = stack_pairs(qk, dt, dev);
  w.final_norm = ops::cast(s.final_norm->to(dev), dt);
  w.sync = Tensor::zeros({sync_words(static_cast<int64_t>(s.layers.size()))}, DType::kI32, dev);
  // KHUB_DECODE_STEP_BLOCKS=N runs the kernel on N blocks (0: one per SM), e.g. to check that
  // it completes on fewer SMs than the device has.
  const int64_t blocks = env::integer("KHUB_DECODE_STEP_BLOCKS", 0, 0, 1 << 20);
  const int64_t scratch =
      (f.heads + 2 * f.kv_heads) * f.head_dim + f.heads * f.head_dim + f.intermediate;
  const int64_t vocab = f.vocab;
  const DecodeStackFeatures feat = f;
  s.set_forward(
      [fwd, w, blocks, scratch, vocab, feat, &s, dt, dev](Tensor& x, const Tensor& cos,
                                                          const Tensor& sin, const Tensor& rows,
                                                          const Tensor& seqs, Tensor& kv_cache) {
        KHUB_CHECK_ARG(x.dtype() == dt && x.device() == dev && x.dim() == 2 && x.size(0) == 1,
                       "DecodeStep: x is ", dtype_name(x.dtype()), " with ", x.dim(), " dims on ",
                       x.device().str(), ", expected ", dtype_name(dt), " [1, H] on ", dev.str());
        Tensor ws = Tensor::empty({scratch}, dt, dev);
        Tensor logits = Tensor::empty({1, vocab}, dt, dev);
        loader::KernelArgs args{{{"x", x},
                                 {"cos", cos},
                                 {"sin", sin},
                                 {"rows", rows},
                                 {"seqs", seqs},
                                 {"kv_cache", kv_cache},
                                 {"sync", w.sync},
                                 {"qkv_weight", w.qkv},
                                 {"o_weight", w.o},
                                 {"gate_up_weight", w.gate_up},
                                 {"down_weight", w.down},
                                 {"norms", w.norms},
                                 {"final_norm", w.final_norm},
                                 {"lm_head", *s.lm_head},
                                 {"scratch", ws},
                                 {"logits", logits}},
                                {{"eps", feat.eps},
                                 {"scale", static_cast<double>(feat.scale)},
                                 {"blocks", blocks},
                                 {"rotary_dim", feat.rotary_dim}}};
        if (w.qk_norms.defined()) args.tensors.push_back({"qk_norms", w.qk_norms});
        fwd(args, binding::on_current_stream(x));
        return logits;
      },
      desc);
  return "";
}

}  // namespace khub
