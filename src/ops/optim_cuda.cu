// Fused multi-tensor optimizer steps and the global gradient norm on CUDA (ops/optim.h,
// docs/design.md §10). Every parameter of a model is one entry of a table (pointers and lengths)
// uploaded per call; the work is cut into chunks of kChunk elements and one launch runs every
// chunk of every tensor, so a step costs one kernel instead of one (or several) per parameter.
// The clipping decision (max_norm / (norm + 1e-6) < 1) is taken on the device from the reduced
// norm, so the only host synchronisation of a clipped step is reading the norm back at the end.
#include <cmath>
#include <cstring>
#include <vector>

#include "core/cuda/cuda_check.h"
#include "ops/cuda_common.cuh"
#include "ops/optim.h"

namespace khub::ops {
namespace {

constexpr int64_t kChunk = 65536;
constexpr int kThreads = 256;

struct Entry {
  float* p;
  const float* g;
  float* a;  // exp_avg or the momentum buffer (may be null)
  float* b;  // exp_avg_sq (may be null)
  int64_t n;
};

struct Chunk {
  int32_t entry;
  int64_t start;
};

// The table and chunk list on the device (freed with the tensors when the call returns; the
// launches are ordered before any later reuse of that memory on the same stream).
struct Table {
  Tensor entries, chunks;
  int64_t count = 0;
};

Table upload(const std::vector<Entry>& entries, Device device) {
  std::vector<Chunk> chunks;
  for (size_t i = 0; i < entries.size(); ++i) {
    for (int64_t s = 0; s < entries[i].n; s += kChunk)
      chunks.push_back({static_cast<int32_t>(i), s});
  }
  Table t;
  t.count = static_cast<int64_t>(chunks.size());
  if (t.count == 0) return t;
  auto bytes = [&](const void* src, size_t n) {
    Tensor host = Tensor::empty({static_cast<int64_t>(n)}, DType::kU8);
    std::memcpy(host.data(), src, n);
    return host.to(device);
  };
  t.entries = bytes(entries.data(), entries.size() * sizeof(Entry));
  t.chunks = bytes(chunks.data(), chunks.size() * sizeof(Chunk));
  return t;
}

void check_tensors(const std::vector<Tensor>& ts, const std::vector<Tensor>& like, const char* op,
                   const char* name) {
  KHUB_CHECK_ARG(ts.size() == like.size(), op, ": ", ts.size(), " ", name, " for ", like.size(),
                 " parameters");
  for (size_t i = 0; i < ts.size(); ++i) {
    KHUB_CHECK_ARG(ts[i].defined() && ts[i].device().is_cuda() && ts[i].dtype() == DType::kF32 &&
                       ts[i].is_contiguous() && ts[i].numel() == like[i].numel() &&
                       ts[i].device() == like[0].device(),
                   op, ": ", name, "[", i, "] ", ts[i].defined() ? ts[i].describe() : "undefined",
                   " must be a contiguous f32 tensor on ", like[0].device().str(), " with ",
                   like[i].numel(), " elements");
  }
}

float* f(const Tensor& t) { return t.defined() ? t.data_as<float>() : nullptr; }

__device__ __forceinline__ void adamw_chunk(const Entry* __restrict__ entries,
                                            const Chunk* __restrict__ chunks,
                                            const AdamWScalars& s) {
  const Chunk c = chunks[blockIdx.x];
  const Entry e = entries[c.entry];
  const int64_t end = min(e.n, c.start + kChunk);
  for (int64_t i = c.start + threadIdx.x; i < end; i += blockDim.x) {
    float p = e.p[i], m = e.a[i], v = e.b[i];
    adamw_update(p, e.g[i], m, v, s);
    e.p[i] = p;
    e.a[i] = m;
    e.b[i] = v;
  }
}

__global__ void adamw_kernel(const Entry* __restrict__ entries, const Chunk* __restrict__ chunks,
                             AdamWScalars s) {
  adamw_chunk(entries, chunks, s);
}

// The captured step's kernel: the scalars come from device memory the host rewrites per step.
__global__ void adamw_kernel_dev(const Entry* __restrict__ entries,
                                 const Chunk* __restrict__ chunks,
                                 const AdamWScalars* __restrict__ s) {
  const AdamWScalars sc = *s;
  adamw_chunk(entries, chunks, sc);
}

__global__ void sgd_kernel(const Entry* __restrict__ entries, const Chunk* __restrict__ chunks,
                           SGDScalars s) {
  const Chunk c = chunks[blockIdx.x];
  const Entry e = entries[c.entry];
  const int64_t end = min(e.n, c.start + kChunk);
  for (int64_t i = c.start + threadIdx.x; i < end; i += blockDim.x) {
    float p = e.p[i];
    sgd_update(p, e.g[i], e.a != nullptr ? e.a + i : nullptr, s);
    e.p[i] = p;
  }
}

// partial[chunk] = Σ g² over the chunk, in double.
__global__ void square_sum_kernel(const Entry* __restrict__ entries,
                                  const Chunk* __restrict__ chunks, double* __restrict__ partial) {
  __shared__ double scratch[kThreads];
  const Chunk c = chunks[blockIdx.x];
  const Entry e = entries[c.entry];
  const int64_t end = min(e.n, c.start + kChunk);
  double acc = 0.0;
  for (int64_t i = c.start + threadIdx.x; i < end; i += blockDim.x) {
    const double g = e.g[i];
    acc += g * g;
  }
  scratch[threadIdx.x] = acc;
  __syncthreads();
  for (int w = kThreads / 2; w > 0; w >>= 1) {
    if (threadIdx.x < w) scratch[threadIdx.x] += scratch[threadIdx.x + w];
    __syncthreads();
  }
  if (threadIdx.x == 0) partial[blockIdx.x] = scratch[0];
}

// out[0] = sqrt(Σ partial) (one block, fixed order: the same norm for the same grads), out[1] =
// the scale to apply (1 when no clipping applies).
__global__ void norm_kernel(const double* __restrict__ partial, int64_t n, double max_norm,
                            double* __restrict__ out) {
  __shared__ double scratch[kThreads];
  double acc = 0.0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) acc += partial[i];
  scratch[threadIdx.x] = acc;
  __syncthreads();
  for (int w = kThreads / 2; w > 0; w >>= 1) {
    if (threadIdx.x < w) scratch[threadIdx.x] += scratch[threadIdx.x + w];
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    const double norm = sqrt(scratch[0]);
    const double coef = max_norm > 0.0 && isfinite(norm) ? max_norm / (norm + 1e-6) : 1.0;
    out[0] = norm;
    out[1] = coef < 1.0 ? coef : 1.0;
  }
}

__global__ void scale_kernel(const Entry* __restrict__ entries, const Chunk* __restrict__ chunks,
                             const double* __restrict__ norm_scale) {
  const double coef = norm_scale[1];
  if (coef >= 1.0) return;
  const float scale = static_cast<float>(coef);
  const Chunk c = chunks[blockIdx.x];
  const Entry e = entries[c.entry];
  const int64_t end = min(e.n, c.start + kChunk);
  float* g = const_cast<float*>(e.g);
  for (int64_t i = c.start + threadIdx.x; i < end; i += blockDim.x) g[i] *= scale;
}

std::vector<Entry> adamw_entries(const std::vector<Tensor>& params,
                                 const std::vector<Tensor>& grads,
                                 const std::vector<Tensor>& exp_avg,
                                 const std::vector<Tensor>& exp_avg_sq, const char* op) {
  check_tensors(params, params, op, "params");
  check_tensors(grads, params, op, "grads");
  check_tensors(exp_avg, params, op, "exp_avg");
  check_tensors(exp_avg_sq, params, op, "exp_avg_sq");
  std::vector<Entry> entries;
  for (size_t i = 0; i < params.size(); ++i) {
    entries.push_back(
        {f(params[i]), f(grads[i]), f(exp_avg[i]), f(exp_avg_sq[i]), params[i].numel()});
  }
  return entries;
}

std::vector<Entry> grad_entries(const std::vector<Tensor>& grads, const char* op) {
  check_tensors(grads, grads, op, "grads");
  std::vector<Entry> entries;
  for (const Tensor& t : grads) entries.push_back({nullptr, f(t), nullptr, nullptr, t.numel()});
  return entries;
}

// The square sums, the norm and (max_norm > 0) the clip into out[0..1], on the current stream.
void norm_and_clip(const Table& t, double max_norm, double* out, Device device) {
  cudaStream_t stream = khub::cuda::stream_for(device);
  Tensor partial = Tensor::empty({t.count}, DType::kF64, device);
  const auto* e = static_cast<const Entry*>(t.entries.data());
  const auto* c = static_cast<const Chunk*>(t.chunks.data());
  square_sum_kernel<<<static_cast<unsigned>(t.count), kThreads, 0, stream>>>(
      e, c, partial.data_as<double>());
  norm_kernel<<<1, kThreads, 0, stream>>>(partial.data_as<double>(), t.count, max_norm, out);
  if (max_norm > 0.0) {
    scale_kernel<<<static_cast<unsigned>(t.count), kThreads, 0, stream>>>(e, c, out);
  }
  KHUB_CUDA_CHECK_LAUNCH();
}

}  // namespace

void adamw_step_multi(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                      const std::vector<Tensor>& exp_avg, const std::vector<Tensor>& exp_avg_sq,
                      const AdamWScalars& s) {
  const char* op = "ops::adamw_step_multi";
  if (params.empty()) return;
  std::vector<Entry> entries = adamw_entries(params, grads, exp_avg, exp_avg_sq, op);
  const Device device = params[0].device();
  khub::cuda::DeviceGuard g(device);
  Table t = upload(entries, device);
  if (t.count == 0) return;
  adamw_kernel<<<static_cast<unsigned>(t.count), kThreads, 0, khub::cuda::stream_for(device)>>>(
      static_cast<const Entry*>(t.entries.data()), static_cast<const Chunk*>(t.chunks.data()), s);
  KHUB_CUDA_CHECK_LAUNCH();
}

void sgd_step_multi(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                    const std::vector<Tensor>& momentum_buffers, const SGDScalars& s) {
  const char* op = "ops::sgd_step_multi";
  if (params.empty()) return;
  check_tensors(params, params, op, "params");
  check_tensors(grads, params, op, "grads");
  if (s.uses_momentum) check_tensors(momentum_buffers, params, op, "momentum buffers");
  std::vector<Entry> entries;
  for (size_t i = 0; i < params.size(); ++i) {
    entries.push_back({f(params[i]), f(grads[i]),
                       s.uses_momentum ? f(momentum_buffers[i]) : nullptr, nullptr,
                       params[i].numel()});
  }
  const Device device = params[0].device();
  khub::cuda::DeviceGuard g(device);
  Table t = upload(entries, device);
  if (t.count == 0) return;
  sgd_kernel<<<static_cast<unsigned>(t.count), kThreads, 0, khub::cuda::stream_for(device)>>>(
      static_cast<const Entry*>(t.entries.data()), static_cast<const Chunk*>(t.chunks.data()), s);
  KHUB_CUDA_CHECK_LAUNCH();
}

double global_norm_and_clip(const std::vector<Tensor>& tensors, double max_norm) {
  const char* op = "ops::global_norm_and_clip";
  if (tensors.empty()) return 0.0;
  std::vector<Entry> entries = grad_entries(tensors, op);
  const Device device = tensors[0].device();
  khub::cuda::DeviceGuard g(device);
  Table t = upload(entries, device);
  if (t.count == 0) return 0.0;
  Tensor out = Tensor::empty({2}, DType::kF64, device);
  norm_and_clip(t, max_norm, out.data_as<double>(), device);
  return out.to(Device::cpu()).data_as<double>()[0];
}

MultiTensorPlan plan_adamw(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                           const std::vector<Tensor>& exp_avg,
                           const std::vector<Tensor>& exp_avg_sq) {
  KHUB_CHECK_ARG(!params.empty(), "ops::plan_adamw: no parameters");
  std::vector<Entry> entries = adamw_entries(params, grads, exp_avg, exp_avg_sq, "ops::plan_adamw");
  khub::cuda::DeviceGuard g(params[0].device());
  Table t = upload(entries, params[0].device());
  return {t.entries, t.chunks, t.count};
}

MultiTensorPlan plan_grads(const std::vector<Tensor>& grads) {
  KHUB_CHECK_ARG(!grads.empty(), "ops::plan_grads: no gradients");
  std::vector<Entry> entries = grad_entries(grads, "ops::plan_grads");
  khub::cuda::DeviceGuard g(grads[0].device());
  Table t = upload(entries, grads[0].device());
  return {t.entries, t.chunks, t.count};
}

void adamw_step_planned(const MultiTensorPlan& plan, const Tensor& scalars) {
  KHUB_CHECK_ARG(scalars.defined() && scalars.device() == plan.entries.device() &&
                     scalars.dtype() == DType::kU8 &&
                     scalars.numel() == static_cast<int64_t>(sizeof(AdamWScalars)),
                 "ops::adamw_step_planned: scalars must be u8 [", sizeof(AdamWScalars), "] on ",
                 plan.entries.device().str());
  if (plan.count == 0) return;
  const Device device = scalars.device();
  khub::cuda::DeviceGuard g(device);
  adamw_kernel_dev<<<static_cast<unsigned>(plan.count), kThreads, 0,
                     khub::cuda::stream_for(device)>>>(
      static_cast<const Entry*>(plan.entries.data()), static_cast<const Chunk*>(plan.chunks.data()),
      static_cast<const AdamWScalars*>(scalars.data()));
  KHUB_CUDA_CHECK_LAUNCH();
}

void global_norm_and_clip_planned(const MultiTensorPlan& plan, double max_norm, const Tensor& out) {
  KHUB_CHECK_ARG(out.defined() && out.dtype() == DType::kF64 && out.numel() == 2 &&
                     out.device() == plan.entries.device(),
                 "ops::global_norm_and_clip_planned: out must be f64 [2] on the plan's device");
  if (plan.count == 0) return;
  khub::cuda::DeviceGuard g(out.device());
  Table t{plan.entries, plan.chunks, plan.count};
  norm_and_clip(t, max_norm, out.data_as<double>(), out.device());
}

}  // namespace khub::ops
