#include "models/causal_lm.h"

#include <cmath>

#include "core/logging.h"
#include "models/arch.h"
#include "models/causal_lm_step.h"
#include "ops/elementwise.h"

namespace khub {
namespace {

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
  Tensor out = Tensor::empty(shape, parts[0].dtype(), parts[0].device());
  int64_t r = 0;
  for (const Tensor& p : parts) {
    out.slice(0, r, r + p.size(0)).copy_from(p);
    r += p.size(0);
  }
  return out;
}

// A mixture-of-experts MLP block, its experts stacked as gate_up [E, 2I, H] (each expert's gate
// rows, then its up rows) and down [E, H, I]. Layouts read:
//  - one tensor per expert, as the Hub publishes qwen3_moe ("mlp.experts.<e>.gate_proj.weight")
//    and mixtral ("block_sparse_moe.experts.<e>.w1.weight");
//  - transformers 5's fused one: "mlp.experts.gate_up_proj" [E, 2I, H], "mlp.experts.down_proj"
//    [E, H, I];
//  - gpt-oss's: router "mlp.router.{weight,bias}", experts "mlp.experts.gate_up_proj" [E, H, 2I]
//    (gate and up interleaved) and "down_proj" [E, I, H] with biases, or as published in MXFP4
//    ("gate_up_proj_blocks" / "_scales" [E, 2I, H/32, (16)], "down_proj_blocks" / "_scales"),
//    dequantized here to f32.
template <typename Load, typename Place>
std::unique_ptr<MoELayer> load_moe(const std::string& layer, const WeightSource& w, Load& load,
                                   Place& place, ops::GatedActivation act, const ModelConfig& c) {
  const int64_t e = c.moe.num_experts, inter = c.moe.intermediate_size, h = c.hidden_size;
  MoEWeights mw;
  MoEOptions opt;
  opt.top_k = c.moe.top_k;
  opt.renormalize = c.moe.renormalize;
  opt.activation.act = act;
  opt.activation.swiglu_limit = c.moe.swiglu_limit;
  std::string path;
  if (c.moe.topk_then_softmax) {  // gpt_oss
    opt.routing = MoERouting::kTopKSoftmax;
    mw.layout = MoEWeights::Layout::kGptOss;
    path = layer + ".mlp";
    std::string x = path + ".experts.";
    mw.router = load(path + ".router.weight", {e, h});
    mw.router_bias = load(path + ".router.bias", {e});
    mw.gate_up_bias = deinterleave_gate_up(load(x + "gate_up_proj_bias", {e, 2 * inter}), 1);
    mw.down_bias = load(x + "down_proj_bias", {e, h});
    if (w.has(x + "gate_up_proj_blocks")) {
      auto mxfp4 = [&](const std::string& name, const Shape& shape) {
        Tensor t = ops::dequantize_mxfp4(w.get(name + "_blocks"), w.get(name + "_scales"),
                                         w.describe() + ": '" + name + "'");
        expect_shape(t, shape, name + "_blocks", w);
        return place(t);
      };
      mw.mxfp4 = true;
      mw.gate_up = deinterleave_gate_up(mxfp4(x + "gate_up_proj", {e, 2 * inter, h}), 1);
      mw.down = mxfp4(x + "down_proj", {e, h, inter});
    } else {
      Tensor gu = load(x + "gate_up_proj", {e, h, 2 * inter});
      mw.gate_up = deinterleave_gate_up(gu.transpose(1, 2), 1);
      mw.down = load(x + "down_proj", {e, inter, h}).transpose(1, 2).contiguous();
    }
    return std::make_unique<MoELayer>(path, std::move(mw), opt);
  }
  MoeWeightNames names = moe_weight_names(c);
  std::string fused = layer + ".mlp.experts.";
  path = layer + "." + (w.has(fused + "gate_up_proj") ? "mlp" : names.block);
  mw.router = load(path + ".gate.weight", {e, h});
  if (w.has(fused + "gate_up_proj")) {
    mw.layout = MoEWeights::Layout::kFused;
    mw.gate_up = load(fused + "gate_up_proj", {e, 2 * inter, h});
    mw.down = load(fused + "down_proj", {e, h, inter});
  } else {
    std::vector<Tensor> gu, dn;
    for (int64_t x = 0; x < e; ++x) {
      std::string p = path + ".experts." + std::to_string(x) + ".";
      gu.push_back(load(p + names.gate + ".weight", {inter, h}));
      gu.push_back(load(p + names.up + ".weight", {inter, h}));
      dn.push_back(load(p + names.down + ".weight", {h, inter}));
    }
    mw.gate_up = stack_rows(gu).view({e, 2 * inter, h});
    mw.down = stack_rows(dn).view({e, h, inter});
  }
  return std::make_unique<MoELayer>(path, std::move(mw), opt);
}

}  // namespace

CausalLM::CausalLM(ModelConfig config, const WeightSource& w, const LoadOptions& options)
    : config_(std::move(config)), device_(Device::parse(options.device)) {
  const ModelConfig& c = config_;
  int64_t h = c.hidden_size, d = c.head_dim;
  int64_t qd = c.num_attention_heads * d, kvd = c.num_key_value_heads * d;
  // Device and dtype placement. On CUDA every weight takes the activation dtype (cuBLAS multiplies
  // one dtype); on the CPU weights keep the checkpoint's dtype unless options.dtype says otherwise.
  DType weight_dtype = c.dtype;
  if (!options.dtype.empty() && (!dtype_parse(options.dtype, &weight_dtype) ||
                                 (weight_dtype != DType::kF32 && weight_dtype != DType::kBF16 &&
                                  weight_dtype != DType::kF16))) {
    fail(ErrorKind::kInvalidArgument, "load dtype '", options.dtype,
         "' is not one of f32, bf16, f16");
  }
  bool cast_weights = !options.dtype.empty() || !device_.is_cpu();
  act_dtype_ = device_.is_cpu() ? DType::kF32 : weight_dtype;
  auto place = [&](Tensor t) {
    if (!device_.is_cpu()) t = t.to(device_);  // copy first: the cast then runs on the device
    return cast_weights && t.dtype() != weight_dtype ? ops::cast(t, weight_dtype) : t;
  };
  auto load = [&](const std::string& name, const Shape& shape) {
    Tensor t = w.get(name);
    expect_shape(t, shape, name, w);
    return place(t);
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
  lm_loss_ = std::make_unique<LinearCrossEntropyLayer>("lm_head", c.final_logit_softcapping);
  if (c.scale_embeddings) {
    // HF multiplies by sqrt(hidden) rounded to the checkpoint dtype.
    Tensor s = Tensor::full({1}, std::sqrt(static_cast<double>(h)), embed_tokens_.dtype());
    embed_scale_ = static_cast<float>(s.item(0));
  }
  ops::GatedActivation act = ops::gated_activation_from_hf(c.hidden_act);
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    std::string p = "model.layers." + std::to_string(i);
    DecoderLayer L;
    L.attention_type = c.layer_types[i];
    bool fuse = !c.sandwich_norm && !c.gemma_norm;
    auto add_norm = [&](const std::string& prefix) {
      return std::make_unique<FusedAddRMSNormLayer>(prefix, load(prefix + ".weight", {h}),
                                                    static_cast<float>(c.rms_norm_eps));
    };
    if (fuse && i > 0) {
      L.input_add_norm = add_norm(p + ".input_layernorm");
    } else {
      L.input_norm = norm(p + ".input_layernorm", h);
    }
    if (fuse) {
      L.post_attention_add_norm = add_norm(p + ".post_attention_layernorm");
    } else {
      L.post_attention_norm = norm(p + ".post_attention_layernorm", h);
    }
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
    if (c.attention_sinks) {
      L.sinks = ops::cast(load(a + "sinks", {c.num_attention_heads}), DType::kF32);  // CUDA too
    }
    if (c.o_bias) L.o_bias = load(a + "o_proj.bias", {h});
    if (c.layer_is_moe(i)) {
      L.moe = load_moe(p, w, load, place, act, c);
    } else {
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
      L.act = std::make_unique<ActAndMulLayer>(p + ".mlp.act_fn", act);
    }
    const ops::RopeParams& rope =
        L.attention_type == LayerAttention::kSliding ? c.rope_local : c.rope;
    L.rotary = std::make_unique<RotaryLayer>(a + "rotary_emb", rope.rotary_dim, false);
    L.rotary_cache = std::make_unique<RotaryKVCacheLayer>(a + "rotary_kv_cache", d, L.q_norm.get(),
                                                          L.k_norm.get(), L.rotary.get());
    L.attention = std::make_unique<AttentionLayer>(
        p + ".self_attn", d, L.attention_type == LayerAttention::kSliding ? c.sliding_window : 0,
        c.attn_logit_softcapping);
    L.attention->sinks = c.attention_sinks;
    has_local_layers_ |= L.attention_type == LayerAttention::kSliding;
    layers_.push_back(std::move(L));
  }
  make_decode_step();
}

void CausalLM::make_decode_step() {
  const ModelConfig& c = config_;
  decode_step_ = std::make_unique<DecodeStepLayer>("model.layers");
  DecodeStackFeatures& f = decode_step_->features;
  f.hidden = c.hidden_size;
  f.heads = c.num_attention_heads;
  f.kv_heads = c.num_key_value_heads;
  f.head_dim = c.head_dim;
  f.intermediate = c.intermediate_size;
  f.vocab = c.vocab_size;
  f.eps = c.rms_norm_eps;
  f.activation = c.hidden_act;
  f.qk_norm = c.qk_norm;
  f.bias = c.qkv_bias || c.o_bias || c.mlp_bias;
  f.softcap = c.attn_logit_softcapping > 0 || c.final_logit_softcapping > 0;
  f.sinks = c.attention_sinks;
  f.sandwich_norm = c.sandwich_norm;
  f.gemma_norm = c.gemma_norm;
  f.scale_embeddings = c.scale_embeddings;
  for (DecoderLayer& L : layers_) {
    f.sliding_window |= L.attention_type == LayerAttention::kSliding;
    f.moe |= L.moe != nullptr;
    f.interleaved_rotary |= L.rotary->interleaved;
    f.rotary_dim = L.rotary->rotary_dim;
    f.scale = attention_params(L).scale;
  }
  if (f.moe || f.sandwich_norm) return;  // no dense, fused-norm stack to describe
  for (DecoderLayer& L : layers_) {
    DecodeStackLayer s{&L.qkv_weight,  &L.o_weight, &L.gate_up_weight,
                       &L.down_weight, nullptr,     nullptr};
    s.input_norm = L.input_add_norm ? &L.input_add_norm->weight : &L.input_norm->weight;
    s.post_norm = L.post_attention_add_norm ? &L.post_attention_add_norm->weight
                                            : &L.post_attention_norm->weight;
    if (L.q_norm) {
      s.q_norm = &L.q_norm->weight;
      s.k_norm = &L.k_norm->weight;
    }
    decode_step_->layers.push_back(s);
  }
  decode_step_->final_norm = &final_norm_->weight;
  decode_step_->lm_head = &lm_head_;
}

KVCache CausalLM::make_cache(int64_t slots, int64_t capacity) const {
  return KVCache(config_.num_hidden_layers, slots, capacity, config_.num_key_value_heads,
                 config_.head_dim, device_, act_dtype_);
}

std::vector<KernelizableLayer*> CausalLM::kernelizable_layers() {
  std::vector<KernelizableLayer*> out;
  auto add = [&](KernelizableLayer* l) {
    if (l) out.push_back(l);
  };
  for (DecoderLayer& L : layers_) {
    add(L.input_norm.get());
    add(L.input_add_norm.get());
    add(L.q_norm.get());
    add(L.k_norm.get());
    add(L.rotary.get());
    add(L.rotary_cache.get());
    add(L.attention.get());
    add(L.post_attention_norm.get());
    add(L.post_attention_add_norm.get());
    add(L.pre_feedforward_norm.get());
    add(L.act.get());
    add(L.moe.get());
    add(L.post_feedforward_norm.get());
  }
  add(final_norm_.get());
  // The whole-stack decode step: CUDA inference only (its kernel has no backward and no CPU
  // variant); the per-layer keys above stay bound for prefill and larger batches.
  if (!training_ && device_.is_cuda()) add(decode_step_.get());
  // The loss layer exists for training: generation never calls it, so an inference kernelize
  // neither loads its kernel nor reports it (an evaluation loss in eval mode runs the reference).
  if (training_) add(lm_loss_.get());
  return out;
}

}  // namespace khub

namespace khub {

std::unique_ptr<CausalLM> CausalLM::from_pretrained(const std::string& model_dir,
                                                    const LoadOptions& options) {
  ModelConfig config = load_model_config(model_dir);
  std::unique_ptr<WeightSource> weights = open_model_weights(model_dir);
  auto model = std::make_unique<CausalLM>(std::move(config), *weights, options);
  if (options.use_kernels || options.kernel_config || !options.attn_implementation.empty()) {
    if (options.kernel_config && !options.use_kernels) {
      log_warn("kernel_config given without use_kernels: enabling kernels");
    }
    KernelizeOptions k;
    k.device = model->device();
    k.mode = options.mode;
    k.strict = options.strict;
    k.use_fallback = options.use_fallback;
    k.use_default_mapping = options.use_kernels || options.kernel_config.has_value();
    k.kernel_config = options.kernel_config;
    k.attn_implementation = options.attn_implementation;
    k.kernel_locks = options.kernel_locks;
    k.activation_dtype = model->activation_dtype();  // f32 on the CPU, the load dtype on CUDA
    model->kernelize(k);
  }
  return model;
}

const KernelReport& CausalLM::kernelize(const KernelizeOptions& options) {
  if (!kernelizer_ || options.kernel_locks != kernel_options_.kernel_locks) {
    kernelizer_ = std::make_unique<Kernelizer>(default_kernel_loader(options.kernel_locks));
  }
  kernel_options_ = options;
  kernel_options_.training = training_;
  report_ = kernelizer_->kernelize(kernelizable_layers(), kernel_options_);
  graphs_.clear();  // captured steps call the previous kernels
  return report_;
}

void CausalLM::train(bool training) {
  if (training == training_) return;
  training_ = training;
  if (kernelizer_ && !kernel_options_.mode) kernelize(kernel_options_);
}

}  // namespace khub
