// Rotary position embeddings: the cos/sin tables for every rope_scaling type HF configs use, and
// the rotation itself (reference path of layer key "rotary_pos_emb").
#pragma once

#include <string>
#include <vector>

#include "core/tensor.h"

namespace khub::ops {

struct RopeParams {
  std::string type = "default";  // default, linear, dynamic, llama3, yarn
  double theta = 10000.0;
  int64_t rotary_dim = 0;  // head_dim × partial_rotary_factor
  double factor = 1.0;
  int64_t max_position_embeddings = 2048;
  int64_t original_max_position_embeddings = 0;          // llama3 / yarn / dynamic
  double low_freq_factor = 1.0, high_freq_factor = 4.0;  // llama3
  double beta_fast = 32.0, beta_slow = 1.0;              // yarn
  double attention_factor = 0.0;  // yarn; 0 = derived from factor (and mscale / mscale_all_dim)
  double mscale = 0.0, mscale_all_dim = 0.0;
  bool truncate = true;  // yarn
};

// Inverse frequencies [rotary_dim / 2] for seq_len positions (dynamic NTK depends on it), and the
// attention scaling factor applied to cos and sin (yarn; 1 otherwise). Computed in float64.
std::vector<double> rope_inv_freq(const RopeParams& p, int64_t seq_len, double* attention_scaling);

// cos and sin tables f32 [positions.size(), rotary_dim / 2] for the given absolute positions.
void rope_tables(const RopeParams& p, const std::vector<int64_t>& positions, int64_t seq_len,
                 Tensor* cos, Tensor* sin);

// Rotates q [T, Hq, Dh] and k [T, Hk, Dh] (f32, in place) by the tables. interleaved = false is the
// NeoX/HF halves layout, true the GPT-J pairs layout.
void apply_rotary(Tensor& q, Tensor& k, const Tensor& cos, const Tensor& sin, int64_t rotary_dim,
                  bool interleaved);

}  // namespace khub::ops
