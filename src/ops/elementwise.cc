#include "ops/elementwise.h"

#include <cmath>
#include <cstring>

#include "ops/indexing.h"
#include "ops/ops_cuda.h"

namespace khub::ops {

void add_inplace(Tensor& a, const Tensor& b) {
  if (a.device().is_cuda()) return cuda::add_inplace(a, b);
  KHUB_CHECK_ARG(a.shape() == b.shape() && a.dtype() == DType::kF32 && b.dtype() == DType::kF32 &&
                     a.is_contiguous(),
                 "ops::add_inplace: ", a.describe(), " += ", b.describe());
  Tensor bc = b.contiguous();
  float* ap = a.data_as<float>();
  const float* bp = bc.data_as<float>();
  for (int64_t i = 0, n = a.numel(); i < n; ++i) ap[i] += bp[i];
}

void scale_inplace(Tensor& a, float s) {
  if (a.device().is_cuda()) return cuda::scale_inplace(a, s);
  KHUB_CHECK_ARG(a.dtype() == DType::kF32 && a.is_contiguous(),
                 "ops::scale_inplace: ", a.describe());
  float* ap = a.data_as<float>();
  for (int64_t i = 0, n = a.numel(); i < n; ++i) ap[i] *= s;
}

void softcap_inplace(Tensor& x, float cap) {
  KHUB_CHECK_ARG(cap > 0, "ops::softcap: cap ", cap, " must be positive");
  if (x.device().is_cuda()) return cuda::softcap_inplace(x, cap);
  KHUB_CHECK_ARG(x.dtype() == DType::kF32 && x.is_contiguous(), "ops::softcap: ", x.describe(),
                 " cap ", cap);
  float* p = x.data_as<float>();
  for (int64_t i = 0, n = x.numel(); i < n; ++i) p[i] = cap * std::tanh(p[i] / cap);
}

void zero_inplace(Tensor& t) {
  if (t.device().is_cuda()) return cuda::zero_inplace(t);
  if (t.is_contiguous()) {
    std::memset(t.data(), 0, t.nbytes());
  } else {
    t.fill(0.0);
  }
}

Tensor embedding(const Tensor& table, const std::vector<int32_t>& ids, DType out_dtype) {
  KHUB_CHECK_ARG(table.dim() == 2 && table.is_contiguous(), "ops::embedding: table ",
                 table.describe());
  int64_t vocab = table.size(0);
  for (size_t i = 0; i < ids.size(); ++i) {
    KHUB_CHECK_ARG(ids[i] >= 0 && ids[i] < vocab, "token id ", ids[i], " at position ", i,
                   " is outside the vocabulary [0, ", vocab, ")");
  }
  Tensor idx = Tensor::from_vector(ids, {static_cast<int64_t>(ids.size())}, DType::kI32);
  return index_rows(table, idx.to(table.device()), out_dtype);
}

Tensor cast(const Tensor& x, DType dtype) {
  if (x.device().is_cuda()) return cuda::cast(x, dtype);
  return x.to(dtype);
}

}  // namespace khub::ops
