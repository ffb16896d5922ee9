#include "models/config.h"

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "models/arch.h"

namespace khub {

using nlohmann::json;

namespace config_fields {
namespace {
[[noreturn]] void wrong_type(const char* key, const json& v, const char* expected) {
  fail(ErrorKind::kFormat, "config field '", key, "' is ", v.type_name(), " (", v.dump(),
       "); expected ", expected);
}
}  // namespace

bool is_set(const json& j, const char* key) { return j.contains(key) && !j[key].is_null(); }

int64_t get_int(const json& j, const char* key, int64_t fallback) {
  if (!is_set(j, key)) return fallback;
  const json& v = j[key];
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_number_float() && std::floor(v.get<double>()) == v.get<double>()) {
    return static_cast<int64_t>(v.get<double>());
  }
  wrong_type(key, v, "an integer");
}

double get_double(const json& j, const char* key, double fallback) {
  if (!is_set(j, key)) return fallback;
  const json& v = j[key];
  if (!v.is_number()) wrong_type(key, v, "a number");
  return v.get<double>();
}

bool get_bool(const json& j, const char* key, bool fallback) {
  if (!is_set(j, key)) return fallback;
  const json& v = j[key];
  if (!v.is_boolean()) wrong_type(key, v, "true or false");
  return v.get<bool>();
}

std::string get_string(const json& j, const char* key, const std::string& fallback) {
  if (!is_set(j, key)) return fallback;
  const json& v = j[key];
  if (!v.is_string()) wrong_type(key, v, "a string");
  return v.get<std::string>();
}
}  // namespace config_fields

namespace {

using namespace config_fields;

// Reads one rope description: v5 `rope_parameters` entries and v4 `rope_scaling` share the keys.
void parse_rope_object(const json& r, ops::RopeParams& p) {
  if (!r.is_object()) {
    fail(ErrorKind::kFormat, "config field 'rope_scaling'/'rope_parameters' is ", r.type_name(),
         "; expected an object");
  }
  std::string type = get_string(r, "rope_type", get_string(r, "type", "default"));
  if (type != "default" && type != "linear" && type != "dynamic" && type != "llama3" &&
      type != "yarn") {
    fail(ErrorKind::kUnsupported, "rope type '", type,
         "' (supported: default, linear, dynamic, llama3, yarn)");
  }
  p.type = type;
  p.theta = get_double(r, "rope_theta", p.theta);
  p.factor = get_double(r, "factor", 1.0);
  p.original_max_position_embeddings = get_int(r, "original_max_position_embeddings", 0);
  p.low_freq_factor = get_double(r, "low_freq_factor", 1.0);
  p.high_freq_factor = get_double(r, "high_freq_factor", 4.0);
  p.beta_fast = get_double(r, "beta_fast", 32.0);
  p.beta_slow = get_double(r, "beta_slow", 1.0);
  p.attention_factor = get_double(r, "attention_factor", 0.0);
  p.mscale = get_double(r, "mscale", 0.0);
  p.mscale_all_dim = get_double(r, "mscale_all_dim", 0.0);
  p.truncate = get_bool(r, "truncate", true);
  if (type == "llama3" && p.original_max_position_embeddings <= 0) {
    fail(ErrorKind::kFormat, "llama3 rope scaling needs 'original_max_position_embeddings'");
  }
}

void parse_common(const json& j, ModelConfig& c) {
  c.vocab_size = get_int(j, "vocab_size", 32000);
  c.hidden_size = get_int(j, "hidden_size", 4096);
  c.intermediate_size = get_int(j, "intermediate_size", 11008);
  c.num_hidden_layers = get_int(j, "num_hidden_layers", 32);
  c.num_attention_heads = get_int(j, "num_attention_heads", 32);
  c.num_key_value_heads = get_int(j, "num_key_value_heads", c.num_attention_heads);
  c.max_position_embeddings = get_int(j, "max_position_embeddings", 2048);
  c.rms_norm_eps = get_double(j, "rms_norm_eps", 1e-6);
  c.hidden_act = get_string(j, "hidden_act", get_string(j, "hidden_activation", "silu"));
  c.tie_word_embeddings = get_bool(j, "tie_word_embeddings", false);
  std::string dtype = get_string(j, "torch_dtype", get_string(j, "dtype", "float32"));
  if (!dtype_parse(dtype, &c.dtype)) {
    fail(ErrorKind::kFormat, "config field 'torch_dtype' is '", dtype,
         "'; expected float32, bfloat16 or float16");
  }
  c.rope.theta = get_double(j, "rope_theta", 10000.0);
  c.sliding_window = get_int(j, "sliding_window", 0);
  c.attn_logit_softcapping = static_cast<float>(get_double(j, "attn_logit_softcapping", 0.0));
  c.final_logit_softcapping = static_cast<float>(get_double(j, "final_logit_softcapping", 0.0));
  c.bos_token_id = static_cast<int32_t>(get_int(j, "bos_token_id", -1));
  c.pad_token_id = static_cast<int32_t>(get_int(j, "pad_token_id", -1));
  if (is_set(j, "eos_token_id")) {
    const json& e = j["eos_token_id"];
    if (e.is_number_integer()) {
      c.eos_token_ids.push_back(e.get<int32_t>());
    } else if (e.is_array()) {
      for (const json& x : e) {
        if (!x.is_number_integer()) {
          fail(ErrorKind::kFormat, "config field 'eos_token_id' holds ", x.dump(),
               "; expected integers");
        }
        c.eos_token_ids.push_back(x.get<int32_t>());
      }
    } else {
      fail(ErrorKind::kFormat, "config field 'eos_token_id' is ", e.type_name(),
           "; expected an integer or a list of integers");
    }
  }
}

void parse_rope(const json& j, ModelConfig& c) {
  double prf = get_double(j, "partial_rotary_factor", 1.0);
  if (is_set(j, "rope_parameters")) {
    const json& rp = j["rope_parameters"];
    if (rp.is_object() && rp.contains("full_attention")) {  // per layer type (v5 gemma3)
      parse_rope_object(rp["full_attention"], c.rope);
      c.rope_local = c.rope;
      if (rp.contains("sliding_attention"))
        parse_rope_object(rp["sliding_attention"], c.rope_local);
    } else {
      parse_rope_object(rp, c.rope);
      c.rope_local = c.rope;
    }
    prf = get_double(rp, "partial_rotary_factor", prf);
  } else {
    if (is_set(j, "rope_scaling")) parse_rope_object(j["rope_scaling"], c.rope);
    c.rope_local = c.rope;
    if (c.rope_local_base_freq > 0) {  // gemma3: sliding layers use plain rope
      c.rope_local = ops::RopeParams();
      c.rope_local.theta = c.rope_local_base_freq;
    }
  }
  for (ops::RopeParams* p : {&c.rope, &c.rope_local}) {
    p->rotary_dim = static_cast<int64_t>(c.head_dim * prf);
    p->max_position_embeddings = c.max_position_embeddings;
  }
}

void validate(const ModelConfig& c, const std::string& source) {
  auto positive = [&](int64_t v, const char* name) {
    if (v <= 0) fail(ErrorKind::kFormat, source, ": '", name, "' is ", v, "; expected > 0");
  };
  positive(c.vocab_size, "vocab_size");
  positive(c.hidden_size, "hidden_size");
  positive(c.intermediate_size, "intermediate_size");
  positive(c.num_hidden_layers, "num_hidden_layers");
  positive(c.num_attention_heads, "num_attention_heads");
  positive(c.num_key_value_heads, "num_key_value_heads");
  positive(c.head_dim, "head_dim");
  if (c.num_attention_heads % c.num_key_value_heads != 0) {
    fail(ErrorKind::kFormat, source, ": num_attention_heads ", c.num_attention_heads,
         " is not a multiple of num_key_value_heads ", c.num_key_value_heads);
  }
  if (static_cast<int64_t>(c.layer_types.size()) != c.num_hidden_layers) {
    fail(ErrorKind::kFormat, source, ": 'layer_types' has ", c.layer_types.size(), " entries for ",
         c.num_hidden_layers, " layers");
  }
  if (c.moe.num_experts > 0) {
    positive(c.moe.top_k, "num_experts_per_tok");
    positive(c.moe.intermediate_size, "moe_intermediate_size");
    if (c.moe.top_k > c.moe.num_experts) {
      fail(ErrorKind::kFormat, source, ": num_experts_per_tok ", c.moe.top_k, " exceeds the ",
           c.moe.num_experts, " experts");
    }
    if (static_cast<int64_t>(c.moe.sparse_layers.size()) != c.num_hidden_layers) {
      fail(ErrorKind::kFormat, source, ": MoE layer list has ", c.moe.sparse_layers.size(),
           " entries for ", c.num_hidden_layers, " layers");
    }
  }
  if (c.rope.rotary_dim <= 0 || c.rope.rotary_dim % 2 || c.rope.rotary_dim > c.head_dim) {
    fail(ErrorKind::kFormat, source, ": rotary dimension ", c.rope.rotary_dim,
         " (head_dim × partial_rotary_factor) must be even and in (0, head_dim]");
  }
}

}  // namespace

ModelConfig parse_model_config(const json& j, const std::string& source) {
  if (!j.is_object()) fail(ErrorKind::kFormat, source, ": expected a JSON object");
  std::string name;
  if (is_set(j, "architectures")) {
    const json& a = j["architectures"];
    if (!a.is_array() || a.empty() || !a[0].is_string()) {
      fail(ErrorKind::kFormat, source, ": 'architectures' must be a non-empty list of strings");
    }
    name = a[0].get<std::string>();
  } else {
    name = get_string(j, "model_type", "");
    if (name.empty()) {
      fail(ErrorKind::kFormat, source, ": neither 'architectures' nor 'model_type' is set; ",
           "supported: ", supported_archs_list());
    }
  }
  const ArchSpec& arch = find_arch(name);
  ModelConfig c;
  c.architecture = arch.architecture;
  c.model_type = arch.model_type;
  try {
    parse_common(j, c);
    arch.apply(j, c);
    c.head_dim =
        get_int(j, "head_dim", c.head_dim > 0 ? c.head_dim : c.hidden_size / c.num_attention_heads);
    parse_rope(j, c);
    if (c.attention_scale == 0.0) c.attention_scale = 1.0 / std::sqrt(double(c.head_dim));
    // Explicit layer_types win over what the architecture derived.
    if (is_set(j, "layer_types")) {
      c.layer_types.clear();
      for (const json& t : j["layer_types"]) {
        std::string s = t.is_string() ? t.get<std::string>() : "";
        if (s == "full_attention") {
          c.layer_types.push_back(LayerAttention::kFull);
        } else if (s == "sliding_attention") {
          c.layer_types.push_back(LayerAttention::kSliding);
        } else {
          fail(ErrorKind::kFormat, "'layer_types' entry ", t.dump(),
               " is not \"full_attention\" or \"sliding_attention\"");
        }
      }
    }
    if (c.layer_types.empty()) {
      c.layer_types.assign(c.num_hidden_layers,
                           c.sliding_window > 0 ? LayerAttention::kSliding : LayerAttention::kFull);
    }
  } catch (const Error& e) {
    if (std::string(e.what()).rfind(source, 0) == 0) throw;
    throw Error(e.kind(), source + ": " + e.what());
  }
  validate(c, source);
  return c;
}

ModelConfig load_model_config(const std::string& model_dir) {
  std::string path = model_dir + "/config.json";
  std::ifstream in(path);
  if (!in) fail(ErrorKind::kNotFound, "cannot open ", path);
  json j = json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) fail(ErrorKind::kFormat, path, ": not valid JSON");
  return parse_model_config(j, path);
}

int64_t ModelConfig::num_parameters() const {
  int64_t h = hidden_size, q = num_attention_heads * head_dim, kv = num_key_value_heads * head_dim;
  int64_t per_layer = h * q + 2 * h * kv + q * h + 2 * h;
  if (qk_norm) per_layer += 2 * head_dim;
  if (sandwich_norm) per_layer += 2 * h;
  int64_t total = vocab_size * h + num_hidden_layers * per_layer + h;
  for (int64_t i = 0; i < num_hidden_layers; ++i) {
    total += layer_is_moe(i) ? moe.num_experts * (3 * h * moe.intermediate_size + h)
                             : 3 * h * intermediate_size;
  }
  if (!tie_word_embeddings) total += vocab_size * h;
  return total;
}

}  // namespace khub
