// The step-input ops (ops/indexing.h) and the varlen attention reference on the CPU: gathers and
// the KV-cache append against element-by-element copies, and attention_varlen against one
// ops::attention call per sequence on fresh random inputs.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <random>

#include "ops/attention.h"
#include "ops/indexing.h"

namespace khub {
namespace {

uint64_t fresh_seed() {
  return static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
}

Tensor randn(Shape shape, std::mt19937_64& rng) {
  std::normal_distribution<float> n(0.0f, 1.0f);
  Tensor t = Tensor::empty(shape, DType::kF32);
  for (int64_t i = 0; i < t.numel(); ++i) t.data_as<float>()[i] = n(rng);
  return t;
}

Tensor i32(const std::vector<int32_t>& v) {
  return Tensor::from_vector(v, {static_cast<int64_t>(v.size())}, DType::kI32);
}

TEST(Indexing, IndexRowsGathersAndConverts) {
  uint64_t seed = fresh_seed();
  std::mt19937_64 rng(seed);
  Tensor table = randn({7, 3, 4}, rng).to(DType::kBF16);
  std::vector<int32_t> idx = {6, 0, 6, 3};
  Tensor out = ops::index_rows(table, i32(idx), DType::kF32);
  ASSERT_EQ(out.shape(), (Shape{4, 3, 4}));
  EXPECT_EQ(out.dtype(), DType::kF32);
  for (size_t i = 0; i < idx.size(); ++i)
    for (int64_t j = 0; j < 12; ++j)
      EXPECT_EQ(out.item(i * 12 + j), table.item(idx[i] * 12 + j)) << "seed " << seed;
  EXPECT_THROW(ops::index_rows(table, i32({7}), DType::kF32), Error);
  EXPECT_THROW(ops::index_rows(table, i32({-1}), DType::kF32), Error);
}

TEST(Indexing, ArgmaxRowsTakesTheFirstMaximum) {
  Tensor x = Tensor::from_vector(
      std::vector<float>{1, 5, 5, 2, -INFINITY, -INFINITY, -3, 7, 0, NAN, -1, NAN, NAN, NAN, NAN},
      {5, 3}, DType::kF32);
  Tensor a = ops::argmax_rows(x);
  ASSERT_EQ(a.dtype(), DType::kI32);
  EXPECT_EQ(a.data_as<int32_t>()[0], 1);  // a tie: the first
  EXPECT_EQ(a.data_as<int32_t>()[1], 0);
  EXPECT_EQ(a.data_as<int32_t>()[2], 1);
  EXPECT_EQ(a.data_as<int32_t>()[3], 1);                      // NaN is skipped
  EXPECT_EQ(a.data_as<int32_t>()[4], 0);                      // only NaN
  EXPECT_THROW(ops::argmax_rows(x.to(DType::kBF16)), Error);  // half types only on CUDA
  // Into a given tensor: written there and returned; a wrong one is refused before any write.
  Tensor out = Tensor::from_vector(std::vector<int32_t>{9, 9, 9, 9, 9}, {5}, DType::kI32);
  Tensor b = ops::argmax_rows(x, out);
  EXPECT_EQ(b.data(), out.data());
  EXPECT_EQ(out.data_as<int32_t>()[0], 1);
  EXPECT_EQ(out.data_as<int32_t>()[2], 1);
  EXPECT_THROW(ops::argmax_rows(x, Tensor::empty({4}, DType::kI32)), Error);
  EXPECT_THROW(ops::argmax_rows(x, Tensor::empty({5}, DType::kF32)), Error);
  // A mirror: the picks also land in the half of `to` that half[0]'s low bit names.
  std::vector<int32_t> ring(10, -1);
  Tensor half = Tensor::from_vector(std::vector<int32_t>{7}, {1}, DType::kI32);
  ops::argmax_rows(x, out, {ring.data(), half});
  EXPECT_EQ(ring, (std::vector<int32_t>{-1, -1, -1, -1, -1, 1, 0, 1, 1, 0}));
  half.data_as<int32_t>()[0] = 8;
  ops::argmax_rows(x, out, {ring.data(), half});
  EXPECT_EQ(ring, (std::vector<int32_t>{1, 0, 1, 1, 0, 1, 0, 1, 1, 0}));
  EXPECT_THROW(ops::argmax_rows(x, out, {ring.data(), Tensor()}), Error);
}

TEST(Indexing, KvAppendWritesRowsFromStridedViews) {
  uint64_t seed = fresh_seed();
  std::mt19937_64 rng(seed);
  const int64_t slots = 3, cap = 5, hk = 2, d = 4, n = 3;
  Tensor kc = Tensor::zeros({slots, cap, hk, d}, DType::kF32);
  Tensor vc = Tensor::zeros({slots, cap, hk, d}, DType::kF32);
  // k and v as slices of one fused projection: rows strided by (2 + 2) heads.
  Tensor fused = randn({n, 2 * hk, d}, rng);
  Tensor k = fused.slice(1, 0, hk), v = fused.slice(1, hk, 2 * hk);
  std::vector<int32_t> rows = {2 * cap + 4, 0, cap + 1};
  ops::kv_append(kc, vc, k, v, i32(rows));
  for (int64_t i = 0; i < n; ++i) {
    int64_t s = rows[i] / cap, p = rows[i] % cap;
    for (int64_t h = 0; h < hk; ++h)
      for (int64_t t = 0; t < d; ++t) {
        EXPECT_EQ(kc.item(((s * cap + p) * hk + h) * d + t), fused.item((i * 2 * hk + h) * d + t));
        EXPECT_EQ(vc.item(((s * cap + p) * hk + h) * d + t),
                  fused.item((i * 2 * hk + hk + h) * d + t));
      }
  }
  double untouched = 0;
  for (int64_t i = 0; i < cap * hk * d; ++i) untouched += std::abs(kc.item(cap * hk * d + i));
  EXPECT_NE(untouched, 0.0);                                       // slot 1 row 1 was written ...
  EXPECT_EQ(kc.item(cap * hk * d), 0.0);                           // ... and its row 0 was not
  EXPECT_THROW(ops::kv_append(kc, vc, k, v, i32({0, 1})), Error);  // count mismatch
  EXPECT_THROW(ops::kv_append(kc, vc, k, v, i32({0, 1, slots * cap})), Error);  // out of range
}

TEST(Indexing, AttentionVarlenMatchesPerSequenceAttention) {
  uint64_t seed = fresh_seed();
  std::mt19937_64 rng(seed);
  const int64_t slots = 4, cap = 12, hq = 4, hk = 2, d = 8;
  Tensor kc = randn({slots, cap, hk, d}, rng), vc = randn({slots, cap, hk, d}, rng);
  // A continued prefill in slot 3 (5 new rows after 4 cached), a decode row in slot 0 and a
  // fresh prompt in slot 2; slot 1 idle.
  std::vector<ops::AttentionSeq> seqs = {{3, 0, 5, 9}, {0, 5, 1, 7}, {2, 6, 3, 3}};
  Tensor q = randn({9, hq, d}, rng);
  ops::AttentionParams p;
  p.scale = 0.3f;
  p.window = 4;
  p.softcap = 5.0f;
  Tensor got = ops::attention_varlen(q, kc, vc, seqs, p);
  for (const auto& s : seqs) {
    ops::AttentionParams ps = p;
    ps.q_offset = s.kv_len - s.q_len;
    Tensor want = ops::attention(q.slice(0, s.q_start, s.q_start + s.q_len),
                                 kc.select(0, s.slot).slice(0, 0, s.kv_len),
                                 vc.select(0, s.slot).slice(0, 0, s.kv_len), ps);
    Tensor g = got.slice(0, s.q_start, s.q_start + s.q_len).contiguous();
    for (int64_t i = 0; i < want.numel(); ++i)
      ASSERT_EQ(g.item(i), want.item(i)) << "slot " << s.slot << " seed " << seed;
  }
  EXPECT_THROW(ops::attention_varlen(q, kc, vc, {{0, 8, 2, 4}}, p), Error);   // rows past q
  EXPECT_THROW(ops::attention_varlen(q, kc, vc, {{0, 0, 2, 13}}, p), Error);  // keys past cap
}

}  // namespace
}  // namespace khub
