#include "models/init_weights.h"

#include <atomic>
#include <cmath>
#include <filesystem>
#include <tuple>

#include "io/atomic_file.h"
#include "io/safetensors_sharded_writer.h"
#include "io/safetensors_writer.h"
#include "models/arch.h"

namespace khub {
namespace {

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

uint64_t name_seed(uint64_t seed, const std::string& name) {
  uint64_t h = 1469598103934665603ull ^ seed;  // FNV-1a over the name, mixed with the seed
  for (unsigned char ch : name) h = (h ^ ch) * 1099511628211ull;
  return h;
}

// N(mean, std) values (Box–Muller over splitmix64), converted to dtype.
Tensor random_normal(const Shape& shape, DType dtype, double mean, double std, uint64_t seed) {
  Tensor f = Tensor::empty(shape, DType::kF32);
  float* p = f.data_as<float>();
  int64_t n = f.numel();
  uint64_t state = seed;
  for (int64_t i = 0; i < n; i += 2) {
    double u1 = (static_cast<double>(splitmix64(state) >> 11) + 1.0) / 9007199254740993.0;
    double u2 = static_cast<double>(splitmix64(state) >> 11) / 9007199254740992.0;
    double r = std::sqrt(-2.0 * std::log(u1));
    p[i] = static_cast<float>(mean + std * r * std::cos(2 * M_PI * u2));
    if (i + 1 < n) p[i + 1] = static_cast<float>(mean + std * r * std::sin(2 * M_PI * u2));
  }
  return f.to(dtype);
}

// MXFP4 expert weights of `rows` × `cols` per expert (cols a multiple of 32): random bytes (two
// e2m1 values each) and e8m0 scales around 2^(scale_exp), as gpt-oss checkpoints store them.
Tensor random_bytes(const Shape& shape, uint64_t seed, int lo, int span) {
  Tensor t = Tensor::empty(shape, DType::kU8);
  uint8_t* p = t.data_as<uint8_t>();
  uint64_t state = seed;
  for (int64_t i = 0; i < t.numel(); ++i)
    p[i] = static_cast<uint8_t>(lo + splitmix64(state) % span);
  return t;
}

const ModelPreset& find_preset(const ArchSpec& arch, const std::string& name) {
  std::string known;
  for (const ModelPreset& p : arch.presets) {
    if (p.name == name) return p;
    known += (known.empty() ? "" : ", ") + p.name;
  }
  fail(ErrorKind::kInvalidArgument, "preset '", name, "' is not defined for ", arch.model_type,
       " (presets: ", known, ")");
}

}  // namespace

std::string list_presets() {
  std::string s;
  for (const ArchSpec* a : all_archs()) {
    s += a->model_type + ":";
    for (const ModelPreset& p : a->presets) s += " " + p.name;
    s += "\n";
  }
  return s;
}

nlohmann::json init_model_config(const InitModelOptions& o) {
  const ArchSpec& arch = find_arch(o.arch);
  const ModelPreset& preset = find_preset(arch, o.preset);
  nlohmann::json j = preset.config;
  KHUB_CHECK_ARG(o.overrides.is_object(), "config overrides must be a JSON object, got ",
                 o.overrides.dump());
  for (auto it = o.overrides.begin(); it != o.overrides.end(); ++it) j[it.key()] = it.value();
  j["architectures"] = {arch.architecture};
  j["model_type"] = arch.model_type;
  DType dtype = preset.default_dtype;
  if (!o.dtype.empty() && !dtype_parse(o.dtype, &dtype)) {
    fail(ErrorKind::kInvalidArgument, "dtype '", o.dtype, "' is not one of f32, bf16, f16");
  }
  KHUB_CHECK_ARG(dtype == DType::kF32 || dtype == DType::kBF16 || dtype == DType::kF16, "dtype '",
                 dtype_name(dtype), "' is not one of f32, bf16, f16");
  static const char* torch_names[] = {"float32", "float16", "bfloat16"};
  j["torch_dtype"] = torch_names[dtype == DType::kF32 ? 0 : dtype == DType::kF16 ? 1 : 2];
  // Write layer_types explicitly so every reader (transformers included) agrees on them.
  ModelConfig c = parse_model_config(j, "init-model config");
  nlohmann::json types = nlohmann::json::array();
  for (LayerAttention t : c.layer_types) {
    types.push_back(t == LayerAttention::kSliding ? "sliding_attention" : "full_attention");
  }
  j["layer_types"] = types;
  return j;
}

nlohmann::json byte_level_tokenizer(const ModelConfig& c);  // init_tokenizer.cc

ModelConfig write_random_checkpoint(const InitModelOptions& o, const std::string& out_dir) {
  nlohmann::json j = init_model_config(o);
  ModelConfig c = parse_model_config(j, "init-model config");
  DType dtype = c.dtype;
  std::filesystem::create_directories(out_dir);

  std::vector<TensorToWrite> tensors;
  const bool mxfp4 = j.contains("quantization_config") &&
                     j["quantization_config"].value("quant_method", "") == "mxfp4";
  auto add = [&](const std::string& name, Shape shape, double mean, double std) {
    TensorToWrite t;
    t.name = name;
    t.dtype = dtype;
    t.shape = shape;
    uint64_t s = name_seed(o.seed, name);
    t.produce = [shape, dtype, mean, std, s] { return random_normal(shape, dtype, mean, std, s); };
    tensors.push_back(std::move(t));
  };
  int64_t h = c.hidden_size, d = c.head_dim, inter = c.intermediate_size;
  int64_t qd = c.num_attention_heads * d, kvd = c.num_key_value_heads * d;
  // Weights scaled by 1/sqrt(fan_in) keep activations O(1), so logits are well separated and
  // greedy decoding is stable across implementations.
  auto linear = [&](const std::string& name, int64_t out, int64_t in, bool bias) {
    add(name + ".weight", {out, in}, 0.0, 1.0 / std::sqrt(static_cast<double>(in)));
    if (bias) add(name + ".bias", {out}, 0.0, 0.1);
  };
  double norm_mean = c.gemma_norm ? 0.0 : 1.0;
  auto norm = [&](const std::string& name, int64_t n) {
    add(name + ".weight", {n}, norm_mean, 0.1);
  };
  add("model.embed_tokens.weight", {c.vocab_size, h}, 0.0, 1.0);
  if (!c.tie_word_embeddings) linear("lm_head", c.vocab_size, h, false);
  norm("model.norm", h);
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    std::string p = "model.layers." + std::to_string(i);
    norm(p + ".input_layernorm", h);
    norm(p + ".post_attention_layernorm", h);
    if (c.sandwich_norm) {
      norm(p + ".pre_feedforward_layernorm", h);
      norm(p + ".post_feedforward_layernorm", h);
    }
    linear(p + ".self_attn.q_proj", qd, h, c.qkv_bias);
    linear(p + ".self_attn.k_proj", kvd, h, c.qkv_bias);
    linear(p + ".self_attn.v_proj", kvd, h, c.qkv_bias);
    linear(p + ".self_attn.o_proj", h, qd, c.o_bias);
    if (c.qk_norm) {
      norm(p + ".self_attn.q_norm", d);
      norm(p + ".self_attn.k_norm", d);
    }
    if (c.attention_sinks) add(p + ".self_attn.sinks", {c.num_attention_heads}, 0.0, 1.0);
    if (c.layer_is_moe(i) && c.moe.topk_then_softmax) {  // gpt_oss, fused experts
      std::string b = p + ".mlp.", x = b + "experts.";
      int64_t e = c.moe.num_experts, ei = c.moe.intermediate_size;
      linear(b + "router", e, h, true);
      add(x + "gate_up_proj_bias", {e, 2 * ei}, 0.0, 0.1);
      add(x + "down_proj_bias", {e, h}, 0.0, 0.1);
      if (mxfp4) {  // as published: blocks [E, rows, cols/32, 16], scales [E, rows, cols/32]
        auto quantized = [&](const std::string& name, int64_t rows, int64_t cols) {
          KHUB_CHECK_ARG(cols % 32 == 0, "MXFP4 experts need sizes that are multiples of 32; ",
                         name, " has ", cols, " columns");
          // |e2m1| averages ~2.6: scale so that weights are about 1/sqrt(cols).
          int exp = -static_cast<int>(std::lround(std::log2(2.6 * std::sqrt(double(cols)))));
          for (auto [suffix, shape, lo, span] :
               {std::tuple{"_blocks", Shape{e, rows, cols / 32, 16}, 0, 256},
                std::tuple{"_scales", Shape{e, rows, cols / 32}, 127 + exp - 1, 3}}) {
            TensorToWrite t;
            t.name = name + suffix;
            t.dtype = DType::kU8;
            t.shape = shape;
            uint64_t sd = name_seed(o.seed, t.name);
            t.produce = [shape, sd, lo, span] { return random_bytes(shape, sd, lo, span); };
            tensors.push_back(std::move(t));
          }
        };
        quantized(x + "gate_up_proj", 2 * ei, h);
        quantized(x + "down_proj", h, ei);
      } else {  // as transformers' save_pretrained writes them
        add(x + "gate_up_proj", {e, h, 2 * ei}, 0.0, 1.0 / std::sqrt(static_cast<double>(h)));
        add(x + "down_proj", {e, ei, h}, 0.0, 1.0 / std::sqrt(static_cast<double>(ei)));
      }
    } else if (c.layer_is_moe(i)) {  // the layout the Hub publishes: one tensor per expert
      MoeWeightNames n = moe_weight_names(c);
      std::string b = p + "." + n.block + ".";
      int64_t e_inter = c.moe.intermediate_size;
      linear(b + "gate", c.moe.num_experts, h, false);
      for (int64_t e = 0; e < c.moe.num_experts; ++e) {
        std::string x = b + "experts." + std::to_string(e) + ".";
        linear(x + n.gate, e_inter, h, false);
        linear(x + n.up, e_inter, h, false);
        linear(x + n.down, h, e_inter, false);
      }
    } else {
      linear(p + ".mlp.gate_proj", inter, h, c.mlp_bias);
      linear(p + ".mlp.up_proj", inter, h, c.mlp_bias);
      linear(p + ".mlp.down_proj", h, inter, c.mlp_bias);
    }
  }
  uint64_t total = 0;
  for (const auto& t : tensors) total += t.nbytes();
  if (o.on_progress) {
    auto done = std::make_shared<std::atomic<uint64_t>>(0);
    for (auto& t : tensors) {
      t.produce = [inner = std::move(t.produce), n = t.nbytes(), done, total, cb = o.on_progress] {
        Tensor v = inner();
        cb(*done += n, total);
        return v;
      };
    }
  }
  SafetensorsMetadata meta{{"format", "pt"}};
  if (total <= o.max_shard_bytes) {
    write_safetensors(std::filesystem::path(out_dir) / "model.safetensors", std::move(tensors),
                      meta);
  } else {
    write_safetensors_sharded(out_dir, std::move(tensors), o.max_shard_bytes, meta);
  }
  write_file_atomic(std::filesystem::path(out_dir) / "config.json", j.dump(2) + "\n");
  if (nlohmann::json tok = o.byte_tokenizer ? byte_level_tokenizer(c) : nullptr; !tok.is_null()) {
    write_file_atomic(std::filesystem::path(out_dir) / "tokenizer.json", tok.dump() + "\n");
  }
  return c;
}

}  // namespace khub
