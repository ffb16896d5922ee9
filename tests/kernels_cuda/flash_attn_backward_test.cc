// khub-community/flash-attn's `attention_backward` (kernels/flash-attn/cuda/backward.cu), loaded
// through the loader as khub loads it and called through the ABI on khub's current stream, against
// float64 math written here (the seed is printed on failure). The forward's output comes from the
// kernel's own `attention_forward`, as in training. Odd shapes: sequences of 1, 17, 129 and 300
// rows, varlen batches with continuations (q_len < kv_len), GQA 16/8 and MQA 8/1, head_dim 64 /
// 128 / 256, sliding window 64, softcap 30 (with logits large enough for the cap to bend them),
// bf16 and f16. The contract is causal attention only, and the kernel takes no sinks (neither is
// an argument). Checked besides the values: grad_q is written on every row (0 for rows of no
// sequence, whose `out` rows are NaN-poisoned by the allocator and must not leak in), and the f32
// cache gradients are *added into* (they start random) and left bit for bit as they were outside
// each sequence's keys.
//
// Tolerances: the float64 reference takes rowsum(dO ∘ out) from the `out` the kernel was given,
// the FlashAttention-2 definition the kernel implements (the forward's rounding of out is the
// forward's, tested in flash_attn_test.cc). Each gradient is then a sum of terms that the kernel
// rounds to the input dtype once (P before dV += Pᵀ dO, dS before dK += dSᵀ Q and dQ += dS K), and
// grad_q once more at the end: 2 × dtype_rtol (2 ulp of the dtype per rounding, with headroom)
// per element against |want| + rms(want), the relative L2 error within dtype_rtol. A wrong mask,
// head or scale costs far more (an off-by-one window changes a key's gradient by ~1/8).
// Label "gpu": skipped without a CUDA device.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <tuple>

#include "../ops/cuda_test_util.h"
#include "core/cuda.h"
#include "core/error.h"
#include "core/stream.h"
#include "kernels_dir.h"
#include "ops/attention.h"
#include "ops/backward.h"
#include "varlen_batch.h"

namespace khub {
namespace {

using testing::as_f64;
using testing::dtype_rtol;
using testing::expect_close;
using testing::randn_host;

const Device kGpu = Device::cuda(0);

struct Case {
  std::string name;
  DType dtype;
  int64_t d, hq, hk;
  std::vector<int64_t> q_lens, kv_lens;
  int64_t window = 0;
  double softcap = 0;
  double q_scale = 1.5;  // q ~ N(0, q_scale²): the logits' spread (k ~ N(0, 1), scale 1/√D)
};

using Seq = testing::VarlenSeq;

struct Grads {
  std::vector<double> dq, dk, dv;  // [T, Hq, D]; [S, C, Hk, D] (gradients only, no initial value)
};

// The backward of causal, windowed, softcapped attention, float64, one (row, head) at a time:
// P = softmax(y), y = softcap·tanh(x / softcap) (or x), x = scale·q·k; dP = dO·v; Dd = dO·out;
// dx = P (dP − Dd) (1 − tanh²(x / softcap)); dq = scale Σ dx k, dk += scale dx q, dv += P dO.
Grads reference(const Case& c, const std::vector<Seq>& seqs, int64_t T, int64_t slots, int64_t cap,
                const std::vector<double>& q, const std::vector<double>& k,
                const std::vector<double>& v, const std::vector<double>& out,
                const std::vector<double>& dout, double scale) {
  const int64_t D = c.d, group = c.hq / c.hk;
  Grads g;
  g.dq.assign(T * c.hq * D, 0.0);
  g.dk.assign(slots * cap * c.hk * D, 0.0);
  g.dv.assign(g.dk.size(), 0.0);
  std::vector<double> x, p;
  for (const Seq& sq : seqs) {
    for (int64_t i = 0; i < sq.q_len; ++i) {
      const int64_t pos = sq.kv_len - sq.q_len + i, t = sq.q_start + i;
      const int64_t lo = c.window > 0 ? std::max<int64_t>(0, pos - c.window + 1) : 0;
      for (int64_t h = 0; h < c.hq; ++h) {
        const int64_t kh = h / group;
        const double* qr = &q[(t * c.hq + h) * D];
        const double* gr = &dout[(t * c.hq + h) * D];
        const double* orow = &out[(t * c.hq + h) * D];
        auto krow = [&](const std::vector<double>& cache, int64_t j) {
          return &cache[((sq.slot * cap + j) * c.hk + kh) * D];
        };
        x.assign(pos + 1 - lo, 0.0);
        p.assign(x.size(), 0.0);
        double mx = -INFINITY;
        for (int64_t j = lo; j <= pos; ++j) {
          double a = 0;
          for (int64_t e = 0; e < D; ++e) a += qr[e] * krow(k, j)[e];
          x[j - lo] = a * scale;
          const double y = c.softcap > 0 ? c.softcap * std::tanh(x[j - lo] / c.softcap) : x[j - lo];
          p[j - lo] = y;
          mx = std::max(mx, y);
        }
        double sum = 0;
        for (double& y : p) sum += (y = std::exp(y - mx));
        for (double& y : p) y /= sum;
        double dd = 0;
        for (int64_t e = 0; e < D; ++e) dd += gr[e] * orow[e];
        double* dq = &g.dq[(t * c.hq + h) * D];
        for (int64_t j = lo; j <= pos; ++j) {
          const double* vr = krow(v, j);
          double dp = 0;
          for (int64_t e = 0; e < D; ++e) dp += gr[e] * vr[e];
          const double pj = p[j - lo];
          double dx = pj * (dp - dd);
          if (c.softcap > 0) {
            const double th = std::tanh(x[j - lo] / c.softcap);
            dx *= 1.0 - th * th;
          }
          const double* kr = krow(k, j);
          double* dk = &g.dk[((sq.slot * cap + j) * c.hk + kh) * D];
          double* dv = &g.dv[((sq.slot * cap + j) * c.hk + kh) * D];
          for (int64_t e = 0; e < D; ++e) {
            dq[e] += scale * dx * kr[e];
            dk[e] += scale * dx * qr[e];
            dv[e] += pj * gr[e];
          }
        }
      }
    }
  }
  return g;
}

class FlashAttnBackward : public testing::KernelProjectTest {
 protected:
  FlashAttnBackward() : KernelProjectTest("flash-attn") {}
  void run(const Case& c);
  loader::KernelFunction backward() const {
    loader::KernelLayer l = kernel_->layer("Attention");
    EXPECT_TRUE(l.backward.has_value()) << "flash-attn's Attention layer names no backward";
    if (!l.backward) throw Error(ErrorKind::kNotFound, "no attention_backward");
    return *l.backward;
  }
};

// A host f32 tensor of `v`, for expect_close.
Tensor f32_tensor(const std::vector<double>& v, const Shape& shape) {
  Tensor t = Tensor::empty(shape, DType::kF32);
  for (size_t i = 0; i < v.size(); ++i) t.data_as<float>()[i] = static_cast<float>(v[i]);
  return t;
}

void FlashAttnBackward::run(const Case& c) {
  // Slots permuted; rows of q of no sequence and cache rows past kv_len, whose gradients are 0 /
  // left as they were.
  const testing::VarlenBatch b = testing::varlen_batch(c.q_lens, c.kv_lens, rng_);
  const std::vector<Seq>& seqs = b.seqs;
  const int64_t T = b.rows, cap = b.capacity, slots = b.slots;
  const std::string what = b.describe(c.name, c.dtype, c.d, c.hq, c.hk, seed_);
  SCOPED_TRACE(what);

  Tensor q = randn_host({T, c.hq, c.d}, rng_, c.dtype, c.q_scale);
  Tensor kc = randn_host({slots, cap, c.hk, c.d}, rng_, c.dtype);
  Tensor vc = randn_host({slots, cap, c.hk, c.d}, rng_, c.dtype);
  Tensor dout = randn_host({T, c.hq, c.d}, rng_, c.dtype);
  Tensor dk_init = randn_host({slots, cap, c.hk, c.d}, rng_, DType::kF32, 0.5);
  Tensor dv_init = randn_host({slots, cap, c.hk, c.d}, rng_, DType::kF32, 0.5);
  Tensor seq_t = b.table();
  const double scale = 1.0 / std::sqrt(static_cast<double>(c.d));
  const std::vector<std::pair<std::string, loader::AttrValue>> attrs = {
      {"scale", scale},
      {"window", c.window},
      {"softcap", c.softcap},
      {"max_q_len", b.max_q_len},
      {"max_kv_len", b.max_kv_len}};
  Tensor q_dev = q.to(kGpu), kc_dev = kc.to(kGpu), vc_dev = vc.to(kGpu), seqs_dev = seq_t.to(kGpu);

  // The forward, as training runs it: `out` rows of no sequence stay NaN (poisoned, never written).
  Tensor out = Tensor::empty({T, c.hq, c.d}, c.dtype, kGpu);
  Tensor fwd_ws = Tensor::empty({T <= 64 ? 16 * T * c.hq * (c.d + 2) : 0}, DType::kF32, kGpu);
  kernel_->layer("Attention")
      .forward({{{"q", q_dev},
                 {"k_cache", kc_dev},
                 {"v_cache", vc_dev},
                 {"seqs", seqs_dev},
                 {"workspace", fwd_ws},
                 {"out", out}},
                attrs},
               on_stream());

  Tensor ws = Tensor::empty({T * c.hq * (c.d + 2)}, DType::kF32, kGpu);
  Tensor dq = Tensor::empty({T, c.hq, c.d}, c.dtype, kGpu);
  Tensor dk = dk_init.to(kGpu), dv = dv_init.to(kGpu);
  backward()({{{"q", q_dev},
               {"k_cache", kc_dev},
               {"v_cache", vc_dev},
               {"seqs", seqs_dev},
               {"workspace", ws},
               {"out", out},
               {"grad_out", dout.to(kGpu)},
               {"grad_q", dq},
               {"grad_k_cache", dk},
               {"grad_v_cache", dv}},
              attrs},
             on_stream());

  // The reference reads `out` on the rows of sequences only; elsewhere it is NaN, so 0 here.
  std::vector<double> out_h = as_f64(out);
  const std::vector<char>& owned = b.owned;
  const int64_t row_q = c.hq * c.d;
  for (int64_t t = 0; t < T; ++t)
    if (!owned[t]) std::fill(out_h.begin() + t * row_q, out_h.begin() + (t + 1) * row_q, 0.0);
  Grads want = reference(c, seqs, T, slots, cap, as_f64(q), as_f64(kc), as_f64(vc), out_h,
                         as_f64(dout), scale);

  const double rtol = 2 * dtype_rtol(c.dtype);
  expect_close(dq, want.dq, rtol, what + " grad_q");
  {
    std::vector<double> got = as_f64(dq);
    for (int64_t t = 0; t < T; ++t) {
      if (owned[t]) continue;
      bool zero = std::all_of(got.begin() + t * row_q, got.begin() + (t + 1) * row_q,
                              [](double x) { return x == 0.0; });
      EXPECT_TRUE(zero) << what << ": grad_q row " << t << " belongs to no sequence, not 0";
    }
  }
  // The cache gradients: what the kernel added, against the reference; untouched where no
  // sequence has keys (rows ≥ kv_len of each sequence's slot, slots of no sequence).
  const Shape cache_shape{slots, cap, c.hk, c.d};
  std::vector<char> keyed(slots * cap, 0);
  for (const Seq& s : seqs)
    for (int64_t j = 0; j < s.kv_len; ++j) keyed[s.slot * cap + j] = 1;
  const int64_t row_kv = c.hk * c.d;
  for (auto [got_t, init_t, ref, name] : {std::tuple{&dk, &dk_init, &want.dk, "grad_k_cache"},
                                          std::tuple{&dv, &dv_init, &want.dv, "grad_v_cache"}}) {
    Tensor got = got_t->to(Device::cpu());
    const float* g = got.data_as<float>();
    const float* i0 = init_t->data_as<float>();
    std::vector<double> added(got.numel());
    for (int64_t e = 0; e < got.numel(); ++e) added[e] = double{g[e]} - double{i0[e]};
    expect_close(f32_tensor(added, cache_shape), *ref, rtol, what + " " + name);
    for (int64_t r = 0; r < slots * cap; ++r) {
      if (keyed[r]) continue;
      EXPECT_EQ(std::memcmp(g + r * row_kv, i0 + r * row_kv, row_kv * sizeof(float)), 0)
          << what << " " << name << ": cache row " << r << " has no key of a sequence but changed";
    }
  }
}

TEST_F(FlashAttnBackward, MatchesFloat64) {
  std::vector<Case> cases;
  for (DType dt : {DType::kBF16, DType::kF16}) {
    // One sequence each of 1, 17, 129 and 300 rows (fresh prompts: q_len = kv_len).
    cases.push_back({"seq1", dt, 128, 16, 8, {1}, {1}});
    cases.push_back({"seq17 mqa", dt, 64, 8, 1, {17}, {17}});
    cases.push_back({"seq129", dt, 128, 16, 8, {129}, {129}});
    cases.push_back({"seq300 D256", dt, 256, 16, 8, {300}, {300}});
    // Varlen: several sequences, continuations (q_len < kv_len: chunked prefill) among them.
    cases.push_back({"varlen", dt, 128, 16, 8, {17, 300, 1, 129}, {17, 300, 1, 129}});
    cases.push_back({"continuation", dt, 64, 16, 8, {100, 1, 17}, {250, 77, 300}});
    // Sliding window 64 (keys leave the window inside a 64-key block and across blocks).
    cases.push_back({"window64", dt, 64, 16, 8, {300, 129}, {300, 129}, 64});
    cases.push_back({"window64 continuation D256", dt, 256, 8, 1, {129, 17}, {200, 17}, 64});
    // Softcap 30 with logits of spread ~12, where tanh bends them (dS has the 1 − tanh² factor).
    Case cap{"softcap30", dt, 128, 8, 1, {129, 17, 300}, {129, 40, 300}, 0, 30.0, 12.0};
    cases.push_back(cap);
    Case both{"window64 softcap30", dt, 64, 16, 8, {300, 1}, {300, 65}, 64, 30.0, 12.0};
    cases.push_back(both);
    cases.push_back({"gqa group 2 D256", dt, 256, 16, 8, {1, 17, 129}, {1, 17, 129}});
  }
  for (const Case& c : cases) {
    run(c);
    if (HasFatalFailure() || IsSkipped()) return;
  }
}

// The float64 reference itself, on the CPU (no GPU needed): against the project's f32 CPU backward
// (ops::attention_varlen_backward, finite-difference checked in tests/ops) on a small varlen
// batch with GQA, a window and a softcap, `out` from the CPU forward.
TEST(FlashAttnBackwardReference, MatchesTheCpuOpsBackward) {
  std::mt19937_64 rng(3);
  for (double softcap : {0.0, 5.0}) {
    Case c{"cpu", DType::kF32, 16, 4, 2, {1, 9, 20}, {1, 30, 20}, 8, softcap, 3.0};
    const testing::VarlenBatch b = testing::varlen_batch(c.q_lens, c.kv_lens, rng);
    const Shape cache{b.slots, b.capacity, c.hk, c.d};
    Tensor q = randn_host({b.rows, c.hq, c.d}, rng, DType::kF32, c.q_scale);
    Tensor kc = randn_host(cache, rng, DType::kF32), vc = randn_host(cache, rng, DType::kF32);
    Tensor dout = randn_host({b.rows, c.hq, c.d}, rng, DType::kF32);
    std::vector<ops::AttentionSeq> host;
    for (const Seq& s : b.seqs) host.push_back({s.slot, s.q_start, s.q_len, s.kv_len});
    ops::AttentionParams p;
    p.scale = 0.25f;
    p.window = c.window;
    p.softcap = static_cast<float>(softcap);
    Tensor out = ops::attention_varlen(q, kc, vc, host, p);
    std::vector<double> out_h = as_f64(out);
    for (int64_t t = 0; t < b.rows; ++t)
      if (!b.owned[t])
        std::fill(out_h.begin() + t * c.hq * c.d, out_h.begin() + (t + 1) * c.hq * c.d, 0.0);
    Tensor dq, dk, dv;
    ops::attention_varlen_backward(q, kc, vc, dout, host, p, &dq, &dk, &dv);
    Grads want = reference(c, b.seqs, b.rows, b.slots, b.capacity, as_f64(q), as_f64(kc),
                           as_f64(vc), out_h, as_f64(dout), 0.25);
    const std::string what = "softcap " + std::to_string(softcap);
    expect_close(dq, want.dq, 1e-4, what + " dq");
    expect_close(dk, want.dk, 1e-4, what + " dk");
    expect_close(dv, want.dv, 1e-4, what + " dv");
  }
}

// What the kernel refuses, with a message naming the value and what was expected.
TEST_F(FlashAttnBackward, BadInputsAreClearErrors) {
  struct Shape_ {
    int64_t d = 64, hk = 2, ws = -1, n = 1;  // ws -1: the right size
    DType grad_cache = DType::kF32;
  };
  auto call = [&](Shape_ s) {
    const int64_t T = 2, hq = 4, C = 8;
    Tensor q = randn_host({T, hq, s.d}, rng_, DType::kBF16).to(kGpu);
    Tensor kc = randn_host({2, C, s.hk, s.d}, rng_, DType::kBF16).to(kGpu);
    Tensor seqs = Tensor::zeros({s.n, 4}, DType::kI32).to(kGpu);
    Tensor out = randn_host({T, hq, s.d}, rng_, DType::kBF16).to(kGpu);
    Tensor dq = Tensor::empty({T, hq, s.d}, DType::kBF16, kGpu);
    Tensor gk = Tensor::zeros({2, C, s.hk, s.d}, s.grad_cache).to(kGpu);
    Tensor gv = Tensor::zeros({2, C, s.hk, s.d}, s.grad_cache).to(kGpu);
    Tensor ws = Tensor::empty({s.ws >= 0 ? s.ws : T * hq * (s.d + 2)}, DType::kF32, kGpu);
    try {
      backward()({{{"q", q},
                   {"k_cache", kc},
                   {"v_cache", kc},
                   {"seqs", seqs},
                   {"workspace", ws},
                   {"out", out},
                   {"grad_out", out},
                   {"grad_q", dq},
                   {"grad_k_cache", gk},
                   {"grad_v_cache", gv}},
                  {{"scale", 0.1}, {"max_q_len", int64_t{1}}, {"max_kv_len", int64_t{8}}}},
                 on_stream());
      cuda_synchronize(kGpu);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  // seqs of zeros: one sequence with no rows, so the call does nothing and succeeds.
  EXPECT_EQ(call({}), "");
  auto expect_error = [&](Shape_ s, const char* part) {
    const std::string e = call(s);
    EXPECT_NE(e.find(part), std::string::npos) << "expected '" << part << "' in: " << e;
  };
  expect_error({.d = 96}, "head_dim 96, expected 64, 128 or 256");
  expect_error({.hk = 3}, "expected a positive multiple");
  expect_error({.ws = 100}, "workspace has 100 elements, expected at least 528");
  expect_error({.n = 65536}, "at most 65535 sequences");
  expect_error({.grad_cache = DType::kBF16}, "'grad_k_cache' has dtype bf16, expected f32");
}

}  // namespace
}  // namespace khub
