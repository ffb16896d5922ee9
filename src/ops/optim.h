// The optimizer arithmetic of training (docs/design.md §10): the per-element update rules of
// torch.optim's single-tensor AdamW and SGD, written once and used by the CPU loops
// (train/optimizer.cc) and the fused multi-tensor CUDA kernels (optim_cuda.cu), and the global
// gradient norm / clipping over many tensors. Every scalar arrives in f32, as torch casts Python
// floats to the tensor's opmath type, and every line rounds to f32 as each torch op does.
#pragma once

#include <vector>

#include "core/tensor.h"

#if defined(__CUDACC__)
#define KHUB_HD __host__ __device__ __forceinline__
#else
#define KHUB_HD inline
#endif

namespace khub::ops {

struct AdamWScalars {
  float decay = 1.0f;        // 1 - lr · weight_decay
  bool decays = false;       // weight_decay != 0
  float weight = 0.1f;       // the lerp weight 1 - β1
  bool small_weight = true;  // |weight| < 0.5: torch's lerp picks its formula by it
  float beta2 = 0.999f, one_minus_beta2 = 0.001f;
  float bc2_sqrt = 1.0f;  // sqrt(1 - β2^t)
  float eps = 1e-8f;
  float neg_step_size = 0.0f;  // -lr / (1 - β1^t)
};

// One element of torch's _single_tensor_adamw, op by op.
KHUB_HD void adamw_update(float& p, float g, float& m, float& v, const AdamWScalars& s) {
  float pj = s.decays ? p * s.decay : p;  // param.mul_(1 - lr * weight_decay)
  const float diff = g - m;               // exp_avg.lerp_(grad, 1 - beta1)
  const float mj = s.small_weight ? m + s.weight * diff : g - diff * (1.0f - s.weight);
  const float vj = v * s.beta2 + s.one_minus_beta2 * g * g;  // mul_(β2).addcmul_(g, g, 1 - β2)
  const float denom = sqrtf(vj) / s.bc2_sqrt + s.eps;        // (v.sqrt() / bc2_sqrt).add_(eps)
  p = pj + s.neg_step_size * (mj / denom);                   // param.addcdiv_(m, denom, -step_size)
  m = mj;
  v = vj;
}

struct SGDScalars {
  float weight_decay = 0.0f;
  bool decays = false;
  float momentum = 0.0f;
  bool uses_momentum = false;
  float keep = 1.0f;  // 1 - dampening
  bool nesterov = false;
  bool first = true;  // the first step: buf = clone(grad)
  float neg_lr = 0.0f;
};

// One element of torch's _single_tensor_sgd; buf is ignored without momentum.
KHUB_HD void sgd_update(float& p, float g, float* buf, const SGDScalars& s) {
  if (s.decays) g = g + s.weight_decay * p;  // grad.add(param, alpha=weight_decay)
  if (s.uses_momentum) {
    const float b = s.first ? g : *buf * s.momentum + s.keep * g;
    *buf = b;
    g = s.nesterov ? g + s.momentum * b : b;
  }
  p = p + s.neg_lr * g;  // param.add_(grad, alpha=-lr)
}

// CUDA, one launch for all tensors (contiguous f32 on one device, same length per index):
// params[i] updated in place from grads[i] and the state tensors.
void adamw_step_multi(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                      const std::vector<Tensor>& exp_avg, const std::vector<Tensor>& exp_avg_sq,
                      const AdamWScalars& s);
// momentum_buffers empty without momentum.
void sgd_step_multi(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                    const std::vector<Tensor>& momentum_buffers, const SGDScalars& s);
// CUDA: sqrt(Σ g²) over all tensors (squares summed in double), one device-to-host read. When
// max_norm > 0, also scales every tensor by max_norm / (norm + 1e-6) where that is below 1 and the
// norm is finite — decided on the device, before the one read.
double global_norm_and_clip(const std::vector<Tensor>& tensors, double max_norm);

// A captured optimizer step (CUDA; train/step_graph.h): the tables of every tensor built and
// uploaded once, outside any capture, and the step's scalars read from device memory, so that
// one captured launch replays every step with that step's learning rate and bias corrections.
struct MultiTensorPlan {
  Tensor entries, chunks;  // the per-tensor table and the chunk list, on the device
  int64_t count = 0;       // chunks
};
MultiTensorPlan plan_adamw(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                           const std::vector<Tensor>& exp_avg,
                           const std::vector<Tensor>& exp_avg_sq);
MultiTensorPlan plan_grads(const std::vector<Tensor>& grads);
// scalars: the bytes of one AdamWScalars, u8 [sizeof(AdamWScalars)] on the plan's device.
void adamw_step_planned(const MultiTensorPlan& plan, const Tensor& scalars);
// global_norm_and_clip without the read-back: out (f64 [2] on the device) receives the norm and
// the clip coefficient applied (1 when none).
void global_norm_and_clip_planned(const MultiTensorPlan& plan, double max_norm, const Tensor& out);

}  // namespace khub::ops
