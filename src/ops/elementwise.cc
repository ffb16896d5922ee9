#include "ops/elementwise.h"

#include <cmath>
#include <cstring>

namespace khub::ops {

void add_inplace(Tensor& a, const Tensor& b) {
  KHUB_CHECK_ARG(a.shape() == b.shape() && a.dtype() == DType::kF32 && b.dtype() == DType::kF32 &&
                     a.is_contiguous(),
                 "ops::add_inplace: ", a.describe(), " += ", b.describe());
  Tensor bc = b.contiguous();
  float* ap = a.data_as<float>();
  const float* bp = bc.data_as<float>();
  for (int64_t i = 0, n = a.numel(); i < n; ++i) ap[i] += bp[i];
}

void scale_inplace(Tensor& a, float s) {
  KHUB_CHECK_ARG(a.dtype() == DType::kF32 && a.is_contiguous(),
                 "ops::scale_inplace: ", a.describe());
  float* ap = a.data_as<float>();
  for (int64_t i = 0, n = a.numel(); i < n; ++i) ap[i] *= s;
}

void softcap_inplace(Tensor& x, float cap) {
  KHUB_CHECK_ARG(x.dtype() == DType::kF32 && x.is_contiguous() && cap > 0,
                 "ops::softcap: ", x.describe(), " cap ", cap);
  float* p = x.data_as<float>();
  for (int64_t i = 0, n = x.numel(); i < n; ++i) p[i] = cap * std::tanh(p[i] / cap);
}

Tensor embedding(const Tensor& table, const std::vector<int32_t>& ids) {
  KHUB_CHECK_ARG(table.dim() == 2 && table.is_contiguous(), "ops::embedding: table ",
                 table.describe());
  int64_t vocab = table.size(0), h = table.size(1);
  Tensor out = Tensor::empty({static_cast<int64_t>(ids.size()), h}, DType::kF32);
  float* op = out.data_as<float>();
  for (size_t i = 0; i < ids.size(); ++i) {
    int32_t id = ids[i];
    KHUB_CHECK_ARG(id >= 0 && id < vocab, "token id ", id, " at position ", i,
                   " is outside the vocabulary [0, ", vocab, ")");
    Tensor row = table.select(0, id);
    Tensor dst = Tensor::from_blob(op + i * h, {h}, DType::kF32, Device::cpu(), nullptr);
    dst.copy_from(row);
  }
  return out;
}

}  // namespace khub::ops
