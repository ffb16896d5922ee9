// The varlen batch the flash-attn tests (forward and backward) lay out: sequences of the given
// q_len / kv_len in permuted cache slots (some slots hold no sequence), one row of q/out that
// belongs to no sequence before each sequence and two after the last, a cache capacity past the
// longest kv_len (rows no sequence uses), and the `seqs` table of the `Attention` contract.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/tensor.h"

namespace khub::testing {

struct VarlenSeq {
  int64_t slot, q_start, q_len, kv_len;
};

struct VarlenBatch {
  std::vector<VarlenSeq> seqs;
  int64_t rows = 0;      // T: rows of q / out
  int64_t slots = 0;     // S
  int64_t capacity = 0;  // C
  int64_t max_q_len = 0, max_kv_len = 0;
  std::vector<char> owned;  // [T]: the row belongs to a sequence

  // `seqs` [N, 4] i32 on the host: slot, q_start, q_len, kv_len.
  Tensor table() const {
    const int64_t n = static_cast<int64_t>(seqs.size());
    Tensor t = Tensor::empty({n, 4}, DType::kI32);
    for (int64_t i = 0; i < n; ++i) {
      int32_t* r = t.data_as<int32_t>() + 4 * i;
      r[0] = static_cast<int32_t>(seqs[i].slot);
      r[1] = static_cast<int32_t>(seqs[i].q_start);
      r[2] = static_cast<int32_t>(seqs[i].q_len);
      r[3] = static_cast<int32_t>(seqs[i].kv_len);
    }
    return t;
  }
  // "<name> bf16 D=128 Hq=16 Hk=8 T=300 (seed N)": what a failure names.
  std::string describe(const std::string& name, DType dtype, int64_t d, int64_t hq, int64_t hk,
                       uint64_t seed) const {
    return name + " " + std::string(dtype_name(dtype)) + " D=" + std::to_string(d) +
           " Hq=" + std::to_string(hq) + " Hk=" + std::to_string(hk) +
           " T=" + std::to_string(rows) + " (seed " + std::to_string(seed) + ")";
  }
};

// Shuffles the slots with rng first (the tests' inputs are drawn after it, from the same rng).
inline VarlenBatch varlen_batch(const std::vector<int64_t>& q_lens,
                                const std::vector<int64_t>& kv_lens, std::mt19937_64& rng) {
  EXPECT_EQ(kv_lens.size(), q_lens.size());
  VarlenBatch b;
  const int64_t n = static_cast<int64_t>(std::min(q_lens.size(), kv_lens.size()));
  b.max_kv_len = *std::max_element(kv_lens.begin(), kv_lens.end());
  b.max_q_len = *std::max_element(q_lens.begin(), q_lens.end());
  b.capacity = b.max_kv_len + 7;  // room the sequences do not use
  b.slots = n + 3;
  std::vector<int64_t> perm(b.slots);
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), rng);
  for (int64_t i = 0; i < n; ++i) {
    b.rows += 1;
    b.seqs.push_back({perm[i], b.rows, q_lens[i], kv_lens[i]});
    b.rows += q_lens[i];
  }
  b.rows += 2;
  b.owned.assign(b.rows, 0);
  for (const VarlenSeq& s : b.seqs)
    for (int64_t i = 0; i < s.q_len; ++i) b.owned[s.q_start + i] = 1;
  return b;
}

}  // namespace khub::testing
