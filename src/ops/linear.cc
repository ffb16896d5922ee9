// Reference linear: OpenBLAS sgemm. Half-precision weights are never expanded as a whole: a block
// of kBlockRows rows is widened to f32 into a thread-local scratch buffer and multiplied, so the
// resident weight stays 2 bytes/element and the scratch stays in L2.
#include "ops/linear.h"

#include <cblas.h>

#include <algorithm>
#include <bit>
#include <vector>

#include "ops/ops_cuda.h"

extern "C" void openblas_set_num_threads(int);

namespace khub::ops {
namespace {

constexpr int64_t kBlockRows = 256;

void widen_rows(const Tensor& w, int64_t row0, int64_t rows, float* dst) {
  int64_t in = w.size(1);
  const uint16_t* src = static_cast<const uint16_t*>(w.data()) + row0 * in;
  int64_t n = rows * in;
  if (w.dtype() == DType::kBF16) {
    // Written as a shift so that the compiler vectorizes it.
    for (int64_t i = 0; i < n; ++i) dst[i] = std::bit_cast<float>(uint32_t{src[i]} << 16);
  } else {
    for (int64_t i = 0; i < n; ++i) dst[i] = f16_to_f32(src[i]);
  }
}

// Decode-sized products (a few rows): one pass over the weight, widening in registers, all rows
// on one thread (OpenMP here lost 20× to OpenBLAS's spinning threads on a loaded 2-core machine).
// Eight partial sums per row let the compiler vectorize without -ffast-math.
template <typename Widen>
void gemv_rows(const float* x, int64_t m, const uint16_t* w, int64_t in, int64_t out, float* y,
               Widen widen) {
  for (int64_t j = 0; j < out; ++j) {
    const uint16_t* wj = w + j * in;
    for (int64_t r = 0; r < m; ++r) {
      const float* xr = x + r * in;
      float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      int64_t k = 0;
      for (; k + 8 <= in; k += 8) {
        for (int l = 0; l < 8; ++l) acc[l] += xr[k + l] * widen(wj[k + l]);
      }
      float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
      for (; k < in; ++k) s += xr[k] * widen(wj[k]);
      y[r * out + j] = s;
    }
  }
}

constexpr int64_t kGemvMaxRows = 4;

}  // namespace

void set_blas_threads(int n) {
  if (n > 0) openblas_set_num_threads(n);
}

namespace {

void check_cuda_linear(const Tensor& x, const Tensor& w, const Tensor& bias) {
  KHUB_CHECK_ARG(w.dim() == 2 && x.dim() >= 1 && x.size(-1) == w.size(1), "ops::linear: input ",
                 x.describe(), " does not match weight ", w.describe());
  KHUB_CHECK_ARG(!bias.defined() || bias.numel() == w.size(0), "ops::linear: bias ",
                 bias.describe(), " for ", w.size(0), " outputs");
}

}  // namespace

std::vector<Tensor> linear_split(const Tensor& x, const Tensor& w, const Tensor& bias,
                                 const std::vector<int64_t>& sizes, bool weight_constant) {
  int64_t total = 0;
  for (int64_t n : sizes) {
    KHUB_CHECK_ARG(n > 0, "ops::linear_split: part sizes must be positive");
    total += n;
  }
  KHUB_CHECK_ARG(!sizes.empty() && w.dim() == 2 && total == w.size(0), "ops::linear_split: parts ",
                 "of ", total, " features in all for weight ", w.describe());
  if (x.device().is_cuda()) {
    check_cuda_linear(x, w, bias);
    return cuda::linear_split(x, w, bias, sizes, weight_constant);
  }
  Tensor y = linear(x, w, bias, weight_constant);
  std::vector<Tensor> parts;
  int64_t start = 0;
  for (int64_t n : sizes) {
    parts.push_back(y.slice(y.dim() - 1, start, start + n).contiguous());
    start += n;
  }
  return parts;
}

Tensor linear(const Tensor& x, const Tensor& w, const Tensor& bias, bool weight_constant) {
  if (x.device().is_cuda()) {
    check_cuda_linear(x, w, bias);
    return cuda::linear(x, w, bias, weight_constant);
  }
  KHUB_CHECK_ARG(x.device().is_cpu() && w.device().is_cpu(), "ops::linear on CPU got ",
                 x.describe(), " and ", w.describe());
  KHUB_CHECK_ARG(x.dtype() == DType::kF32, "ops::linear: activations must be f32, got ",
                 x.describe());
  KHUB_CHECK_ARG(w.dim() == 2 && w.is_contiguous(), "ops::linear: weight must be a contiguous 2-d ",
                 "tensor, got ", w.describe());
  int64_t in = w.size(1), out = w.size(0);
  KHUB_CHECK_ARG(x.size(-1) == in, "ops::linear: input ", x.describe(), " has ", x.size(-1),
                 " features, weight ", w.describe(), " expects ", in);
  Tensor xc = x.contiguous();
  int64_t m = xc.numel() / in;
  Shape out_shape = x.shape();
  out_shape.back() = out;
  Tensor y = Tensor::empty(out_shape, DType::kF32);
  const float* xp = xc.data_as<float>();
  float* yp = y.data_as<float>();
  if (m > 0 && w.dtype() == DType::kF32) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, out, in, 1.0f, xp, in,
                w.data_as<float>(), in, 0.0f, yp, out);
  } else if (m > 0 && m <= kGemvMaxRows && w.dtype() == DType::kBF16) {
    gemv_rows(xp, m, static_cast<const uint16_t*>(w.data()), in, out, yp,
              [](uint16_t v) { return std::bit_cast<float>(uint32_t{v} << 16); });
  } else if (m > 0 && (w.dtype() == DType::kBF16 || w.dtype() == DType::kF16)) {
    thread_local std::vector<float> scratch;
    scratch.resize(static_cast<size_t>(kBlockRows * in));
    for (int64_t r0 = 0; r0 < out; r0 += kBlockRows) {
      int64_t rows = std::min(kBlockRows, out - r0);
      widen_rows(w, r0, rows, scratch.data());
      // y[:, r0:r0+rows] = x · block^T ; ldc = out writes the column slice in place.
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, rows, in, 1.0f, xp, in,
                  scratch.data(), in, 0.0f, yp + r0, out);
    }
  } else if (m > 0) {
    fail(ErrorKind::kUnsupported, "ops::linear: weight dtype ", dtype_name(w.dtype()),
         " (supported: f32, bf16, f16)");
  }
  if (bias.defined()) {
    KHUB_CHECK_ARG(bias.numel() == out, "ops::linear: bias ", bias.describe(), " for ", out,
                   " outputs");
    Tensor b = bias.to(DType::kF32).contiguous();
    const float* bp = b.data_as<float>();
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < out; ++j) yp[i * out + j] += bp[j];
    }
  }
  return y;
}

}  // namespace khub::ops
