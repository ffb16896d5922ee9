// Rotary tables follow transformers' rope utilities: frequencies are formed in float32 exactly
// where transformers uses float32 (inv_freq, positions × inv_freq, cos/sin), so the reference path
// matches PyTorch to float rounding rather than to float64.
#include "ops/rotary.h"

#include <cmath>

namespace khub::ops {
namespace {

std::vector<double> default_inv_freq(double base, int64_t dim) {
  std::vector<double> inv(dim / 2);
  for (int64_t i = 0; i < dim / 2; ++i) {
    float e = static_cast<float>(2 * i) / static_cast<float>(dim);
    float p = static_cast<float>(std::pow(base, static_cast<double>(e)));
    inv[i] = 1.0f / p;
  }
  return inv;
}

double yarn_get_mscale(double scale, double mscale) {
  return scale <= 1.0 ? 1.0 : 0.1 * mscale * std::log(scale) + 1.0;
}

double yarn_correction_dim(double rotations, int64_t dim, double base, double max_pos) {
  return (dim * std::log(max_pos / (rotations * 2 * M_PI))) / (2 * std::log(base));
}

}  // namespace

std::vector<double> rope_inv_freq(const RopeParams& p, int64_t seq_len, double* scaling) {
  int64_t dim = p.rotary_dim;
  KHUB_CHECK_ARG(dim > 0 && dim % 2 == 0, "rotary dimension ", dim, " must be positive and even");
  *scaling = 1.0;
  if (p.type == "default") return default_inv_freq(p.theta, dim);
  if (p.type == "linear") {
    auto inv = default_inv_freq(p.theta, dim);
    for (double& f : inv) f = static_cast<float>(f / p.factor);
    return inv;
  }
  if (p.type == "dynamic") {
    int64_t max_pos = p.original_max_position_embeddings > 0 ? p.original_max_position_embeddings
                                                             : p.max_position_embeddings;
    if (seq_len <= max_pos) return default_inv_freq(p.theta, dim);
    double base = p.theta * std::pow((p.factor * seq_len / max_pos) - (p.factor - 1),
                                     static_cast<double>(dim) / (dim - 2));
    return default_inv_freq(base, dim);
  }
  if (p.type == "llama3") {
    auto inv = default_inv_freq(p.theta, dim);
    double old_ctx = static_cast<double>(p.original_max_position_embeddings);
    double low_wavelen = old_ctx / p.low_freq_factor;
    double high_wavelen = old_ctx / p.high_freq_factor;
    for (double& f : inv) {
      float ff = static_cast<float>(f);
      float wavelen = static_cast<float>(2 * M_PI) / ff;
      float scaled = wavelen > low_wavelen ? ff / static_cast<float>(p.factor) : ff;
      bool medium = !(wavelen < high_wavelen) && !(wavelen > low_wavelen);
      if (medium) {
        float smooth = static_cast<float>((old_ctx / wavelen - p.low_freq_factor) /
                                          (p.high_freq_factor - p.low_freq_factor));
        scaled = (1 - smooth) * scaled / static_cast<float>(p.factor) + smooth * scaled;
      }
      f = scaled;
    }
    return inv;
  }
  if (p.type == "yarn") {
    double factor = p.factor;
    double orig = p.original_max_position_embeddings > 0
                      ? static_cast<double>(p.original_max_position_embeddings)
                      : static_cast<double>(p.max_position_embeddings);
    if (p.attention_factor > 0) {
      *scaling = p.attention_factor;
    } else if (p.mscale > 0 && p.mscale_all_dim > 0) {
      *scaling = yarn_get_mscale(factor, p.mscale) / yarn_get_mscale(factor, p.mscale_all_dim);
    } else {
      *scaling = yarn_get_mscale(factor, 1.0);
    }
    double low = yarn_correction_dim(p.beta_fast, dim, p.theta, orig);
    double high = yarn_correction_dim(p.beta_slow, dim, p.theta, orig);
    if (p.truncate) {
      low = std::floor(low);
      high = std::ceil(high);
    }
    low = std::max(low, 0.0);
    high = std::min(high, static_cast<double>(dim - 1));
    if (low == high) high += 0.001;
    std::vector<double> inv(dim / 2);
    for (int64_t i = 0; i < dim / 2; ++i) {
      float e = static_cast<float>(2 * i) / static_cast<float>(dim);
      float pos_freq = static_cast<float>(std::pow(p.theta, static_cast<double>(e)));
      float extra = 1.0f / pos_freq;
      float inter = 1.0f / (static_cast<float>(factor) * pos_freq);
      float ramp = static_cast<float>((static_cast<double>(i) - low) / (high - low));
      ramp = std::min(1.0f, std::max(0.0f, ramp));
      float extra_factor = 1.0f - ramp;
      inv[i] = inter * (1 - extra_factor) + extra * extra_factor;
    }
    return inv;
  }
  fail(ErrorKind::kUnsupported, "rope type '", p.type,
       "' (supported: default, linear, dynamic, llama3, yarn)");
}

void rope_tables(const RopeParams& p, const std::vector<int64_t>& positions, int64_t seq_len,
                 Tensor* cos, Tensor* sin) {
  double scaling = 1.0;
  std::vector<double> inv = rope_inv_freq(p, seq_len, &scaling);
  int64_t half = static_cast<int64_t>(inv.size());
  int64_t t = static_cast<int64_t>(positions.size());
  *cos = Tensor::empty({t, half}, DType::kF32);
  *sin = Tensor::empty({t, half}, DType::kF32);
  float* c = cos->data_as<float>();
  float* s = sin->data_as<float>();
  float sc = static_cast<float>(scaling);
  for (int64_t i = 0; i < t; ++i) {
    float pos = static_cast<float>(positions[i]);
    for (int64_t j = 0; j < half; ++j) {
      float f = pos * static_cast<float>(inv[j]);
      c[i * half + j] = std::cos(f) * sc;
      s[i * half + j] = std::sin(f) * sc;
    }
  }
}

void apply_rotary(Tensor& q, Tensor& k, const Tensor& cos, const Tensor& sin, int64_t rotary_dim,
                  bool interleaved) {
  for (Tensor* x : {&q, &k}) {
    KHUB_CHECK_ARG(x->dtype() == DType::kF32 && x->dim() == 3 && x->is_contiguous(),
                   "ops::apply_rotary expects contiguous f32 [T, H, D], got ", x->describe());
    KHUB_CHECK_ARG(x->size(0) == cos.size(0), "ops::apply_rotary: ", x->size(0),
                   " tokens but tables for ", cos.size(0));
    KHUB_CHECK_ARG(rotary_dim <= x->size(2) && rotary_dim % 2 == 0,
                   "ops::apply_rotary: ", "rotary_dim ", rotary_dim, " for head size ", x->size(2));
  }
  int64_t half = rotary_dim / 2;
  KHUB_CHECK_ARG(cos.size(1) == half, "ops::apply_rotary: tables of width ", cos.size(1),
                 " for rotary_dim ", rotary_dim);
  const float* c = cos.data_as<float>();
  const float* s = sin.data_as<float>();
  for (Tensor* x : {&q, &k}) {
    int64_t t = x->size(0), h = x->size(1), d = x->size(2);
    float* p = x->data_as<float>();
    for (int64_t i = 0; i < t; ++i) {
      const float* ci = c + i * half;
      const float* si = s + i * half;
      for (int64_t hh = 0; hh < h; ++hh) {
        float* v = p + (i * h + hh) * d;
        for (int64_t j = 0; j < half; ++j) {
          int64_t a = interleaved ? 2 * j : j;
          int64_t b = interleaved ? 2 * j + 1 : j + half;
          float x1 = v[a], x2 = v[b];
          v[a] = x1 * ci[j] - x2 * si[j];
          v[b] = x2 * ci[j] + x1 * si[j];
        }
      }
    }
  }
}

}  // namespace khub::ops
