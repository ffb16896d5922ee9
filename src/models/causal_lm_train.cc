// Training through CausalLM (models/training.h, docs/design.md §10): the forward of a batch that
// saves what its backward needs, the next-token cross-entropy over row chunks of the LM head, and
// the backward as an explicit reverse walk over the decoder layers. The residual stream is
//   s_i = x_i (+ the previous layer's MLP output, added by this layer's FusedAddRMSNorm when the
//   arch fuses it), x_mid = s_i + attn(N1(s_i)), x_{i+1} = x_mid + mlp(N2(x_mid)),
// and the walk carries dres = dL/d(residual) back through it: every norm's input gradient is added
// into dres (the fused layers' backward does exactly that), every branch reads dres as its
// output's gradient. Each residual value lives in its own tensor (in-place ops only ever run on a
// fresh clone), so what a layer saved is never overwritten by a later one.
#include <algorithm>
#include <cmath>

#include "core/logging.h"
#include "models/arch.h"
#include "models/causal_lm.h"
#include "models/causal_lm_step.h"
#include "models/train_tape.h"
#include "ops/backward.h"
#include "ops/elementwise.h"
#include "ops/indexing.h"
#include "ops/linear.h"
#include "ops/rotary.h"

namespace khub {

namespace {

Tensor clone_f32(const Tensor& t) {
  if (t.dtype() == DType::kF32) return t.contiguous().clone();
  return t.device().is_cpu() ? t.to(DType::kF32).contiguous()
                             : ops::cast(t.contiguous(), DType::kF32);
}

// Places row b's [len_b, Hk, D] part of packed [T, Hk, D] into slot b of [B, Tmax, Hk, D] (a view
// when every row has the full length), and the reverse for gradients.
Tensor rows_to_slots(const Tensor& packed, const std::vector<ops::AttentionSeq>& seqs,
                     int64_t max_len) {
  int64_t b = static_cast<int64_t>(seqs.size()), hk = packed.size(1), d = packed.size(2);
  if (packed.size(0) == b * max_len) return packed.contiguous().view({b, max_len, hk, d});
  Tensor out = Tensor::empty({b, max_len, hk, d}, packed.dtype(), packed.device());
  ops::zero_inplace(out);
  for (const ops::AttentionSeq& s : seqs) {
    out.select(0, s.slot)
        .slice(0, 0, s.q_len)
        .copy_from(packed.slice(0, s.q_start, s.q_start + s.q_len));
  }
  return out;
}

Tensor slots_to_rows(const Tensor& slots, const std::vector<ops::AttentionSeq>& seqs,
                     int64_t tokens) {
  int64_t b = slots.size(0), max_len = slots.size(1), hk = slots.size(2), d = slots.size(3);
  if (tokens == b * max_len) return slots.view({tokens, hk, d});
  Tensor out = Tensor::empty({tokens, hk, d}, slots.dtype(), slots.device());
  for (const ops::AttentionSeq& s : seqs) {
    out.slice(0, s.q_start, s.q_start + s.q_len)
        .copy_from(slots.select(0, s.slot).slice(0, 0, s.q_len));
  }
  return out;
}

// f32 zeros beside t (gradients and their accumulators live on the model's device).
Tensor zeros_like(const Tensor& t) {
  if (!t.defined()) return Tensor();
  Tensor z = Tensor::empty(t.shape(), DType::kF32, t.device());
  ops::zero_inplace(z);
  return z;
}

}  // namespace

void CausalLM::check_trainable() const {
  for (const DecoderLayer& L : layers_) {
    if (L.moe && L.moe->w.mxfp4) {
      fail(ErrorKind::kUnsupported, config_.architecture, ": this checkpoint's experts are MXFP4 ",
           "(", L.moe->path(), ".experts.*_blocks/_scales), dequantized at load; training them is ",
           "not supported (a trained expert has no MXFP4 form to save); train a checkpoint that ",
           "stores them unquantized (gate_up_proj / down_proj, as save_pretrained writes)");
    }
  }
  if (config_.moe.num_experts > 0 && !device_.is_cpu()) {
    fail(ErrorKind::kUnsupported, config_.architecture, ": mixture-of-experts training runs on ",
         "the CPU only (the MoE backward has no CUDA path yet); load the model with device cpu");
  }
}

std::vector<Parameter>& CausalLM::parameters() {
  if (!params_.empty()) return params_;
  check_trainable();
  const ModelConfig& c = config_;
  // Owned f32 copies: weights may view a read-only mapped file or be stored in bf16/f16. With
  // mixed precision (CUDA, bf16/f16 activations) the compute weights stay as they are and the f32
  // copies are their masters: the parameters are the masters, refresh_compute_weights() casts
  // them back before each forward.
  const bool mixed = act_dtype_ != DType::kF32;
  KHUB_CHECK_ARG(!mixed || device_.is_cuda(), "mixed-precision training runs on CUDA");
  bool tied = lm_head_.defined() && lm_head_.data() == embed_tokens_.data();
  auto own = [&](Tensor& t) {
    if (!t.defined()) return;
    if (mixed) {
      masters_.push_back({clone_f32(t), &t});
    } else {
      t = clone_f32(t);
    }
  };
  own(embed_tokens_);
  if (tied) {
    lm_head_ = embed_tokens_;
  } else {
    own(lm_head_);
  }
  own(final_norm_->weight);
  for (DecoderLayer& L : layers_) {
    for (RMSNormLayer* n :
         {L.input_norm.get(), L.post_attention_norm.get(), L.pre_feedforward_norm.get(),
          L.post_feedforward_norm.get(), L.q_norm.get(), L.k_norm.get()}) {
      if (n) own(n->weight);
    }
    for (FusedAddRMSNormLayer* n : {L.input_add_norm.get(), L.post_attention_add_norm.get()}) {
      if (n) own(n->weight);
    }
    for (Tensor* t : {&L.qkv_weight, &L.qkv_bias, &L.o_weight, &L.o_bias, &L.sinks,
                      &L.gate_up_weight, &L.gate_up_bias, &L.down_weight, &L.down_bias}) {
      own(*t);
    }
    if (L.moe) {
      KHUB_CHECK_ARG(!mixed, config_.architecture, ": mixture-of-experts training runs in f32");
      MoEWeights& mw = L.moe->w;
      for (Tensor* t :
           {&mw.router, &mw.router_bias, &mw.gate_up, &mw.gate_up_bias, &mw.down, &mw.down_bias}) {
        own(*t);
      }
    }
  }
  embed_grad_ = zeros_like(embed_tokens_);
  lm_head_grad_ = tied ? embed_grad_ : zeros_like(lm_head_);
  final_norm_grad_ = zeros_like(final_norm_->weight);

  // The tensor the optimizer updates for a compute weight: its master, or itself.
  auto value_of = [&](const Tensor& t) {
    if (!mixed) return t;
    for (const MasterWeight& m : masters_)
      if (m.compute->data() == t.data()) return m.master;
    fail(ErrorKind::kInternal, "CausalLM::parameters: no master weight for ", t.describe());
  };
  auto add = [&](std::string name, const Tensor& value, const Tensor& grad) {
    params_.push_back({std::move(name), value_of(value), grad});
  };
  add("model.embed_tokens.weight", embed_tokens_, embed_grad_);
  int64_t d = c.head_dim, qd = c.num_attention_heads * d, kvd = c.num_key_value_heads * d;
  int64_t inter = c.intermediate_size;
  grads_.assign(layers_.size(), LayerGrads{});
  for (size_t i = 0; i < layers_.size(); ++i) {
    DecoderLayer& L = layers_[i];
    LayerGrads& g = grads_[i];
    std::string p = "model.layers." + std::to_string(i) + ".";
    auto parts = [&](const std::string& prefix, const std::vector<std::string>& names,
                     const std::vector<int64_t>& sizes, const Tensor& compute, const Tensor& grad) {
      Tensor value = value_of(compute);
      int64_t r = 0;
      for (size_t k = 0; k < names.size(); ++k) {
        params_.push_back(
            {prefix + names[k], value.slice(0, r, r + sizes[k]), grad.slice(0, r, r + sizes[k])});
        r += sizes[k];
      }
    };
    g.qkv_weight = zeros_like(L.qkv_weight);
    parts(p + "self_attn.", {"q_proj.weight", "k_proj.weight", "v_proj.weight"}, {qd, kvd, kvd},
          L.qkv_weight, g.qkv_weight);
    if (L.qkv_bias.defined()) {
      g.qkv_bias = zeros_like(L.qkv_bias);
      parts(p + "self_attn.", {"q_proj.bias", "k_proj.bias", "v_proj.bias"}, {qd, kvd, kvd},
            L.qkv_bias, g.qkv_bias);
    }
    g.o_weight = zeros_like(L.o_weight);
    add(p + "self_attn.o_proj.weight", L.o_weight, g.o_weight);
    if (L.o_bias.defined()) {
      g.o_bias = zeros_like(L.o_bias);
      add(p + "self_attn.o_proj.bias", L.o_bias, g.o_bias);
    }
    if (L.sinks.defined()) {
      g.sinks = zeros_like(L.sinks);
      add(p + "self_attn.sinks", L.sinks, g.sinks);
    }
    if (L.q_norm) {
      g.q_norm = zeros_like(L.q_norm->weight);
      g.k_norm = zeros_like(L.k_norm->weight);
      add(p + "self_attn.q_norm.weight", L.q_norm->weight, g.q_norm);
      add(p + "self_attn.k_norm.weight", L.k_norm->weight, g.k_norm);
    }
    if (L.moe) {
      add_moe_parameters(L, g, p);
    } else {
      g.gate_up_weight = zeros_like(L.gate_up_weight);
      parts(p + "mlp.", {"gate_proj.weight", "up_proj.weight"}, {inter, inter}, L.gate_up_weight,
            g.gate_up_weight);
    }
    if (L.gate_up_bias.defined()) {
      g.gate_up_bias = zeros_like(L.gate_up_bias);
      parts(p + "mlp.", {"gate_proj.bias", "up_proj.bias"}, {inter, inter}, L.gate_up_bias,
            g.gate_up_bias);
    }
    if (!L.moe) {
      g.down_weight = zeros_like(L.down_weight);
      add(p + "mlp.down_proj.weight", L.down_weight, g.down_weight);
    }
    if (L.down_bias.defined()) {
      g.down_bias = zeros_like(L.down_bias);
      add(p + "mlp.down_proj.bias", L.down_bias, g.down_bias);
    }
    const Tensor& in_w = L.input_norm ? L.input_norm->weight : L.input_add_norm->weight;
    g.input_norm = zeros_like(in_w);
    add(p + "input_layernorm.weight", in_w, g.input_norm);
    const Tensor& post_w =
        L.post_attention_norm ? L.post_attention_norm->weight : L.post_attention_add_norm->weight;
    g.post_attention_norm = zeros_like(post_w);
    add(p + "post_attention_layernorm.weight", post_w, g.post_attention_norm);
    if (L.pre_feedforward_norm) {
      g.pre_feedforward_norm = zeros_like(L.pre_feedforward_norm->weight);
      g.post_feedforward_norm = zeros_like(L.post_feedforward_norm->weight);
      add(p + "pre_feedforward_layernorm.weight", L.pre_feedforward_norm->weight,
          g.pre_feedforward_norm);
      add(p + "post_feedforward_layernorm.weight", L.post_feedforward_norm->weight,
          g.post_feedforward_norm);
    }
  }
  add("model.norm.weight", final_norm_->weight, final_norm_grad_);
  if (!tied) add("lm_head.weight", lm_head_, lm_head_grad_);
  // Kernels bound before this hold the replaced weights: bind again to the trainable ones.
  graphs_.clear();
  if (kernelizer_) kernelize(kernel_options_);
  return params_;
}

// A mixture-of-experts layer's parameters under the names its checkpoint used: one tensor per
// expert (views of the stacked weights) or transformers 5's fused gate_up_proj / down_proj.
void CausalLM::add_moe_parameters(DecoderLayer& L, LayerGrads& g, const std::string& prefix) {
  MoEWeights& w = L.moe->w;
  g.moe.router = zeros_like(w.router);
  g.moe.gate_up = zeros_like(w.gate_up);
  g.moe.down = zeros_like(w.down);
  const std::string block = L.moe->path().substr(prefix.size()) + ".";
  if (w.layout == MoEWeights::Layout::kGptOss) {
    // The router with its bias, and the fused experts in khub's layout (gate_up [E, 2I, H] gate
    // first, down [E, H, I]); saved back as gpt-oss stores them (gate_up_proj [E, H, 2I] with gate
    // and up interleaved, down_proj [E, I, H]). Norms and AdamW do not depend on the layout.
    g.moe.router_bias = zeros_like(w.router_bias);
    g.moe.gate_up_bias = zeros_like(w.gate_up_bias);
    g.moe.down_bias = zeros_like(w.down_bias);
    const std::string x = prefix + block + "experts.";
    params_.push_back({prefix + block + "router.weight", w.router, g.moe.router});
    params_.push_back({prefix + block + "router.bias", w.router_bias, g.moe.router_bias});
    Parameter gu{x + "gate_up_proj", w.gate_up, g.moe.gate_up};
    gu.to_checkpoint = [](const Tensor& t) { return interleave_gate_up(t, 1).transpose(1, 2); };
    gu.from_checkpoint = [](const Tensor& t) { return deinterleave_gate_up(t.transpose(1, 2), 1); };
    gu.checkpoint_shape = {w.gate_up.size(0), w.gate_up.size(2), w.gate_up.size(1)};
    params_.push_back(std::move(gu));
    Parameter gub{x + "gate_up_proj_bias", w.gate_up_bias, g.moe.gate_up_bias};
    gub.to_checkpoint = [](const Tensor& t) { return interleave_gate_up(t, 1); };
    gub.from_checkpoint = [](const Tensor& t) { return deinterleave_gate_up(t, 1); };
    gub.checkpoint_shape = w.gate_up_bias.shape();
    params_.push_back(std::move(gub));
    Parameter dn{x + "down_proj", w.down, g.moe.down};
    dn.to_checkpoint = [](const Tensor& t) { return t.transpose(1, 2); };
    dn.from_checkpoint = [](const Tensor& t) { return t.transpose(1, 2).contiguous(); };
    dn.checkpoint_shape = {w.down.size(0), w.down.size(2), w.down.size(1)};
    params_.push_back(std::move(dn));
    params_.push_back({x + "down_proj_bias", w.down_bias, g.moe.down_bias});
    return;
  }
  params_.push_back({prefix + block + "gate.weight", w.router, g.moe.router});
  if (w.layout == MoEWeights::Layout::kFused) {
    params_.push_back({prefix + "mlp.experts.gate_up_proj", w.gate_up, g.moe.gate_up});
    params_.push_back({prefix + "mlp.experts.down_proj", w.down, g.moe.down});
    return;
  }
  MoeWeightNames n = moe_weight_names(config_);
  const int64_t inter = config_.moe.intermediate_size;
  for (int64_t e = 0; e < L.moe->num_experts(); ++e) {
    std::string x = prefix + block + "experts." + std::to_string(e) + ".";
    Tensor gu = w.gate_up.select(0, e), dgu = g.moe.gate_up.select(0, e);
    params_.push_back({x + n.gate + ".weight", gu.slice(0, 0, inter), dgu.slice(0, 0, inter)});
    params_.push_back(
        {x + n.up + ".weight", gu.slice(0, inter, 2 * inter), dgu.slice(0, inter, 2 * inter)});
    params_.push_back({x + n.down + ".weight", w.down.select(0, e), g.moe.down.select(0, e)});
  }
}

void CausalLM::refresh_compute_weights() {
  for (const MasterWeight& m : masters_)
    m.compute->copy_from(ops::cast(m.master, m.compute->dtype()));
}

void CausalLM::zero_grad() {
  for (Parameter& p : parameters()) ops::zero_inplace(p.grad);
}

// One decoder layer's training forward from S.x_in and S.m_in, filling the rest of S.
void CausalLM::layer_forward_train(size_t i, const TrainTape& tape, LayerSaved& S) const {
  const ModelConfig& c = config_;
  const DecoderLayer& L = layers_[i];
  int64_t t = static_cast<int64_t>(tape.ids.size()), d = c.head_dim;
  int64_t hq = c.num_attention_heads, hk = c.num_key_value_heads;
  bool local = L.attention_type == LayerAttention::kSliding;

  S.s = S.x_in.clone();
  if (L.input_add_norm) {
    S.h1 = L.input_add_norm->forward(S.m_in, S.s);  // s = x_in + m_in
  } else {
    if (S.m_in.defined()) ops::add_inplace(S.s, S.m_in);
    S.h1 = L.input_norm->forward(S.s);
  }
  std::vector<Tensor> qkv =
      ops::linear_split(S.h1, L.qkv_weight, L.qkv_bias, {hq * d, hk * d, hk * d});
  Tensor q = qkv[0].view({t, hq, d}), k = qkv[1].view({t, hk, d}), v = qkv[2].view({t, hk, d});
  if (L.q_norm) {
    S.q_pre = q;
    S.k_pre = k;
    q = L.q_norm->forward(q);
    k = L.k_norm->forward(k);
  }
  L.rotary->forward(q, k, local ? tape.cos_l : tape.cos_g, local ? tape.sin_l : tape.sin_g);
  S.q = q;
  S.k_cache = rows_to_slots(k, tape.batch.host, tape.max_len);
  S.v_cache = rows_to_slots(v, tape.batch.host, tape.max_len);
  ops::AttentionParams params = attention_params(L);
  S.o = L.attention->forward(q, S.k_cache, S.v_cache, tape.batch, params, L.sinks);
  Tensor a = ops::linear(S.o.view({t, hq * d}), L.o_weight, L.o_bias);

  S.x_mid = S.s.clone();
  if (c.sandwich_norm) {
    S.a_pre = a;
    ops::add_inplace(S.x_mid, L.post_attention_norm->forward(a));
    S.h2 = L.pre_feedforward_norm->forward(S.x_mid);
  } else if (L.post_attention_add_norm) {
    S.h2 = L.post_attention_add_norm->forward(a, S.x_mid);  // x_mid = s + a
  } else {
    ops::add_inplace(S.x_mid, a);
    S.h2 = L.post_attention_norm->forward(S.x_mid);
  }
  Tensor m;
  if (L.moe) {
    m = L.moe->forward_train(S.h2, &S.moe);
  } else {
    S.gate_up = ops::linear(S.h2, L.gate_up_weight, L.gate_up_bias);
    S.act = L.act->forward(S.gate_up);
    m = ops::linear(S.act, L.down_weight, L.down_bias);
  }
  if (c.sandwich_norm) {
    S.m_pre = m;
    m = L.post_feedforward_norm->forward(m);
  }
  S.m = m;
}

ops::AttentionParams CausalLM::attention_params(const DecoderLayer& L) const {
  ops::AttentionParams p;
  p.scale = static_cast<float>(config_.attention_scale);
  p.causal = true;
  p.window = L.attention_type == LayerAttention::kSliding ? config_.sliding_window : 0;
  p.softcap = config_.attn_logit_softcapping;
  return p;
}

Loss CausalLM::staged_loss(StagedBatch& staged, bool grad) {
  KHUB_CHECK_ARG(staged.defined(), "CausalLM::staged_loss: nothing staged");
  const ModelConfig& c = config_;
  check_trainable();
  if (grad) parameters();     // trainable weights and gradient buffers
  refresh_compute_weights();  // mixed precision: the optimizer moved the masters
  TrainTape& tp = *staged.tape_;

  Tensor x = ops::index_rows(embed_tokens_, tp.ids_dev, act_dtype_);
  if (c.scale_embeddings) ops::scale_inplace(x, embed_scale_);

  tp.layers.resize(layers_.size());
  Tensor m;
  for (size_t i = 0; i < layers_.size(); ++i) {
    LayerSaved& S = tp.layers[i];
    S.x_in = x;
    S.m_in = m;
    layer_forward_train(i, tp, S);
    x = S.x_mid;
    m = S.m;
    if (!grad) {
      S = LayerSaved{};
    } else if (checkpoint_activations_) {
      Tensor keep_x = S.x_in, keep_m = S.m_in;
      S = LayerSaved{};
      S.x_in = keep_x;
      S.m_in = keep_m;
    }
  }
  tp.x_final = x.clone();
  ops::add_inplace(tp.x_final, m);
  tp.hf = final_norm_->forward(tp.x_final);

  // The loss: the LM head and cross-entropy as one layer, chunk by chunk of rows (the backward
  // recomputes each chunk's logits). Its parts stay where they were computed until item().
  Loss out;
  out.model_ = this;
  out.parts_ = lm_loss_->forward_parts(tp.hf, lm_head_, {tp.targets, tp.targets_dev});
  out.tokens_ = tp.scored;
  if (grad) out.tape_ = staged.tape_;
  return out;
}

void Loss::backward(float scale) {
  KHUB_CHECK_ARG(tape_ != nullptr, "Loss::backward: this loss has no saved activations (computed ",
                 "without grad, or backward() already ran)");
  std::shared_ptr<TrainTape> tape = std::move(tape_);
  model_->backward(*tape, scale);
}

void CausalLM::backward(TrainTape& tp, float scale) {
  const ModelConfig& c = config_;
  int64_t t = static_cast<int64_t>(tp.ids.size()), d = c.head_dim;
  int64_t hq = c.num_attention_heads, hk = c.num_key_value_heads;
  float grad_scale = scale / static_cast<float>(tp.scored);

  // LM head and loss: dlogits = (softmax - onehot) · scale / scored, chunk by chunk.
  Tensor dhf =
      lm_loss_->backward(tp.hf, lm_head_, {tp.targets, tp.targets_dev}, grad_scale, &lm_head_grad_);
  Tensor dres = final_norm_->backward(tp.x_final, dhf, &final_norm_grad_);

  for (size_t li = layers_.size(); li-- > 0;) {
    const DecoderLayer& L = layers_[li];
    LayerGrads& g = grads_[li];
    LayerSaved& S = tp.layers[li];
    if (!S.h1.defined()) layer_forward_train(li, tp, S);  // activation checkpointing: recompute
    bool local = L.attention_type == LayerAttention::kSliding;

    // MLP branch: its output's gradient is dres (x_{i+1} = x_mid + m).
    Tensor dm = dres;
    if (c.sandwich_norm)
      dm = L.post_feedforward_norm->backward(S.m_pre, dm, &g.post_feedforward_norm);
    Tensor dh2;
    if (L.moe) {
      dh2 = L.moe->backward(S.h2, dm, S.moe, g.moe);
    } else {
      Tensor dact = ops::linear_backward(S.act, L.down_weight, dm, &g.down_weight,
                                         g.down_bias.defined() ? &g.down_bias : nullptr);
      Tensor dgu = L.act->backward(S.gate_up, dact);
      dh2 = ops::linear_backward(S.h2, L.gate_up_weight, dgu, &g.gate_up_weight,
                                 g.gate_up_bias.defined() ? &g.gate_up_bias : nullptr);
    }
    // dres becomes dL/dx_mid: the stream's own gradient plus the post-attention norm's path.
    dres = dres.clone();
    if (c.sandwich_norm) {
      ops::add_inplace(dres,
                       L.pre_feedforward_norm->backward(S.x_mid, dh2, &g.pre_feedforward_norm));
    } else if (L.post_attention_add_norm) {
      L.post_attention_add_norm->backward(S.x_mid, dh2, dres, &g.post_attention_norm);
    } else {
      ops::add_inplace(dres, L.post_attention_norm->backward(S.x_mid, dh2, &g.post_attention_norm));
    }

    // Attention branch: its output's gradient is dres (x_mid = s + a).
    Tensor da = dres;
    if (c.sandwich_norm) da = L.post_attention_norm->backward(S.a_pre, da, &g.post_attention_norm);
    Tensor dout = ops::linear_backward(S.o.view({t, hq * d}), L.o_weight, da, &g.o_weight,
                                       g.o_bias.defined() ? &g.o_bias : nullptr)
                      .view({t, hq, d});
    Tensor dq, dk_cache = zeros_like(S.k_cache), dv_cache = zeros_like(S.v_cache);
    L.attention->backward(S.q, S.k_cache, S.v_cache, S.o, dout, tp.batch, attention_params(L), &dq,
                          &dk_cache, &dv_cache, L.sinks, L.sinks.defined() ? &g.sinks : nullptr);
    // The key/value gradients accumulate in f32 caches; the rest of the walk is in the
    // activations' dtype.
    Tensor dk = ops::cast(slots_to_rows(dk_cache, tp.batch.host, t).contiguous(), act_dtype_);
    Tensor dv = ops::cast(slots_to_rows(dv_cache, tp.batch.host, t).contiguous(), act_dtype_);
    L.rotary->backward(dq, dk, local ? tp.cos_l : tp.cos_g, local ? tp.sin_l : tp.sin_g);
    if (L.q_norm) {
      dq = L.q_norm->backward(S.q_pre, dq, &g.q_norm);
      dk = L.k_norm->backward(S.k_pre, dk, &g.k_norm);
    }
    Tensor dqkv = Tensor::empty({t, (hq + 2 * hk) * d}, act_dtype_, device_);
    dqkv.slice(1, 0, hq * d).copy_from(dq.view({t, hq * d}));
    dqkv.slice(1, hq * d, (hq + hk) * d).copy_from(dk.view({t, hk * d}));
    dqkv.slice(1, (hq + hk) * d, (hq + 2 * hk) * d).copy_from(dv.contiguous().view({t, hk * d}));
    Tensor dh1 = ops::linear_backward(S.h1, L.qkv_weight, dqkv, &g.qkv_weight,
                                      g.qkv_bias.defined() ? &g.qkv_bias : nullptr);
    // dres becomes dL/ds = dL/dx_in = dL/dm_in: plus the input norm's path.
    dres = dres.clone();
    if (L.input_add_norm) {
      L.input_add_norm->backward(S.s, dh1, dres, &g.input_norm);
    } else {
      ops::add_inplace(dres, L.input_norm->backward(S.s, dh1, &g.input_norm));
    }
    if (checkpoint_activations_) {
      Tensor keep_x = S.x_in, keep_m = S.m_in;
      S = LayerSaved{};
      S.x_in = keep_x;
      S.m_in = keep_m;
    } else {
      S = LayerSaved{};  // free what this layer saved as the walk goes
    }
  }
  ops::embedding_backward(dres, tp.ids_dev, c.scale_embeddings ? embed_scale_ : 1.0f, embed_grad_);
}

}  // namespace khub
