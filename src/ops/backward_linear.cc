// Backward of the reference linear (ops/linear.cc, OpenBLAS sgemm for both products), of the
// embedding gather (ops/elementwise.cc) and the cross-entropy loss over logits rows. CUDA tensors
// go to backward_cuda.cu after the checks common to both devices.
#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <thread>
#include <vector>

#include "ops/backward.h"
#include "ops/backward_checks.h"
#include "ops/ops_cuda.h"

namespace khub::ops {
using detail::check_accumulator;
using detail::check_operand;

Tensor linear_backward(const Tensor& x, const Tensor& w, const Tensor& dy, Tensor* dw, Tensor* db,
                       bool need_dx) {
  const char* op = "ops::linear_backward";
  check_operand(x, x, op, "x");
  check_operand(w, x, op, "w");
  check_operand(dy, x, op, "dy");
  KHUB_CHECK_ARG(w.dim() == 2 && w.is_contiguous(), op, ": weight must be a contiguous 2-d ",
                 "tensor, got ", w.describe());
  int64_t out = w.size(0), in = w.size(1);
  KHUB_CHECK_ARG(x.dim() >= 1 && x.size(-1) == in, op, ": input ", x.describe(),
                 " does not match weight ", w.describe());
  Shape dy_shape = x.shape();
  dy_shape.back() = out;
  KHUB_CHECK_ARG(dy.shape() == dy_shape, op, ": dy ", dy.describe(), " for input ", x.describe(),
                 " and weight ", w.describe(), " (expected ", shape_str(dy_shape), ")");
  if (dw != nullptr) {
    check_accumulator(*dw, x, op, "dw");
    KHUB_CHECK_ARG(dw->shape() == w.shape(), op, ": dw ", dw->describe(), " must be ",
                   shape_str(w.shape()));
  }
  if (db != nullptr) {
    check_accumulator(*db, x, op, "db");
    KHUB_CHECK_ARG(db->numel() == out, op, ": db ", db->describe(), " must have ", out,
                   " elements");
  }
  if (x.device().is_cuda()) {
    Tensor dx;
    cuda::linear_backward(x, w, dy, need_dx ? &dx : nullptr, dw, db);
    return dx;
  }
  Tensor dyc = dy.contiguous();
  int64_t m = in == 0 ? 0 : x.numel() / in;
  const float* gp = dyc.data_as<float>();
  Tensor dx;
  if (need_dx) {
    // dx [m, in] = dy [m, out] · w [out, in].
    dx = Tensor::empty(x.shape(), DType::kF32);
    if (m > 0 && in > 0 && out > 0) {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, in, out, 1.0f, gp, out,
                  w.data_as<float>(), in, 0.0f, dx.data_as<float>(), in);
    } else {
      dx.fill(0.0);
    }
  }
  if (dw != nullptr && m > 0 && in > 0 && out > 0) {
    // dw [out, in] += dyᵀ [out, m] · x [m, in].
    Tensor xc = x.contiguous();
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, m, 1.0f, gp, out,
                xc.data_as<float>(), in, 1.0f, dw->data_as<float>(), in);
  }
  if (db != nullptr && m > 0) {
    // A sum over every row of the batch: double, then added once.
    std::vector<double> acc(out, 0.0);
    for (int64_t i = 0; i < m; ++i) {
      const float* gi = gp + i * out;
      for (int64_t j = 0; j < out; ++j) acc[j] += gi[j];
    }
    float* bp = db->data_as<float>();
    for (int64_t j = 0; j < out; ++j) bp[j] += static_cast<float>(acc[j]);
  }
  return dx;
}

void embedding_backward(const Tensor& dy, const std::vector<int32_t>& ids, float scale,
                        Tensor& dtable) {
  const char* op = "ops::embedding_backward";
  check_operand(dy, dy, op, "dy");
  check_accumulator(dtable, dy, op, "dtable");
  KHUB_CHECK_ARG(dtable.dim() == 2 && dtable.is_contiguous(), op, ": dtable ", dtable.describe(),
                 " must be a contiguous [V, H] tensor");
  int64_t vocab = dtable.size(0), h = dtable.size(1);
  int64_t n = static_cast<int64_t>(ids.size());
  KHUB_CHECK_ARG(dy.dim() >= 1 && dy.size(-1) == h && dy.numel() == n * h, op, ": dy ",
                 dy.describe(), " for ", n, " ids of a table ", dtable.describe());
  for (int64_t i = 0; i < n; ++i) {
    KHUB_CHECK_ARG(ids[i] >= 0 && ids[i] < vocab, op, ": token id ", ids[i], " at position ", i,
                   " is outside the vocabulary [0, ", vocab, ")");
  }
  if (dy.device().is_cuda()) {
    cuda::embedding_backward(dy, Tensor::from_vector(ids, {n}, DType::kI32).to(dy.device()), scale,
                             dtable);
    return;
  }
  Tensor dyc = dy.contiguous();
  const float* gp = dyc.data_as<float>();
  float* tp = dtable.data_as<float>();
  for (int64_t i = 0; i < n; ++i) {
    float* row = tp + static_cast<int64_t>(ids[i]) * h;
    const float* gi = gp + i * h;
    for (int64_t t = 0; t < h; ++t) row[t] += scale * gi[t];
  }
}

void embedding_backward(const Tensor& dy, const Tensor& ids, float scale, Tensor& dtable) {
  const char* op = "ops::embedding_backward";
  KHUB_CHECK_ARG(
      ids.defined() && ids.dtype() == DType::kI32 && ids.dim() == 1 && ids.device() == dy.device(),
      op, ": ids ", ids.defined() ? ids.describe() : "undefined",
      " must be [n] i32 on dy's device ", dy.device().str());
  if (!dy.device().is_cuda()) {
    Tensor host = ids.contiguous();
    const int32_t* p = host.data_as<int32_t>();
    embedding_backward(dy, std::vector<int32_t>(p, p + host.numel()), scale, dtable);
    return;
  }
  check_operand(dy, dy, op, "dy");
  check_accumulator(dtable, dy, op, "dtable");
  KHUB_CHECK_ARG(dtable.dim() == 2 && dtable.is_contiguous(), op, ": dtable ", dtable.describe(),
                 " must be a contiguous [V, H] tensor");
  KHUB_CHECK_ARG(
      dy.dim() >= 1 && dy.size(-1) == dtable.size(1) && dy.numel() == ids.numel() * dtable.size(1),
      op, ": dy ", dy.describe(), " for ", ids.numel(), " ids of a table ", dtable.describe());
  cuda::embedding_backward(dy, ids.contiguous(), scale, dtable);
}

double cross_entropy(const Tensor& logits_in, const std::vector<int32_t>& labels, float grad_scale,
                     Tensor* dlogits) {
  const char* op = "ops::cross_entropy";
  check_operand(logits_in, logits_in, op, "logits");
  KHUB_CHECK_ARG(logits_in.dim() >= 1 && logits_in.size(-1) > 0, op, ": logits ",
                 logits_in.describe(), " must be [..., V] with V > 0");
  int64_t vocab = logits_in.size(-1);
  int64_t rows = logits_in.numel() / vocab;
  KHUB_CHECK_ARG(static_cast<int64_t>(labels.size()) == rows, op, ": ", labels.size(),
                 " labels for ", rows, " rows of logits ", logits_in.describe());
  // Every label is checked before anything is written: an in-place call that fails leaves the
  // logits as they were.
  for (int64_t r = 0; r < rows; ++r) {
    int32_t y = labels[r];
    KHUB_CHECK_ARG(y == -100 || (y >= 0 && y < vocab), op, ": label ", y, " of row ", r,
                   " is outside [0, ", vocab, ") and is not -100 (ignored)");
  }
  if (logits_in.device().is_cuda()) {
    Tensor ids = Tensor::from_vector(labels, {rows}, DType::kI32).to(logits_in.device());
    return cuda::cross_entropy(logits_in, ids, grad_scale, dlogits);
  }
  if (dlogits != nullptr) {
    if (!dlogits->defined()) {
      *dlogits = Tensor::empty(logits_in.shape(), DType::kF32);
    } else {
      check_accumulator(*dlogits, logits_in, op, "dlogits");
      KHUB_CHECK_ARG(dlogits->shape() == logits_in.shape() && dlogits->is_contiguous(), op,
                     ": dlogits ", dlogits->describe(), " must be contiguous ",
                     shape_str(logits_in.shape()));
    }
  }
  // In place (dlogits is the logits tensor, hence contiguous): logits_in.contiguous() is then
  // that same storage, and each row is fully read before it is overwritten.
  Tensor logits = logits_in.contiguous();
  const float* xp = logits.data_as<float>();
  float* gp = dlogits != nullptr ? dlogits->data_as<float>() : nullptr;

  auto run_rows = [&](int64_t r0, int64_t r1, double* loss) {
    double total = 0.0;
    for (int64_t r = r0; r < r1; ++r) {
      const float* xr = xp + r * vocab;
      float* gr = gp != nullptr ? gp + r * vocab : nullptr;
      int32_t y = labels[r];
      if (y == -100) {
        if (gr != nullptr) std::fill(gr, gr + vocab, 0.0f);
        continue;
      }
      float mx = xr[0];
      for (int64_t j = 1; j < vocab; ++j) mx = std::max(mx, xr[j]);
      float x_label = xr[y];  // read before an in-place write replaces it
      // log Σ exp(x - max): each term is ≤ 1, summed in double over the (long) vocabulary.
      double sum = 0.0;
      if (gr != nullptr) {
        for (int64_t j = 0; j < vocab; ++j) {
          float e = std::exp(xr[j] - mx);
          gr[j] = e;
          sum += e;
        }
        float f = static_cast<float>(static_cast<double>(grad_scale) / sum);
        for (int64_t j = 0; j < vocab; ++j) gr[j] *= f;
        gr[y] -= grad_scale;
      } else {
        for (int64_t j = 0; j < vocab; ++j) sum += std::exp(xr[j] - mx);
      }
      total += std::log(sum) + static_cast<double>(mx) - static_cast<double>(x_label);
    }
    *loss = total;
  };

  // Rows are independent: split them over threads when there is enough work (a large vocabulary).
  int64_t threads = std::min<int64_t>(rows, std::thread::hardware_concurrency());
  if (rows * vocab < (1 << 20) || threads <= 1) {
    double loss = 0.0;
    run_rows(0, rows, &loss);
    return loss;
  }
  std::vector<double> part(threads, 0.0);
  std::vector<std::thread> pool;
  for (int64_t t = 0; t < threads; ++t) {
    pool.emplace_back(run_rows, rows * t / threads, rows * (t + 1) / threads, &part[t]);
  }
  for (auto& th : pool) th.join();
  double loss = 0.0;
  for (double l : part) loss += l;
  return loss;
}

}  // namespace khub::ops
