#include "models/causal_lm.h"

#include <cmath>

#include "core/logging.h"
#include "ops/elementwise.h"
#include "ops/linear.h"
#include "ops/rotary.h"

namespace khub {
namespace {

Tensor weight_or_empty(const WeightSource& w, const std::string& name) {
  return w.has(name) ? w.get(name) : Tensor();
}

void expect_shape(const Tensor& t, const Shape& shape, const std::string& name,
                  const WeightSource& w) {
  if (t.shape() != shape) {
    fail(ErrorKind::kFormat, w.describe(), ": tensor '", name, "' has shape ", shape_str(t.shape()),
         "; the config expects ", shape_str(shape));
  }
}

// Stacks 2-d tensors of one dtype along rows (or 1-d along their only dim).
Tensor stack_rows(const std::vector<Tensor>& parts) {
  int64_t rows = 0;
  for (const Tensor& p : parts) rows += p.size(0);
  Shape shape = parts[0].shape();
  shape[0] = rows;
  Tensor out = Tensor::empty(shape, parts[0].dtype());
  int64_t r = 0;
  for (const Tensor& p : parts) {
    out.slice(0, r, r + p.size(0)).copy_from(p);
    r += p.size(0);
  }
  return out;
}

}  // namespace

CausalLM::CausalLM(ModelConfig config, const WeightSource& w) : config_(std::move(config)) {
  const ModelConfig& c = config_;
  int64_t h = c.hidden_size, d = c.head_dim;
  int64_t qd = c.num_attention_heads * d, kvd = c.num_key_value_heads * d;
  auto load = [&](const std::string& name, const Shape& shape) {
    Tensor t = w.get(name);
    expect_shape(t, shape, name, w);
    return t;
  };
  auto norm = [&](const std::string& prefix, int64_t n) {
    return std::make_unique<RMSNormLayer>(prefix, load(prefix + ".weight", {n}),
                                          static_cast<float>(c.rms_norm_eps), c.gemma_norm);
  };
  embed_tokens_ = load("model.embed_tokens.weight", {c.vocab_size, h});
  if (c.tie_word_embeddings || !w.has("lm_head.weight")) {
    if (!c.tie_word_embeddings) {
      fail(ErrorKind::kFormat, w.describe(), ": 'lm_head.weight' is missing and the config does ",
           "not tie word embeddings");
    }
    lm_head_ = embed_tokens_;
  } else {
    lm_head_ = load("lm_head.weight", {c.vocab_size, h});
  }
  final_norm_ = norm("model.norm", h);
  if (c.scale_embeddings) {
    // HF multiplies by sqrt(hidden) rounded to the checkpoint dtype.
    Tensor s = Tensor::full({1}, std::sqrt(static_cast<double>(h)), c.dtype);
    embed_scale_ = static_cast<float>(s.item(0));
  }
  ops::GatedActivation act = ops::gated_activation_from_hf(c.hidden_act);
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    std::string p = "model.layers." + std::to_string(i);
    DecoderLayer L;
    L.attention_type = c.layer_types[i];
    L.input_norm = norm(p + ".input_layernorm", h);
    L.post_attention_norm = norm(p + ".post_attention_layernorm", h);
    if (c.sandwich_norm) {
      L.pre_feedforward_norm = norm(p + ".pre_feedforward_layernorm", h);
      L.post_feedforward_norm = norm(p + ".post_feedforward_layernorm", h);
    }
    if (c.qk_norm) {
      L.q_norm = norm(p + ".self_attn.q_norm", d);
      L.k_norm = norm(p + ".self_attn.k_norm", d);
    }
    std::string a = p + ".self_attn.";
    L.qkv_weight =
        stack_rows({load(a + "q_proj.weight", {qd, h}), load(a + "k_proj.weight", {kvd, h}),
                    load(a + "v_proj.weight", {kvd, h})});
    if (c.qkv_bias) {
      L.qkv_bias = stack_rows({load(a + "q_proj.bias", {qd}), load(a + "k_proj.bias", {kvd}),
                               load(a + "v_proj.bias", {kvd})});
    }
    L.o_weight = load(a + "o_proj.weight", {h, qd});
    if (c.o_bias) L.o_bias = load(a + "o_proj.bias", {h});
    std::string m = p + ".mlp.";
    int64_t inter = c.intermediate_size;
    L.gate_up_weight = stack_rows(
        {load(m + "gate_proj.weight", {inter, h}), load(m + "up_proj.weight", {inter, h})});
    L.down_weight = load(m + "down_proj.weight", {h, inter});
    if (c.mlp_bias) {
      L.gate_up_bias =
          stack_rows({load(m + "gate_proj.bias", {inter}), load(m + "up_proj.bias", {inter})});
      L.down_bias = load(m + "down_proj.bias", {h});
    }
    const ops::RopeParams& rope =
        L.attention_type == LayerAttention::kSliding ? c.rope_local : c.rope;
    L.rotary = std::make_unique<RotaryLayer>(a + "rotary_emb", rope.rotary_dim, false);
    L.attention = std::make_unique<AttentionLayer>(
        p + ".self_attn", d, L.attention_type == LayerAttention::kSliding ? c.sliding_window : 0,
        c.attn_logit_softcapping);
    L.act = std::make_unique<ActAndMulLayer>(p + ".mlp.act_fn", act);
    layers_.push_back(std::move(L));
  }
}

KVCache CausalLM::make_cache(int64_t slots, int64_t capacity) const {
  return KVCache(config_.num_hidden_layers, slots, capacity, config_.num_key_value_heads,
                 config_.head_dim);
}

std::vector<KernelizableLayer*> CausalLM::kernelizable_layers() {
  std::vector<KernelizableLayer*> out;
  auto add = [&](KernelizableLayer* l) {
    if (l) out.push_back(l);
  };
  for (DecoderLayer& L : layers_) {
    add(L.input_norm.get());
    add(L.q_norm.get());
    add(L.k_norm.get());
    add(L.rotary.get());
    add(L.attention.get());
    add(L.post_attention_norm.get());
    add(L.pre_feedforward_norm.get());
    add(L.act.get());
    add(L.post_feedforward_norm.get());
  }
  add(final_norm_.get());
  return out;
}

Tensor CausalLM::attention_block(DecoderLayer& L, int64_t index, const Tensor& h,
                                 const std::vector<SequenceChunk>& chunks,
                                 const std::vector<int64_t>& starts, const Tensor& cos,
                                 const Tensor& sin, KVCache& cache) {
  const ModelConfig& c = config_;
  int64_t t = h.size(0), d = c.head_dim, hq = c.num_attention_heads, hk = c.num_key_value_heads;
  Tensor qkv = ops::linear(h, L.qkv_weight, L.qkv_bias);
  Tensor q = qkv.slice(1, 0, hq * d).contiguous().view({t, hq, d});
  Tensor k = qkv.slice(1, hq * d, (hq + hk) * d).contiguous().view({t, hk, d});
  Tensor v = qkv.slice(1, (hq + hk) * d, (hq + 2 * hk) * d).contiguous().view({t, hk, d});
  if (L.q_norm) {
    q = L.q_norm->forward(q);
    k = L.k_norm->forward(k);
  }
  L.rotary->forward(q, k, cos, sin);

  ops::AttentionParams params;
  params.scale = static_cast<float>(c.attention_scale);
  params.causal = true;
  params.window = L.attention_type == LayerAttention::kSliding ? c.sliding_window : 0;
  params.softcap = c.attn_logit_softcapping;
  Tensor out = Tensor::empty({t, hq, d}, DType::kF32);
  int64_t row = 0;
  for (size_t s = 0; s < chunks.size(); ++s) {
    int64_t n = static_cast<int64_t>(chunks[s].tokens.size());
    int64_t slot = chunks[s].slot, start = starts[s];
    cache.write(index, slot, start, k.slice(0, row, row + n), v.slice(0, row, row + n));
    params.q_offset = start;
    Tensor keys = cache.keys(index, slot).slice(0, 0, start + n);
    Tensor values = cache.values(index, slot).slice(0, 0, start + n);
    Tensor o = L.attention->forward(q.slice(0, row, row + n), keys, values, params);
    out.slice(0, row, row + n).copy_from(o);
    row += n;
  }
  return ops::linear(out.view({t, hq * d}), L.o_weight, L.o_bias);
}

Tensor CausalLM::forward(const std::vector<SequenceChunk>& chunks, KVCache& cache,
                         bool all_logits) {
  const ModelConfig& c = config_;
  std::vector<int32_t> ids;
  std::vector<int64_t> positions, starts;
  int64_t max_len = 0;
  for (const SequenceChunk& ch : chunks) {
    KHUB_CHECK_ARG(ch.slot >= 0 && ch.slot < cache.slots(), "sequence slot ", ch.slot,
                   " outside the cache's ", cache.slots(), " slots");
    KHUB_CHECK_ARG(!ch.tokens.empty(), "an empty sequence chunk for slot ", ch.slot);
    int64_t start = cache.length(ch.slot);
    starts.push_back(start);
    for (size_t i = 0; i < ch.tokens.size(); ++i) {
      ids.push_back(ch.tokens[i]);
      positions.push_back(start + static_cast<int64_t>(i));
    }
    max_len = std::max<int64_t>(max_len, start + static_cast<int64_t>(ch.tokens.size()));
  }
  Tensor x = ops::embedding(embed_tokens_, ids);
  if (c.scale_embeddings) ops::scale_inplace(x, embed_scale_);
  Tensor cos_g, sin_g, cos_l, sin_l;
  ops::rope_tables(c.rope, positions, max_len, &cos_g, &sin_g);
  ops::rope_tables(c.rope_local, positions, max_len, &cos_l, &sin_l);

  for (size_t i = 0; i < layers_.size(); ++i) {
    DecoderLayer& L = layers_[i];
    bool local = L.attention_type == LayerAttention::kSliding;
    Tensor h = L.input_norm->forward(x);
    Tensor a = attention_block(L, static_cast<int64_t>(i), h, chunks, starts, local ? cos_l : cos_g,
                               local ? sin_l : sin_g, cache);
    if (c.sandwich_norm) {
      a = L.post_attention_norm->forward(a);
      ops::add_inplace(x, a);
      h = L.pre_feedforward_norm->forward(x);
    } else {
      ops::add_inplace(x, a);
      h = L.post_attention_norm->forward(x);
    }
    Tensor m = ops::linear(L.act->forward(ops::linear(h, L.gate_up_weight, L.gate_up_bias)),
                           L.down_weight, L.down_bias);
    if (c.sandwich_norm) m = L.post_feedforward_norm->forward(m);
    ops::add_inplace(x, m);
  }
  for (size_t s = 0; s < chunks.size(); ++s) {
    cache.set_length(chunks[s].slot, starts[s] + static_cast<int64_t>(chunks[s].tokens.size()));
  }
  if (!all_logits) {
    Tensor last = Tensor::empty({static_cast<int64_t>(chunks.size()), c.hidden_size}, DType::kF32);
    int64_t row = -1;
    for (size_t s = 0; s < chunks.size(); ++s) {
      row += static_cast<int64_t>(chunks[s].tokens.size());
      last.select(0, static_cast<int64_t>(s)).copy_from(x.select(0, row));
    }
    x = last;
  }
  Tensor logits = ops::linear(final_norm_->forward(x), lm_head_);
  if (c.final_logit_softcapping > 0.0f) ops::softcap_inplace(logits, c.final_logit_softcapping);
  return logits;
}

}  // namespace khub

namespace khub {

std::unique_ptr<CausalLM> CausalLM::from_pretrained(const std::string& model_dir,
                                                    const LoadOptions& options) {
  Device device = Device::parse(options.device);
  KHUB_CHECK_ARG(device.is_cpu(), "device ", device.str(),
                 ": this build runs the reference path on the CPU only");
  ModelConfig config = load_model_config(model_dir);
  std::unique_ptr<WeightSource> weights = open_model_weights(model_dir);
  auto model = std::make_unique<CausalLM>(std::move(config), *weights);
  if (options.use_kernels || options.kernel_config || !options.attn_implementation.empty()) {
    if (options.kernel_config && !options.use_kernels) {
      log_warn("kernel_config given without use_kernels: enabling kernels");
    }
    KernelizeOptions k;
    k.device = device;
    k.mode = options.mode;
    k.strict = options.strict;
    k.use_fallback = options.use_fallback;
    k.use_default_mapping = options.use_kernels || options.kernel_config.has_value();
    k.kernel_config = options.kernel_config;
    k.attn_implementation = options.attn_implementation;
    k.activation_dtype = DType::kF32;  // the CPU reference path keeps activations in f32
    model->kernelize(k);
  }
  return model;
}

const KernelReport& CausalLM::kernelize(const KernelizeOptions& options) {
  if (!kernelizer_) kernelizer_ = std::make_unique<Kernelizer>();
  kernel_options_ = options;
  kernel_options_.training = training_;
  report_ = kernelizer_->kernelize(kernelizable_layers(), kernel_options_);
  return report_;
}

void CausalLM::train(bool training) {
  if (training == training_) return;
  training_ = training;
  if (kernelizer_ && !kernel_options_.mode) kernelize(kernel_options_);
}

}  // namespace khub
