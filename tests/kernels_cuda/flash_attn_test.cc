// khub-community/flash-attn's CUDA variant (kernels/flash-attn), loaded through the loader as khub
// loads it (hub::get_local_kernel on the built project) and called through the ABI on khub's
// current stream: `attention_forward` (docs/layer-contracts.md, `Attention`) against float64 math
// written here, on fresh random inputs (the seed is printed on failure). The cache slots are
// permuted, rows of q/out that belong to no sequence must come back bit for bit as they were, and
// the rows the call owns are NaN-poisoned by the allocator, so an unwritten element fails.
//   Decode: max_q_len <= 4 (the decode kernel), with and without the split-KV workspace, GQA 1 to
//     16, D 64/128/256, bf16/f16, sliding window, softcap, sinks, kv_len from 1 to ~5000.
//   Prefill: longer query runs (the prefill kernel), several sequences, continuations.
// Label "gpu": skipped without a CUDA device.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <numeric>

#include "../ops/cuda_test_util.h"
#include "core/error.h"
#include "core/stream.h"
#include "kernels_dir.h"
#include "varlen_batch.h"
#ifdef KHUB_TEST_LATE_WRITER
#include "late_writer.h"
#endif

namespace khub {
namespace {

using testing::as_f64;
using testing::dtype_rtol;
using testing::expect_close;
using testing::randn_host;

const Device kGpu = Device::cuda(0);
constexpr int64_t kMaxSplits = 16, kWorkspaceMaxRows = 64;

struct Case {
  std::string name;
  DType dtype;
  int64_t d, hq, hk;
  std::vector<int64_t> q_lens, kv_lens;
  int64_t window = 0;
  double softcap = 0;
  bool sinks = false;
  bool workspace = true;  // given when T <= 64 (else the contract makes it empty)
  int64_t max_q_len = 0;  // 0: the largest q_len
  // One sequence whose step rows (the newest q_len keys and values) reach the cache only through
  // a kernel queued right before attention that releases it at once and writes 200 µs later
  // (late_writer.cu): attention must read those rows after its programmatic-dependent wait.
  bool late_step_rows = false;
};

using Seq = testing::VarlenSeq;

class FlashAttn : public testing::KernelProjectTest {
 protected:
  FlashAttn() : KernelProjectTest("flash-attn") {}
  void run(const Case& c);
};

// out rows of every sequence, float64: causal, windowed, softcapped softmax with a sink.
std::vector<double> reference(const Case& c, const std::vector<Seq>& seqs, int64_t cap,
                              const std::vector<double>& q, const std::vector<double>& k,
                              const std::vector<double>& v, const std::vector<double>& sinks,
                              double scale, std::vector<double> out) {
  const int64_t D = c.d, group = c.hq / c.hk;
  std::vector<double> s;
  for (const Seq& sq : seqs) {
    for (int64_t i = 0; i < sq.q_len; ++i) {
      const int64_t pos = sq.kv_len - sq.q_len + i, t = sq.q_start + i;
      const int64_t lo = c.window > 0 ? std::max<int64_t>(0, pos - c.window + 1) : 0;
      for (int64_t h = 0; h < c.hq; ++h) {
        const int64_t hk = h / group;
        const double* qr = &q[(t * c.hq + h) * D];
        s.assign(pos + 1 - lo, 0.0);
        double mx = c.sinks ? sinks[h] : -INFINITY;
        for (int64_t j = lo; j <= pos; ++j) {
          const double* kr = &k[((sq.slot * cap + j) * c.hk + hk) * D];
          double a = 0;
          for (int64_t e = 0; e < D; ++e) a += qr[e] * kr[e];
          a *= scale;
          if (c.softcap > 0) a = c.softcap * std::tanh(a / c.softcap);
          s[j - lo] = a;
          mx = std::max(mx, a);
        }
        double sum = c.sinks ? std::exp(sinks[h] - mx) : 0.0;
        for (double& x : s) sum += (x = std::exp(x - mx));
        double* o = &out[(t * c.hq + h) * D];
        std::fill(o, o + D, 0.0);
        for (int64_t j = lo; j <= pos; ++j) {
          const double* vr = &v[((sq.slot * cap + j) * c.hk + hk) * D];
          const double w = s[j - lo] / sum;
          for (int64_t e = 0; e < D; ++e) o[e] += w * vr[e];
        }
      }
    }
  }
  return out;
}

void FlashAttn::run(const Case& c) {
  // Slots permuted; rows of q/out of no sequence and cache rows past kv_len, never written/read.
  const testing::VarlenBatch b = testing::varlen_batch(c.q_lens, c.kv_lens, rng_);
  const std::vector<Seq>& seqs = b.seqs;
  const int64_t n = static_cast<int64_t>(seqs.size()), T = b.rows, cap = b.capacity;
  const int64_t slots = b.slots, max_kv = b.max_kv_len;
  const std::string what = b.describe(c.name, c.dtype, c.d, c.hq, c.hk, seed_);
  SCOPED_TRACE(what);

  Tensor q = randn_host({T, c.hq, c.d}, rng_, c.dtype, 1.5);
  Tensor kc = randn_host({slots, cap, c.hk, c.d}, rng_, c.dtype);
  Tensor vc = randn_host({slots, cap, c.hk, c.d}, rng_, c.dtype);
  Tensor sinks = randn_host({c.hq}, rng_, DType::kF32, 2.0);
  Tensor seq_t = b.table();
  // out starts as random values on the rows of no sequence, NaN (poisoned) on the others.
  Tensor out_init = randn_host({T, c.hq, c.d}, rng_, c.dtype);
  Tensor out = Tensor::empty({T, c.hq, c.d}, c.dtype, kGpu);
  for (int64_t t = 0; t < T; ++t)
    if (!b.owned[t]) out.slice(0, t, t + 1).copy_from(out_init.slice(0, t, t + 1).to(kGpu));
  const bool ws = c.workspace && T <= kWorkspaceMaxRows;
  Tensor workspace = Tensor::empty({ws ? kMaxSplits * T * c.hq * (c.d + 2) : 0}, DType::kF32, kGpu);
  const double scale = 1.0 / std::sqrt(static_cast<double>(c.d));
  const int64_t max_q =
      c.max_q_len > 0 ? c.max_q_len : *std::max_element(c.q_lens.begin(), c.q_lens.end());

  Tensor kc_dev = kc.to(kGpu), vc_dev = vc.to(kGpu);
  std::vector<Tensor> step_rows, step_values;  // where the late writer writes, and what
  if (c.late_step_rows) {
    ASSERT_EQ(n, 1) << "late_step_rows takes one sequence";
    const Seq& s = seqs[0];
    Tensor stale = randn_host({1, s.q_len, c.hk, c.d}, rng_, c.dtype, 4.0).to(kGpu);
    for (Tensor* cache : {&kc_dev, &vc_dev}) {
      Tensor rows = cache->slice(0, s.slot, s.slot + 1).slice(1, s.kv_len - s.q_len, s.kv_len);
      ASSERT_TRUE(rows.is_contiguous());
      step_values.push_back(rows.clone());
      rows.copy_from(stale);  // until the late writer runs
      step_rows.push_back(rows);
    }
  }
  loader::KernelArgs args{{{"q", q.to(kGpu)},
                           {"k_cache", kc_dev},
                           {"v_cache", vc_dev},
                           {"seqs", seq_t.to(kGpu)},
                           {"workspace", workspace},
                           {"out", out}},
                          {{"scale", scale},
                           {"window", c.window},
                           {"softcap", c.softcap},
                           {"max_q_len", max_q},
                           {"max_kv_len", max_kv}}};
  if (c.sinks) args.tensors.push_back({"sinks", sinks.to(kGpu)});
  if (c.late_step_rows) {
#ifdef KHUB_TEST_LATE_WRITER
    const size_t bytes = static_cast<size_t>(step_rows[0].numel()) * dtype_size(c.dtype);
    auto stream = static_cast<cudaStream_t>(current_stream(kGpu));
    ASSERT_EQ(
        testing::launch_late_copy(step_values[0].data(), step_rows[0].data(), step_values[1].data(),
                                  step_rows[1].data(), bytes, 200, stream),
        cudaSuccess);
#else
    GTEST_SKIP() << "built without CUDA";
#endif
  }
  kernel_->layer("Attention").forward(args, on_stream());

  std::vector<double> init = as_f64(out_init);
  std::vector<double> want =
      reference(c, seqs, cap, as_f64(q), as_f64(kc), as_f64(vc), as_f64(sinks), scale, init);
  expect_close(out, want, dtype_rtol(c.dtype), what);
  // Rows of no sequence: bit for bit what they were (the reference copied them unchanged).
  Tensor got = out.to(Device::cpu()), ref = out_init;
  const size_t row_bytes = static_cast<size_t>(c.hq * c.d) * dtype_size(c.dtype);
  for (int64_t t = 0; t < T; ++t) {
    if (b.owned[t]) continue;
    EXPECT_EQ(std::memcmp(static_cast<const char*>(got.data()) + t * row_bytes,
                          static_cast<const char*>(ref.data()) + t * row_bytes, row_bytes),
              0)
        << "row " << t << " belongs to no sequence but was written";
  }
}

std::vector<int64_t> random_lens(std::mt19937_64& rng, int64_t count, int64_t lo, int64_t hi) {
  std::uniform_int_distribution<int64_t> u(lo, hi);
  std::vector<int64_t> v(count);
  for (auto& x : v) x = u(rng);
  return v;
}

TEST_F(FlashAttn, DecodeMatchesFloat64) {
  std::vector<Case> cases;
  for (DType dt : {DType::kBF16, DType::kF16}) {
    // Qwen3-0.6B heads; b1 at kv_len 1 and 5000 (16 splits of 313 keys), b16 at random lengths.
    cases.push_back({"b1 kv1", dt, 128, 16, 8, {1}, {1}});
    cases.push_back({"b1 kv5000", dt, 128, 16, 8, {1}, {5000}});
    cases.push_back(
        {"b16", dt, 128, 16, 8, std::vector<int64_t>(16, 1), random_lens(rng_, 16, 1, 3000)});
    // GQA 1, D 64.
    cases.push_back(
        {"gqa1", dt, 64, 8, 8, std::vector<int64_t>(4, 1), random_lens(rng_, 4, 1, 3000)});
    // GQA 8, D 256, sinks.
    cases.push_back({"gqa8", dt, 256, 16, 2, std::vector<int64_t>(3, 1),
                     random_lens(rng_, 3, 1, 2000), 0, 0, true});
    // GQA 8 without a workspace (one block per sequence and head, no combine).
    cases.push_back({"gqa8 no-ws", dt, 128, 32, 4, std::vector<int64_t>(16, 1),
                     random_lens(rng_, 16, 1, 2500), 0, 0, false, false});
    // Sliding window, softcap, sinks together.
    cases.push_back({"window softcap sinks", dt, 128, 16, 8, std::vector<int64_t>(8, 1),
                     random_lens(rng_, 8, 1, 4000), 128, 30.0, true});
    cases.push_back({"softcap sinks no-ws",
                     dt,
                     256,
                     8,
                     4,
                     {1, 1},
                     random_lens(rng_, 2, 1, 1500),
                     0,
                     20.0,
                     true,
                     false});
    // Groups that take several chunks of q heads (6: one chunk part-filled; 16: two chunks).
    cases.push_back({"gqa6", dt, 64, 24, 4, {1, 1, 1}, random_lens(rng_, 3, 1, 2500)});
    cases.push_back({"gqa16", dt, 128, 32, 2, {1, 1}, random_lens(rng_, 2, 1, 2500), 0, 0, true});
    // A few query rows per sequence (speculative decoding), with a window; max_q_len above the
    // longest run (the extra blocks find no row).
    cases.push_back(
        {"q_len<=4 window", dt, 128, 16, 8, {4, 1, 3, 2, 4}, {4, 900, 3000, 17, 4500}, 64});
    cases.push_back(
        {"q_len<=4 no-ws", dt, 64, 16, 4, {2, 3, 1}, {700, 3, 2000}, 0, 0, false, false, 4});
  }
  for (const Case& c : cases) run(c);
}

// The decode kernel starts reading the cache before its programmatic-dependent wait (the rows
// older than the step's): the step's own rows, written by the kernel right before it, must be
// read after the wait. One query row and two (chunked), unsplit (kv 100) and split (kv 1500).
TEST_F(FlashAttn, DecodeReadsTheStepsRowsAfterTheWait) {
  for (DType dt : {DType::kBF16, DType::kF16}) {
    for (int64_t kv : {2, 100, 1500}) {
      for (int64_t q_len : {1, 2}) {
        Case c{"late step rows kv" + std::to_string(kv), dt, 128, 16, 8, {q_len}, {kv}};
        c.late_step_rows = true;
        run(c);
        if (HasFatalFailure() || IsSkipped()) return;
      }
    }
  }
}

// Longer query runs go to the prefill kernel (kernels/flash-attn/cuda/prefill.cu).
TEST_F(FlashAttn, PrefillMatchesFloat64) {
  std::vector<Case> cases;
  for (DType dt : {DType::kBF16, DType::kF16}) {
    // Fresh prompts, several sequences of different lengths.
    cases.push_back({"prefill", dt, 128, 16, 8, {100, 257, 31}, {100, 257, 31}});
    // Continuations (chunked prefill: q_len < kv_len) mixed with decode rows.
    cases.push_back({"continuation", dt, 128, 16, 8, {300, 1, 150}, {1200, 2000, 150}});
    cases.push_back({"gqa1 D64 window", dt, 64, 8, 8, {200, 120}, {200, 500}, 64});
    cases.push_back({"gqa8 D256 softcap sinks", dt, 256, 16, 2, {130, 5}, {400, 5}, 0, 25.0, true});
  }
  for (const Case& c : cases) run(c);
}

TEST_F(FlashAttn, BadInputsAreClearErrors) {
  auto call = [&](int64_t d, DType seq_dtype, int64_t hk, int64_t ws_elems) {
    Tensor q = randn_host({2, 4, d}, rng_, DType::kBF16).to(kGpu);
    Tensor kc = randn_host({2, 8, hk, d}, rng_, DType::kBF16).to(kGpu);
    Tensor seqs = Tensor::zeros({1, 4}, seq_dtype).to(kGpu);
    Tensor out = Tensor::empty({2, 4, d}, DType::kBF16, kGpu);
    Tensor ws = Tensor::empty({ws_elems}, DType::kF32, kGpu);
    try {
      kernel_->layer("Attention")
          .forward({{{"q", q},
                     {"k_cache", kc},
                     {"v_cache", kc},
                     {"seqs", seqs},
                     {"workspace", ws},
                     {"out", out}},
                    {{"scale", 0.1}, {"max_q_len", int64_t{1}}, {"max_kv_len", int64_t{8}}}},
                   on_stream());
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_EQ(call(64, DType::kI32, 2, 0), "");
  EXPECT_NE(call(96, DType::kI32, 2, 0).find("head_dim 96, expected 64, 128 or 256"),
            std::string::npos);
  EXPECT_NE(call(64, DType::kI64, 2, 0).find("seqs"), std::string::npos);
  EXPECT_NE(call(64, DType::kI32, 3, 0).find("expected a positive multiple"), std::string::npos);
  EXPECT_NE(call(64, DType::kI32, 2, 100).find("workspace has 100 elements"), std::string::npos);
}

}  // namespace
}  // namespace khub
