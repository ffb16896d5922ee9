#include "ops/indexing.h"

#include <cmath>

#include <algorithm>
#include <cstring>

#include "ops/ops_cuda.h"

namespace khub::ops {
namespace {

void check_index(const Tensor& idx, const Tensor& data, const char* op) {
  KHUB_CHECK_ARG(idx.defined() && idx.dim() == 1 && idx.dtype() == DType::kI32 &&
                     idx.is_contiguous() && idx.device() == data.device(),
                 op, ": indices must be a contiguous 1-d i32 tensor on ", data.device().str(),
                 ", got ", idx.describe());
}

}  // namespace

Tensor index_rows(const Tensor& table, const Tensor& idx, DType out_dtype) {
  const char* op = "ops::index_rows";
  KHUB_CHECK_ARG(table.defined() && table.dim() >= 1 && table.is_contiguous(), op, ": table ",
                 table.describe(), " must be contiguous with at least one dim");
  check_index(idx, table, op);
  if (table.device().is_cuda()) return cuda::index_rows(table, idx, out_dtype);
  Shape shape = table.shape();
  shape[0] = idx.size(0);
  Tensor out = Tensor::empty(shape, out_dtype);
  const int32_t* ip = idx.data_as<int32_t>();
  for (int64_t i = 0; i < idx.size(0); ++i) {
    KHUB_CHECK_ARG(ip[i] >= 0 && ip[i] < table.size(0), op, ": index ", ip[i], " at ", i,
                   " is outside [0, ", table.size(0), ")");
    out.select(0, i).copy_from(table.select(0, ip[i]));
  }
  return out;
}

void kv_append(Tensor& k_cache, Tensor& v_cache, const Tensor& k, const Tensor& v,
               const Tensor& rows) {
  const char* op = "ops::kv_append";
  KHUB_CHECK_ARG(k_cache.dim() == 4 && k_cache.is_contiguous() &&
                     v_cache.shape() == k_cache.shape() && v_cache.is_contiguous() &&
                     v_cache.dtype() == k_cache.dtype(),
                 op, ": caches ", k_cache.describe(), " and ", v_cache.describe(),
                 " must be contiguous [S, C, Hk, D] of one dtype");
  Shape row_shape = {k_cache.size(2), k_cache.size(3)};
  for (const Tensor* t : {&k, &v}) {
    KHUB_CHECK_ARG(t->dim() == 3 && t->size(1) == row_shape[0] && t->size(2) == row_shape[1] &&
                       t->dtype() == k_cache.dtype() && t->device() == k_cache.device() &&
                       t->stride(2) == 1 && t->stride(1) == row_shape[1],
                   op, ": ", t->describe(), " must be [n, ", row_shape[0], ", ", row_shape[1],
                   "] of the cache's dtype and device with contiguous rows");
  }
  check_index(rows, k_cache, op);
  KHUB_CHECK_ARG(k.size(0) == rows.size(0) && v.size(0) == rows.size(0), op, ": ", k.size(0),
                 " keys and ", v.size(0), " values for ", rows.size(0), " rows");
  if (k_cache.device().is_cuda()) return cuda::kv_append(k_cache, v_cache, k, v, rows);
  int64_t total = k_cache.size(0) * k_cache.size(1);
  Tensor kr = k_cache.view({total, row_shape[0], row_shape[1]});
  Tensor vr = v_cache.view({total, row_shape[0], row_shape[1]});
  const int32_t* ip = rows.data_as<int32_t>();
  for (int64_t i = 0; i < rows.size(0); ++i) {
    KHUB_CHECK_ARG(ip[i] >= 0 && ip[i] < total, op, ": row ", ip[i], " at ", i,
                   " is outside the cache's ", total, " rows");
    kr.select(0, ip[i]).copy_from(k.select(0, i));
    vr.select(0, ip[i]).copy_from(v.select(0, i));
  }
}

Tensor argmax_rows(const Tensor& x, Tensor out, const PicksMirror& mirror) {
  bool half = x.device().is_cuda() && (x.dtype() == DType::kBF16 || x.dtype() == DType::kF16);
  KHUB_CHECK_ARG(x.defined() && x.dim() == 2 && (x.dtype() == DType::kF32 || half) &&
                     x.is_contiguous() && x.size(1) > 0,
                 "ops::argmax_rows: x must be a contiguous [rows, cols > 0] in f32 (on CUDA also ",
                 "bf16 or f16), got ", x.describe());
  KHUB_CHECK_ARG(
      !out.defined() || (out.dtype() == DType::kI32 && out.dim() == 1 && out.size(0) == x.size(0) &&
                         out.is_contiguous() && out.device() == x.device()),
      "ops::argmax_rows: out must be a contiguous i32 [", x.size(0), "] on ", x.device().str(),
      ", got ", out.describe());
  KHUB_CHECK_ARG(
      mirror.to == nullptr || (mirror.half.defined() && mirror.half.dtype() == DType::kI32 &&
                               mirror.half.numel() >= 1 && mirror.half.device() == x.device()),
      "ops::argmax_rows: a mirror needs an i32 half selector on ", x.device().str(), ", got ",
      mirror.half.describe());
  if (x.device().is_cuda()) return cuda::argmax_rows(x, out, mirror);
  if (!out.defined()) out = Tensor::empty({x.size(0)}, DType::kI32);
  const float* p = x.data_as<float>();
  for (int64_t r = 0; r < x.size(0); ++r) {
    const float* row = p + r * x.size(1);
    int64_t best = -1;
    for (int64_t i = 0; i < x.size(1); ++i) {
      if (!std::isnan(row[i]) && (best < 0 || row[i] > row[best])) best = i;
    }
    out.data_as<int32_t>()[r] = static_cast<int32_t>(std::max<int64_t>(best, 0));
  }
  if (mirror.to != nullptr) {
    int32_t* half = mirror.to + (mirror.half.data_as<int32_t>()[0] & 1) * x.size(0);
    std::copy(out.data_as<int32_t>(), out.data_as<int32_t>() + x.size(0), half);
  }
  return out;
}

}  // namespace khub::ops
