// Reference attention: per (query, head), two passes over visible keys (max, then exp-sum and the
// weighted value sum), f32 throughout. Work is split over heads across threads for long prefill.
#include "ops/attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <thread>
#include <vector>

#include "ops/ops_cuda.h"

namespace khub::ops {
namespace {

void check_kv(const Tensor& t, const char* name) {
  KHUB_CHECK_ARG(
      t.dtype() == DType::kF32 && t.dim() == 3 && t.stride(2) == 1 && t.stride(1) == t.size(2),
      "ops::attention: ", name, " must be f32 [S, H, D] with contiguous rows, got ", t.describe());
}

}  // namespace

Tensor attention(const Tensor& q_in, const Tensor& k, const Tensor& v, const AttentionParams& p,
                 const Tensor& sinks) {
  if (q_in.device().is_cuda()) return cuda::attention(q_in, k, v, p, sinks);
  Tensor q = q_in.contiguous();
  KHUB_CHECK_ARG(q.dtype() == DType::kF32 && q.dim() == 3, "ops::attention: q must be f32 ",
                 "[S, H, D], got ", q.describe());
  check_kv(k, "k");
  check_kv(v, "v");
  int64_t sq = q.size(0), hq = q.size(1), d = q.size(2);
  int64_t skv = k.size(0), hk = k.size(1);
  KHUB_CHECK_ARG(k.size(2) == d && v.size(2) == d && v.size(0) == skv && v.size(1) == hk,
                 "ops::attention: shapes q ", q.describe(), ", k ", k.describe(), ", v ",
                 v.describe(), " do not agree");
  KHUB_CHECK_ARG(hk > 0 && hq % hk == 0, "ops::attention: ", hq, " query heads are not a ",
                 "multiple of ", hk, " key/value heads");
  std::vector<float> sink_vals;
  if (sinks.defined()) {
    KHUB_CHECK_ARG(sinks.numel() == hq, "ops::attention: sinks ", sinks.describe(), " for ", hq,
                   " heads");
    sink_vals = sinks.to_float_vector();
  }
  Tensor out = Tensor::empty({sq, hq, d}, DType::kF32);
  const float* qp = q.data_as<float>();
  const float* kp = k.data_as<float>();
  const float* vp = v.data_as<float>();
  float* op = out.data_as<float>();
  int64_t ks = k.stride(0), vs = v.stride(0);
  int64_t group = hq / hk;

  auto run_heads = [&](int64_t h0, int64_t h1) {
    std::vector<float> scores(skv);
    std::vector<float> acc(d);
    for (int64_t h = h0; h < h1; ++h) {
      int64_t kh = h / group;
      for (int64_t i = 0; i < sq; ++i) {
        int64_t pos = p.q_offset + i;
        int64_t hi = p.causal ? std::min(pos, skv - 1) : skv - 1;
        int64_t lo = p.window > 0 ? std::max<int64_t>(0, pos - p.window + 1) : 0;
        const float* qi = qp + (i * hq + h) * d;
        float mx = sink_vals.empty() ? -std::numeric_limits<float>::infinity() : sink_vals[h];
        for (int64_t j = lo; j <= hi; ++j) {
          const float* kj = kp + j * ks + kh * d;
          float s = 0.0f;
          for (int64_t t = 0; t < d; ++t) s += qi[t] * kj[t];
          s *= p.scale;
          if (p.softcap > 0.0f) s = p.softcap * std::tanh(s / p.softcap);
          scores[j] = s;
          mx = std::max(mx, s);
        }
        float denom = sink_vals.empty() ? 0.0f : std::exp(sink_vals[h] - mx);
        std::fill(acc.begin(), acc.end(), 0.0f);
        for (int64_t j = lo; j <= hi; ++j) {
          float e = std::exp(scores[j] - mx);
          denom += e;
          const float* vj = vp + j * vs + kh * d;
          for (int64_t t = 0; t < d; ++t) acc[t] += e * vj[t];
        }
        float* oi = op + (i * hq + h) * d;
        float inv = denom > 0.0f ? 1.0f / denom : 0.0f;
        for (int64_t t = 0; t < d; ++t) oi[t] = acc[t] * inv;
      }
    }
  };

  int64_t work = sq * skv * hq * d;
  int64_t threads = std::min<int64_t>(hq, std::thread::hardware_concurrency());
  if (work < (1 << 22) || threads <= 1) {
    run_heads(0, hq);
  } else {
    std::vector<std::thread> pool;
    for (int64_t t = 0; t < threads; ++t) {
      pool.emplace_back(run_heads, hq * t / threads, hq * (t + 1) / threads);
    }
    for (auto& th : pool) th.join();
  }
  return out;
}

void check_attention_seq(const AttentionSeq& s, const Tensor& q, const Tensor& k_cache,
                         const char* op) {
  KHUB_CHECK_ARG(
      s.slot >= 0 && s.slot < k_cache.size(0) && s.q_len > 0 && s.q_start >= 0 &&
          s.q_start + s.q_len <= q.size(0) && s.kv_len >= s.q_len && s.kv_len <= k_cache.size(1),
      op, ": sequence (slot ", s.slot, ", rows ", s.q_start, "+", s.q_len, ", keys ", s.kv_len,
      ") does not fit q ", q.describe(), " and the cache ", k_cache.describe());
}

Tensor attention_varlen(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                        const std::vector<AttentionSeq>& seqs, const AttentionParams& p_in,
                        const Tensor& sinks) {
  KHUB_CHECK_ARG(q.dim() == 3 && k_cache.dim() == 4 && v_cache.shape() == k_cache.shape(),
                 "ops::attention_varlen: q ", q.describe(), " must be [T, Hq, D] and the caches ",
                 k_cache.describe(), ", ", v_cache.describe(), " [S, C, Hk, D]");
  Tensor out = Tensor::empty(q.shape(), q.dtype(), q.device());
  AttentionParams p = p_in;
  p.causal = true;
  for (const AttentionSeq& s : seqs) {
    check_attention_seq(s, q, k_cache, "ops::attention_varlen");
    p.q_offset = s.kv_len - s.q_len;
    Tensor keys = k_cache.select(0, s.slot).slice(0, 0, s.kv_len);
    Tensor values = v_cache.select(0, s.slot).slice(0, 0, s.kv_len);
    Tensor o = attention(q.slice(0, s.q_start, s.q_start + s.q_len), keys, values, p, sinks);
    out.slice(0, s.q_start, s.q_start + s.q_len).copy_from(o);
  }
  return out;
}

}  // namespace khub::ops
