// Backward of the attention ops (ops/backward.h: attention_backward, attention_varlen_backward)
// against central finite differences of a float64 attention written here (backward_check.h):
// causal and windowed masks, GQA, soft-capping, offsets, sinks, long sequences (sampled indices)
// and the varlen form over cached prefixes and slots.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>

#include "backward_check.h"
#include "ops/backward.h"

namespace khub::backward_test {
namespace {

struct AttnShape {
  int64_t sq, skv, hq, hk, d;
};

// One sequence: q [Sq, Hq, D] at q_off, k and v rows of kv_stride elements starting at k_off /
// v_off ([Hk, D] each), out [Sq, Hq, D] at o_off.
void attn64(const Vec& q, size_t q_off, const Vec& k, const Vec& v, size_t kv_off,
            int64_t kv_stride, const AttnShape& s, const ops::AttentionParams& p, Vec& out,
            size_t o_off, const Vec* sinks = nullptr) {
  int64_t group = s.hq / s.hk;
  Vec sc(s.skv);
  for (int64_t h = 0; h < s.hq; ++h) {
    int64_t kh = h / group;
    for (int64_t i = 0; i < s.sq; ++i) {
      int64_t pos = p.q_offset + i;
      double* o = &out[o_off + (i * s.hq + h) * s.d];
      for (int64_t t = 0; t < s.d; ++t) o[t] = 0;
      double mx = -INFINITY;
      for (int64_t j = 0; j < s.skv; ++j) {
        bool visible = (!p.causal || j <= pos) && (p.window == 0 || pos - j < p.window);
        if (!visible) {
          sc[j] = -INFINITY;
          continue;
        }
        double dotp = 0;
        for (int64_t t = 0; t < s.d; ++t)
          dotp += q[q_off + (i * s.hq + h) * s.d + t] * k[kv_off + j * kv_stride + kh * s.d + t];
        double x = dotp * p.scale;
        if (p.softcap > 0) x = p.softcap * std::tanh(x / p.softcap);
        sc[j] = x;
        mx = std::max(mx, x);
      }
      if (mx == -INFINITY) continue;  // no visible key: zeros, as the op writes
      double den = 0;
      if (sinks) {  // one more logit in the softmax, without a value
        mx = std::max(mx, (*sinks)[h]);
        den += std::exp((*sinks)[h] - mx);
      }
      for (int64_t j = 0; j < s.skv; ++j) den += sc[j] == -INFINITY ? 0 : std::exp(sc[j] - mx);
      for (int64_t j = 0; j < s.skv; ++j) {
        if (sc[j] == -INFINITY) continue;
        double w = std::exp(sc[j] - mx) / den;
        for (int64_t t = 0; t < s.d; ++t) o[t] += w * v[kv_off + j * kv_stride + kh * s.d + t];
      }
    }
  }
}

struct AttnCase {
  AttnShape s;
  bool causal;
  int64_t window;
  float softcap;
  int64_t q_offset;
  float scale;
};

// Forward agreement and full finite differences of q, k and v for one case; k and v are
// row-strided views (one spare head per row) and the gradients are pre-filled when prefill is set
// (the op overwrites them).
void check_attention_case(const AttnCase& c, bool prefill, std::mt19937_64& rng, uint64_t seed) {
  const AttnShape& s = c.s;
  ops::AttentionParams p;
  p.causal = c.causal;
  p.window = c.window;
  p.softcap = c.softcap;
  p.q_offset = c.q_offset;
  p.scale = c.scale;
  Tensor q = randn({s.sq, s.hq, s.d}, rng), r = randn({s.sq, s.hq, s.d}, rng);
  Tensor kbuf = randn({s.skv, s.hk + 1, s.d}, rng), vbuf = randn({s.skv, s.hk + 1, s.d}, rng);
  Tensor k = kbuf.slice(1, 0, s.hk), v = vbuf.slice(1, 0, s.hk);
  Vec qv = f64(q), kv = f64(k), vv = f64(v), rv = f64(r);
  auto fwd = [&] {
    Vec out(s.sq * s.hq * s.d);
    attn64(qv, 0, kv, vv, 0, s.hk * s.d, s, p, out, 0);
    return out;
  };
  expect_forward(ops::attention(q, k, v, p), fwd(), 1e-5, seed);
  Tensor dq, dk, dv;
  if (prefill) {
    dq = Tensor::full(q.shape(), 7.0, DType::kF32);
    dk = Tensor::full({s.skv, s.hk, s.d}, 7.0, DType::kF32);
    dv = Tensor::full({s.skv, s.hk, s.d}, 7.0, DType::kF32);
  }
  ops::attention_backward(q, k, v, r, p, &dq, &dk, &dv);
  LossFn loss = [&] { return dot(rv, fwd()); };
  std::string tag = "attention sq " + std::to_string(s.sq) + " hk " + std::to_string(s.hk) + " ";
  expect_grad(tag + "dq", dq, qv, loss, seed);
  expect_grad(tag + "dk", dk, kv, loss, seed);
  expect_grad(tag + "dv", dv, vv, loss, seed);
}

// gpt-oss's sinks: a learned logit per head in every softmax. Forward against float64 and finite
// differences of q, k, v and the sinks, with a window, GQA and a query that sees one key.
TEST(Backward, AttentionSinks) {
  uint64_t seed = fresh_seed();
  std::mt19937_64 rng(seed);
  const AttnShape s{5, 5, 4, 2, 6};
  ops::AttentionParams p;
  p.window = 3;
  p.scale = 0.5f;
  Tensor q = randn({s.sq, s.hq, s.d}, rng), k = randn({s.skv, s.hk, s.d}, rng);
  Tensor v = randn({s.skv, s.hk, s.d}, rng), r = randn({s.sq, s.hq, s.d}, rng);
  Tensor sinks = randn({s.hq}, rng);
  Vec qv = f64(q), kv = f64(k), vv = f64(v), rv = f64(r), sv = f64(sinks);
  auto fwd = [&] {
    Vec out(s.sq * s.hq * s.d);
    attn64(qv, 0, kv, vv, 0, s.hk * s.d, s, p, out, 0, &sv);
    return out;
  };
  expect_forward(ops::attention(q, k, v, p, sinks), fwd(), 1e-5, seed);
  Tensor dq, dk, dv, dsinks;
  ops::attention_backward(q, k, v, r, p, &dq, &dk, &dv, sinks, &dsinks);
  LossFn loss = [&] { return dot(rv, fwd()); };
  expect_grad("sinks dq", dq, qv, loss, seed);
  expect_grad("sinks dk", dk, kv, loss, seed);
  expect_grad("sinks dv", dv, vv, loss, seed);
  expect_grad("sinks dsinks", dsinks, sv, loss, seed);
  Tensor dq2, dk2, dv2;
  expect_error([&] { ops::attention_backward(q, k, v, r, p, &dq2, &dk2, &dv2, sinks, nullptr); },
               ErrorKind::kInvalidArgument, "dsinks");
}

TEST(Backward, AttentionMasksGqaSoftcapOffset) {
  uint64_t seed = fresh_seed();
  std::mt19937_64 rng(seed);
  const AttnCase cases[] = {
      {{6, 6, 4, 1, 5}, true, 0, 0.0f, 0, 0.45f},  // GQA onto one KV head
      {{5, 8, 4, 2, 7}, true, 3, 2.0f, 3, 0.6f},   // 2 KV heads, window < S, softcap, q_offset
      {{3, 7, 2, 2, 4}, false, 0, 0.0f, 0, 0.5f},  // bidirectional
      {{3, 4, 2, 1, 3}, true, 2, 0.0f, 3, 0.5f},   // the last query sees no key
      {{4, 9, 6, 3, 6}, false, 4, 1.5f, 5, 0.4f},  // bidirectional window, later keys visible
  };
  bool prefill = false;
  for (const AttnCase& c : cases) {
    check_attention_case(c, prefill, rng, seed);
    prefill = !prefill;
  }
}

// Long enough for the op to split heads over threads (when the machine has several cores), with
// 6 query heads on 3 KV heads so that one KV head is shared by two threads' head ranges.
// Finite differences at sampled elements only (each is two full float64 forwards).
TEST(Backward, AttentionLongSequenceSampled) {
  uint64_t seed = fresh_seed();
  std::mt19937_64 rng(seed);
  const AttnShape s{256, 256, 6, 3, 12};
  ops::AttentionParams p;
  p.window = 100;
  p.softcap = 3.0f;
  p.scale = 1.0f / std::sqrt(12.0f);
  Tensor q = randn({s.sq, s.hq, s.d}, rng), k = randn({s.skv, s.hk, s.d}, rng);
  Tensor v = randn({s.skv, s.hk, s.d}, rng), r = randn({s.sq, s.hq, s.d}, rng);
  Vec qv = f64(q), kv = f64(k), vv = f64(v), rv = f64(r);
  auto fwd = [&] {
    Vec out(s.sq * s.hq * s.d);
    attn64(qv, 0, kv, vv, 0, s.hk * s.d, s, p, out, 0);
    return out;
  };
  expect_forward(ops::attention(q, k, v, p), fwd(), 1e-5, seed);
  Tensor dq, dk, dv;
  ops::attention_backward(q, k, v, r, p, &dq, &dk, &dv);
  LossFn loss = [&] { return dot(rv, fwd()); };
  std::uniform_int_distribution<int64_t> qi(0, static_cast<int64_t>(qv.size()) - 1);
  std::uniform_int_distribution<int64_t> ki(0, static_cast<int64_t>(kv.size()) - 1);
  std::vector<int64_t> qs, ks;
  for (int n = 0; n < 5; ++n) qs.push_back(qi(rng)), ks.push_back(ki(rng));
  // Rows of KV head 1 (shared by query heads 2 and 3), early, middle and last.
  for (int64_t j : {3, 120, 255}) ks.push_back((j * s.hk + 1) * s.d + j % s.d);
  expect_grad("long dq", dq, qv, loss, seed, qs);
  expect_grad("long dk", dk, kv, loss, seed, ks);
  expect_grad("long dv", dv, vv, loss, seed, ks);
}

TEST(Backward, AttentionVarlenCachedPrefixesAndSlots) {
  uint64_t seed = fresh_seed();
  std::mt19937_64 rng(seed);
  const int64_t slots = 4, cap = 10, hq = 4, hk = 2, d = 6, t = 9;
  // Slot 1 is unused; seq 0 has a cached prefix (kv_len > q_len); seq 2 is a decode-like tail.
  const std::vector<ops::AttentionSeq> seqs = {{2, 0, 3, 7}, {0, 3, 4, 4}, {3, 7, 2, 9}};
  ops::AttentionParams p;
  p.window = 5;
  p.softcap = 2.0f;
  p.scale = 0.5f;
  p.q_offset = 123;  // ignored by the varlen ops
  Tensor q = randn({t, hq, d}, rng), r = randn({t, hq, d}, rng);
  Tensor kc = randn({slots, cap, hk, d}, rng), vc = randn({slots, cap, hk, d}, rng);
  Vec qv = f64(q), kv = f64(kc), vv = f64(vc), rv = f64(r);
  auto fwd = [&] {
    Vec out(t * hq * d);
    for (const auto& sq : seqs) {
      ops::AttentionParams ps = p;
      ps.causal = true;
      ps.q_offset = sq.kv_len - sq.q_len;
      attn64(qv, sq.q_start * hq * d, kv, vv, sq.slot * cap * hk * d, hk * d,
             AttnShape{sq.q_len, sq.kv_len, hq, hk, d}, ps, out, sq.q_start * hq * d);
    }
    return out;
  };
  expect_forward(ops::attention_varlen(q, kc, vc, seqs, p), fwd(), 1e-5, seed);
  Tensor dq, dv;
  Tensor dk = randn({slots, cap, hk, d}, rng);  // accumulated into
  Vec dk0 = f64(dk);
  ops::attention_varlen_backward(q, kc, vc, r, seqs, p, &dq, &dk, &dv);
  LossFn loss = [&] { return dot(rv, fwd()); };
  expect_grad("varlen dq", dq, qv, loss, seed);
  Vec dk_delta = minus(f64(dk), dk0);
  expect_grad("varlen dk_cache", dk_delta, kv, loss, seed);
  expect_grad("varlen dv_cache", dv, vv, loss, seed);
  Tensor dq2, dv_again = dv.clone();
  ops::attention_varlen_backward(q, kc, vc, r, seqs, p, &dq2, &dk, &dv_again);
  expect_accumulated(dk, dk0, dk_delta, 2, "varlen dk_cache");
  expect_accumulated(dv_again, Vec(vv.size(), 0.0), f64(dv), 2, "varlen dv_cache");
}

}  // namespace
}  // namespace khub::backward_test
