// Backward of the reference attention (ops/attention.cc). Per (head, query row) the softmax is
// recomputed as the forward computes it, with three rows of Skv floats per thread (the scores,
// their exponentials, dout·v) and never the [Sq, Skv] matrix:
//   pass 1: s_j = softcap(scale q·k_j) and dP_j = dout·v_j over the visible keys, and their max;
//   pass 2: e_j = exp(s_j - max), the denominator and Σ e_j dP_j;
//   pass 3: P_j = e_j / denom, dS_j = P_j (dP_j - Σ_l P_l dP_l) · (1 - (s_j / cap)²) · scale;
//           dq += dS_j k_j, dk_j += dS_j q, dv_j += P_j dout.
// Heads are split over threads as the forward does; query heads of one GQA group may land on two
// threads, so each thread adds its dk/dv into a private buffer for the KV heads it touches and the
// buffers are summed after the join. CUDA tensors go to backward_attention_cuda.cu (the eager
// formulation on cuBLAS), sequence by sequence, after the checks below (cuda_backward()).
#include <algorithm>
#include <cmath>
#include <limits>
#include <thread>
#include <utility>
#include <vector>

#include "ops/backward.h"
#include "ops/backward_checks.h"
#include "ops/ops_cuda.h"

namespace khub::ops {
namespace {

// The CPU path's tensors: a CUDA operand among CPU ones is a caller's bug, named here.
void refuse_cuda(const Tensor& t, const char* op) {
  KHUB_CHECK_ARG(!t.defined() || t.device().is_cpu(), op, ": ", t.describe(),
                 " is on CUDA while q is on the CPU");
}

// A zeroed f32 gradient of `shape` on `device` (allocated when undefined; else checked and zeroed
// when `zero`).
void cuda_grad(Tensor* g, const Shape& shape, const Tensor& like, bool zero, const char* op,
               const char* name) {
  KHUB_CHECK_ARG(g != nullptr, op, ": ", name, " must not be null");
  if (g->defined()) {
    detail::check_accumulator(*g, like, op, name);
    KHUB_CHECK_ARG(g->shape() == shape, op, ": ", name, " ", g->describe(), " must be ",
                   shape_str(shape));
    if (!zero) return;
  } else {
    *g = Tensor::empty(shape, DType::kF32, like.device());
  }
  cuda::zero_inplace(*g);
}

// CUDA: q, k, v, dout in one floating dtype with contiguous [H, D] rows; dq in q's dtype.
void check_cuda_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& dout,
                          const char* op) {
  for (const Tensor* t : {&q, &k, &v, &dout}) {
    detail::check_operand(*t, q, op, "q, k, v and dout");
    KHUB_CHECK_ARG(t->dtype() == q.dtype() && t->stride(-1) == 1 && t->stride(-2) == t->size(-1),
                   op, ": q, k, v and dout share q's dtype and have contiguous [H, D] rows; got ",
                   t->describe());
  }
}

// dq on CUDA: in q's dtype, contiguous, shaped like q (allocated when undefined; zeroed then when
// `zero`, since rows of no sequence must read 0).
void cuda_dq(Tensor* dq, const Tensor& q, bool zero, const char* op) {
  KHUB_CHECK_ARG(dq != nullptr, op, ": dq must not be null");
  if (dq->defined()) {
    KHUB_CHECK_ARG(dq->device() == q.device() && dq->dtype() == q.dtype() &&
                       dq->shape() == q.shape() && dq->is_contiguous(),
                   op, ": dq ", dq->describe(), " must be contiguous ", shape_str(q.shape()),
                   " like q ", q.describe());
    return;
  }
  *dq = Tensor::empty(q.shape(), q.dtype(), q.device());
  if (zero) cuda::zero_inplace(*dq);
}

// sinks on CUDA: f32 [Hq] on q's device; dsinks (allocated zeroed when undefined) added into.
Tensor cuda_sinks(const Tensor& sinks, Tensor* dsinks, const Tensor& q, const char* op) {
  if (!sinks.defined()) return Tensor();
  KHUB_CHECK_ARG(sinks.numel() == q.size(1) && sinks.device() == q.device(), op, ": sinks ",
                 sinks.describe(), " must hold ", q.size(1), " values on ", q.device().str());
  KHUB_CHECK_ARG(dsinks != nullptr, op, ": sinks need a dsinks gradient");
  if (!dsinks->defined()) {
    *dsinks = Tensor::empty({q.size(1)}, DType::kF32, q.device());
    cuda::zero_inplace(*dsinks);
  }
  detail::check_accumulator(*dsinks, q, op, "dsinks");
  return sinks.to(DType::kF32).contiguous();
}

// [S, H, D] f32 with contiguous [H, D] rows (a row-strided view of a cache is fine).
void check_rows(const Tensor& t, const char* op, const char* name) {
  refuse_cuda(t, op);
  KHUB_CHECK_ARG(t.defined() && t.dtype() == DType::kF32 && t.dim() == 3 && t.stride(2) == 1 &&
                     t.stride(1) == t.size(2),
                 op, ": ", name, " must be f32 [S, H, D] with contiguous rows, got ", t.describe());
}

// Dot product with eight partial sums, so that the compiler vectorizes it without -ffast-math.
inline float dot(const float* a, const float* b, int64_t n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t t = 0;
  for (; t + 8 <= n; t += 8) {
    for (int l = 0; l < 8; ++l) acc[l] += a[t + l] * b[t + l];
  }
  float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  for (; t < n; ++t) s += a[t] * b[t];
  return s;
}

// Gradient rows [S, H, D]: element (j, kh, t) at base[j * row_stride + (kh - kh0) * D + t].
struct GradRows {
  float* base;
  int64_t row_stride;
  int64_t kh0;
};

// One sequence: q, dout contiguous [Sq, Hq, D]; k, v [Skv, Hk, D] with contiguous rows (checked
// by the callers). Writes dq (contiguous [Sq, Hq, D]); adds into dk and dv (row stride *_rs).
// sinks: [Hq] or null; dsinks [Hq] (set with sinks) receives each head's sink gradient (added).
void backward_rows(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& dout,
                   const AttentionParams& p, float* dq, float* dk, int64_t dk_rs, float* dv,
                   int64_t dv_rs, const float* sinks, float* dsinks) {
  int64_t sq = q.size(0), hq = q.size(1), d = q.size(2);
  int64_t skv = k.size(0), hk = k.size(1);
  if (sq == 0 || hq == 0 || d == 0) {
    std::fill(dq, dq + sq * hq * d, 0.0f);
    return;
  }
  if (skv == 0) {
    std::fill(dq, dq + sq * hq * d, 0.0f);
    return;  // the forward wrote zeros (only a sink in each softmax): nothing flows back
  }
  const float* qp = q.data_as<float>();
  const float* kp = k.data_as<float>();
  const float* vp = v.data_as<float>();
  const float* gp = dout.data_as<float>();
  int64_t ks = k.stride(0), vs = v.stride(0);
  int64_t group = hq / hk;
  float cap = p.softcap;
  float inv_cap = cap > 0.0f ? 1.0f / cap : 0.0f;

  auto run_heads = [&](int64_t h0, int64_t h1, GradRows gk, GradRows gv) {
    std::vector<float> srow(skv), erow(skv), dprow(skv), acc(d);
    for (int64_t h = h0; h < h1; ++h) {
      int64_t kh = h / group;
      for (int64_t i = 0; i < sq; ++i) {
        // The forward's visible range, exactly.
        int64_t pos = p.q_offset + i;
        int64_t hi = p.causal ? std::min(pos, skv - 1) : skv - 1;
        int64_t lo = p.window > 0 ? std::max<int64_t>(0, pos - p.window + 1) : 0;
        const float* qi = qp + (i * hq + h) * d;
        const float* gi = gp + (i * hq + h) * d;
        float* dqi = dq + (i * hq + h) * d;
        std::fill(acc.begin(), acc.end(), 0.0f);
        if (lo > hi) {  // no visible key: the forward wrote zeros, nothing flows back
          std::copy(acc.begin(), acc.end(), dqi);
          continue;
        }
        // A sink joins the softmax as one more logit without a value (the forward's rule).
        float mx = sinks != nullptr ? sinks[h] : -std::numeric_limits<float>::infinity();
        for (int64_t j = lo; j <= hi; ++j) {
          float s = dot(qi, kp + j * ks + kh * d, d) * p.scale;
          if (cap > 0.0f) s = cap * std::tanh(s * inv_cap);
          srow[j] = s;
          dprow[j] = dot(gi, vp + j * vs + kh * d, d);
          mx = std::max(mx, s);
        }
        float denom = 0.0f;
        double edp = 0.0;
        for (int64_t j = lo; j <= hi; ++j) {
          float e = std::exp(srow[j] - mx);
          erow[j] = e;
          denom += e;
          edp += static_cast<double>(e) * dprow[j];
          if (cap > 0.0f) {
            float t = srow[j] * inv_cap;
            srow[j] = 1.0f - t * t;  // d softcap / d s, reusing the row
          }
        }
        float sink_e = 0.0f;
        if (sinks != nullptr) {
          sink_e = std::exp(sinks[h] - mx);
          denom += sink_e;
        }
        float inv = 1.0f / denom;
        float delta = static_cast<float>(edp) * inv;  // Σ_j P_j dP_j = dout · out
        // The sink's dS = P_sink (0 - delta): its dP is 0, as it carries no value.
        if (sinks != nullptr) dsinks[h] -= sink_e * inv * delta;
        for (int64_t j = lo; j <= hi; ++j) {
          float pj = erow[j] * inv;
          float ds = pj * (dprow[j] - delta) * p.scale;
          if (cap > 0.0f) ds *= srow[j];
          const float* kj = kp + j * ks + kh * d;
          float* dkj = gk.base + j * gk.row_stride + (kh - gk.kh0) * d;
          float* dvj = gv.base + j * gv.row_stride + (kh - gv.kh0) * d;
          for (int64_t t = 0; t < d; ++t) {
            acc[t] += ds * kj[t];
            dkj[t] += ds * qi[t];
            dvj[t] += pj * gi[t];
          }
        }
        std::copy(acc.begin(), acc.end(), dqi);
      }
    }
  };

  // The forward's threading rule; the backward does about 2.5× its work per (query, key).
  int64_t work = sq * skv * hq * d;
  int64_t threads = std::min<int64_t>(hq, std::thread::hardware_concurrency());
  if (work < (1 << 22) || threads <= 1) {
    run_heads(0, hq, GradRows{dk, dk_rs, 0}, GradRows{dv, dv_rs, 0});
    return;
  }
  struct Part {
    int64_t h0, h1, kh0, nkh;
    std::vector<float> dk, dv;  // [Skv, nkh, D]
  };
  std::vector<Part> parts(threads);
  std::vector<std::thread> pool;
  for (int64_t t = 0; t < threads; ++t) {
    Part& pt = parts[t];
    pt.h0 = hq * t / threads;
    pt.h1 = hq * (t + 1) / threads;
    if (pt.h0 == pt.h1) continue;
    pt.kh0 = pt.h0 / group;
    pt.nkh = (pt.h1 - 1) / group - pt.kh0 + 1;
    pt.dk.assign(skv * pt.nkh * d, 0.0f);
    pt.dv.assign(skv * pt.nkh * d, 0.0f);
    pool.emplace_back(run_heads, pt.h0, pt.h1, GradRows{pt.dk.data(), pt.nkh * d, pt.kh0},
                      GradRows{pt.dv.data(), pt.nkh * d, pt.kh0});
  }
  for (auto& th : pool) th.join();
  for (const Part& pt : parts) {
    if (pt.h0 == pt.h1) continue;
    for (int64_t j = 0; j < skv; ++j) {
      float* dkj = dk + j * dk_rs + pt.kh0 * d;
      float* dvj = dv + j * dv_rs + pt.kh0 * d;
      const float* bk = pt.dk.data() + j * pt.nkh * d;
      const float* bv = pt.dv.data() + j * pt.nkh * d;
      for (int64_t t = 0; t < pt.nkh * d; ++t) {
        dkj[t] += bk[t];
        dvj[t] += bv[t];
      }
    }
  }
}

// A caller's gradient tensor of the given shape: allocated (zeroed) when undefined, else checked
// to be f32 with contiguous [H, D] rows and, when zero is set, zeroed (the contract overwrites).
float* grad_rows(Tensor* g, const Shape& shape, bool zero, const char* op, const char* name) {
  KHUB_CHECK_ARG(g != nullptr, op, ": ", name, " must not be null");
  if (!g->defined()) {
    *g = Tensor::zeros(shape, DType::kF32);
    return g->data_as<float>();
  }
  check_rows(*g, op, name);
  KHUB_CHECK_ARG(g->shape() == shape, op, ": ", name, " ", g->describe(), " must be ",
                 shape_str(shape));
  if (zero) {
    for (int64_t j = 0; j < shape[0]; ++j) {
      float* row = g->data_as<float>() + j * g->stride(0);
      std::fill(row, row + shape[1] * shape[2], 0.0f);
    }
  }
  return g->data_as<float>();
}

void check_attention_args(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& dout,
                          const char* op) {
  for (const Tensor* t : {&q, &dout}) {
    refuse_cuda(*t, op);
    KHUB_CHECK_ARG(t->defined() && t->dtype() == DType::kF32 && t->dim() == 3, op, ": q and dout ",
                   "must be f32 [S, H, D], got ", t->describe());
  }
  check_rows(k, op, "k");
  check_rows(v, op, "v");
  int64_t d = q.size(2), hk = k.size(1);
  KHUB_CHECK_ARG(k.size(2) == d && v.shape() == k.shape() && dout.shape() == q.shape(), op,
                 ": shapes q ", q.describe(), ", k ", k.describe(), ", v ", v.describe(), ", dout ",
                 dout.describe(), " do not agree");
  KHUB_CHECK_ARG(hk > 0 && q.size(1) % hk == 0, op, ": ", q.size(1), " query heads are not a ",
                 "multiple of ", hk, " key/value heads");
}

// The sinks as f32 on the host and the caller's dsinks buffer (allocated zeroed when undefined),
// or two nulls without sinks.
std::pair<Tensor, float*> sink_args(const Tensor& sinks, Tensor* dsinks, int64_t hq,
                                    const char* op) {
  if (!sinks.defined()) return {Tensor(), nullptr};
  refuse_cuda(sinks, op);
  KHUB_CHECK_ARG(sinks.numel() == hq, op, ": sinks ", sinks.describe(), " for ", hq, " heads");
  KHUB_CHECK_ARG(dsinks != nullptr, op, ": sinks need a dsinks gradient");
  if (!dsinks->defined()) *dsinks = Tensor::zeros({hq}, DType::kF32);
  KHUB_CHECK_ARG(dsinks->dtype() == DType::kF32 && dsinks->numel() == hq &&
                     dsinks->is_contiguous() && dsinks->device().is_cpu(),
                 op, ": dsinks ", dsinks->describe(), " must be contiguous f32 [", hq, "]");
  return {sinks.to(DType::kF32).contiguous(), dsinks->data_as<float>()};
}

}  // namespace

void attention_backward(const Tensor& q_in, const Tensor& k, const Tensor& v, const Tensor& dout_in,
                        const AttentionParams& p, Tensor* dq, Tensor* dk, Tensor* dv,
                        const Tensor& sinks_in, Tensor* dsinks) {
  const char* op = "ops::attention_backward";
  if (q_in.device().is_cuda()) {
    check_cuda_attention(q_in, k, v, dout_in, op);
    KHUB_CHECK_ARG(k.dim() == 3 && v.shape() == k.shape() && q_in.dim() == 3 &&
                       dout_in.shape() == q_in.shape() && k.size(2) == q_in.size(2) &&
                       k.size(1) > 0 && q_in.size(1) % k.size(1) == 0,
                   op, ": shapes q ", q_in.describe(), ", k ", k.describe(), ", v ", v.describe(),
                   ", dout ", dout_in.describe(), " do not agree");
    Tensor sinks = cuda_sinks(sinks_in, dsinks, q_in, op);
    Tensor q = q_in.contiguous(), dout = dout_in.contiguous();
    cuda_dq(dq, q, false, op);
    cuda_grad(dk, k.shape(), q, true, op, "dk");
    cuda_grad(dv, v.shape(), q, true, op, "dv");
    cuda::attention_backward(q, k, v, dout, p, sinks, *dq, *dk, *dv, dsinks);
    return;
  }
  check_attention_args(q_in, k, v, dout_in, op);
  auto [sinks, dsp] = sink_args(sinks_in, dsinks, q_in.size(1), op);
  Tensor q = q_in.contiguous(), dout = dout_in.contiguous();
  KHUB_CHECK_ARG(dq != nullptr, op, ": dq must not be null");
  if (dq->defined()) {
    refuse_cuda(*dq, op);
    KHUB_CHECK_ARG(dq->dtype() == DType::kF32 && dq->shape() == q.shape() && dq->is_contiguous(),
                   op, ": dq ", dq->describe(), " must be contiguous f32 ", shape_str(q.shape()));
  } else {
    *dq = Tensor::empty(q.shape(), DType::kF32);
  }
  float* dkp = grad_rows(dk, k.shape(), true, op, "dk");
  float* dvp = grad_rows(dv, v.shape(), true, op, "dv");
  backward_rows(q, k, v, dout, p, dq->data_as<float>(), dkp, dk->stride(0), dvp, dv->stride(0),
                sinks.defined() ? sinks.data_as<float>() : nullptr, dsp);
}

void attention_varlen_backward(const Tensor& q_in, const Tensor& k_cache, const Tensor& v_cache,
                               const Tensor& dout_in, const std::vector<AttentionSeq>& seqs,
                               const AttentionParams& p_in, Tensor* dq, Tensor* dk_cache,
                               Tensor* dv_cache, const Tensor& sinks_in, Tensor* dsinks) {
  const char* op = "ops::attention_varlen_backward";
  KHUB_CHECK_ARG(q_in.dim() == 3 && k_cache.dim() == 4 && v_cache.shape() == k_cache.shape() &&
                     dout_in.shape() == q_in.shape(),
                 op, ": q ", q_in.describe(), " and dout ", dout_in.describe(),
                 " must be [T, Hq, D] and the caches ", k_cache.describe(), ", ",
                 v_cache.describe(), " [S, C, Hk, D]");
  if (q_in.device().is_cuda()) {
    check_cuda_attention(q_in, k_cache, v_cache, dout_in, op);
    KHUB_CHECK_ARG(k_cache.size(3) == q_in.size(2) && k_cache.size(2) > 0 &&
                       q_in.size(1) % k_cache.size(2) == 0,
                   op, ": q ", q_in.describe(), " does not fit the cache ", k_cache.describe());
    Tensor sinks = cuda_sinks(sinks_in, dsinks, q_in, op);
    Tensor q = q_in.contiguous(), dout = dout_in.contiguous();
    cuda_dq(dq, q, true, op);
    cuda_grad(dk_cache, k_cache.shape(), q, false, op, "dk_cache");
    cuda_grad(dv_cache, k_cache.shape(), q, false, op, "dv_cache");
    AttentionParams p = p_in;
    p.causal = true;
    for (const AttentionSeq& s : seqs) {
      check_attention_seq(s, q, k_cache, op);
      p.q_offset = s.kv_len - s.q_len;
      Tensor dqs = dq->slice(0, s.q_start, s.q_start + s.q_len);
      Tensor dks = dk_cache->select(0, s.slot).slice(0, 0, s.kv_len);
      Tensor dvs = dv_cache->select(0, s.slot).slice(0, 0, s.kv_len);
      cuda::attention_backward(q.slice(0, s.q_start, s.q_start + s.q_len),
                               k_cache.select(0, s.slot).slice(0, 0, s.kv_len),
                               v_cache.select(0, s.slot).slice(0, 0, s.kv_len),
                               dout.slice(0, s.q_start, s.q_start + s.q_len), p, sinks, dqs, dks,
                               dvs, dsinks);
    }
    return;
  }
  for (const Tensor* t : {&q_in, &k_cache, &v_cache, &dout_in}) refuse_cuda(*t, op);
  auto [sinks, dsp] = sink_args(sinks_in, dsinks, q_in.size(1), op);
  Tensor q = q_in.contiguous(), dout = dout_in.contiguous();
  KHUB_CHECK_ARG(dq != nullptr && dk_cache != nullptr && dv_cache != nullptr, op,
                 ": dq, dk_cache and dv_cache must not be null");
  if (dq->defined()) {
    refuse_cuda(*dq, op);
    KHUB_CHECK_ARG(dq->dtype() == DType::kF32 && dq->shape() == q.shape() && dq->is_contiguous(),
                   op, ": dq ", dq->describe(), " must be contiguous f32 ", shape_str(q.shape()));
  } else {
    *dq = Tensor::zeros(q.shape(), DType::kF32);
  }
  for (Tensor* g : {dk_cache, dv_cache}) {
    if (!g->defined()) {
      *g = Tensor::zeros(k_cache.shape(), DType::kF32);
    } else {
      refuse_cuda(*g, op);
      KHUB_CHECK_ARG(
          g->dtype() == DType::kF32 && g->shape() == k_cache.shape() && g->is_contiguous(), op,
          ": cache gradient ", g->describe(), " must be contiguous f32 ",
          shape_str(k_cache.shape()));
    }
  }
  int64_t slot_elems = k_cache.size(1) * k_cache.size(2) * k_cache.size(3);
  int64_t row_elems = k_cache.size(2) * k_cache.size(3);
  int64_t row_elems_q = q.size(1) * q.size(2);
  AttentionParams p = p_in;
  p.causal = true;
  for (const AttentionSeq& s : seqs) {
    check_attention_seq(s, q, k_cache, op);
    p.q_offset = s.kv_len - s.q_len;
    Tensor keys = k_cache.select(0, s.slot).slice(0, 0, s.kv_len);
    Tensor values = v_cache.select(0, s.slot).slice(0, 0, s.kv_len);
    Tensor qs = q.slice(0, s.q_start, s.q_start + s.q_len);
    Tensor gs = dout.slice(0, s.q_start, s.q_start + s.q_len);
    check_attention_args(qs, keys, values, gs, op);
    backward_rows(qs, keys, values, gs, p, dq->data_as<float>() + s.q_start * row_elems_q,
                  dk_cache->data_as<float>() + s.slot * slot_elems, row_elems,
                  dv_cache->data_as<float>() + s.slot * slot_elems, row_elems,
                  sinks.defined() ? sinks.data_as<float>() : nullptr, dsp);
  }
}

}  // namespace khub::ops
