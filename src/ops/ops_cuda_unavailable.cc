// The CUDA side of ops/ in a build without CUDA. No tensor can live on a CUDA device in such a
// build (core/ refuses to allocate one), so these are reached only through a bug; they still say
// plainly why they cannot run.
#include "ops/ops_cuda.h"
#include "ops/optim.h"

namespace khub::ops::cuda {
namespace {

[[noreturn]] void no_cuda(const char* op) {
  fail(ErrorKind::kUnsupported, op, " on CUDA: khub was built without CUDA");
}

}  // namespace

Tensor linear(const Tensor&, const Tensor&, const Tensor&, bool) { no_cuda("ops::linear"); }
std::vector<Tensor> linear_split(const Tensor&, const Tensor&, const Tensor&,
                                 const std::vector<int64_t>&, bool) {
  no_cuda("ops::linear_split");
}
Tensor rms_norm(const Tensor&, const Tensor&, float, float) { no_cuda("ops::rms_norm"); }
Tensor act_and_mul(const Tensor&, GatedActivation) { no_cuda("ops::act_and_mul"); }
void apply_rotary(Tensor&, Tensor&, const Tensor&, const Tensor&, int64_t, bool) {
  no_cuda("ops::apply_rotary");
}
Tensor attention(const Tensor&, const Tensor&, const Tensor&, const AttentionParams&,
                 const Tensor&) {
  no_cuda("ops::attention");
}
void add_inplace(Tensor&, const Tensor&) { no_cuda("ops::add_inplace"); }
ExpertRoutes moe_route(const Tensor&, int64_t, bool, bool) { no_cuda("ops::moe_route"); }
Tensor moe_experts(const Tensor&, const ExpertRoutes&, const Tensor&, const Tensor&,
                   const ExpertActivation&, const Tensor&, const Tensor&) {
  no_cuda("ops::moe_experts");
}
void scale_inplace(Tensor&, float) { no_cuda("ops::scale_inplace"); }
void softcap_inplace(Tensor&, float) { no_cuda("ops::softcap_inplace"); }
Tensor cast(const Tensor&, DType) { no_cuda("ops::cast"); }
Tensor index_rows(const Tensor&, const Tensor&, DType) { no_cuda("ops::index_rows"); }
Tensor argmax_rows(const Tensor&, Tensor, const PicksMirror&) { no_cuda("ops::argmax_rows"); }
void kv_append(Tensor&, Tensor&, const Tensor&, const Tensor&, const Tensor&) {
  no_cuda("ops::kv_append");
}

void zero_inplace(Tensor&) { no_cuda("ops::zero_inplace"); }
Tensor rms_norm_backward(const Tensor&, const Tensor&, float, float, const Tensor&, Tensor*) {
  no_cuda("ops::rms_norm_backward");
}
Tensor act_and_mul_backward(const Tensor&, const Tensor&, GatedActivation) {
  no_cuda("ops::act_and_mul_backward");
}
void apply_rotary_backward(Tensor&, Tensor&, const Tensor&, const Tensor&, int64_t, bool) {
  no_cuda("ops::apply_rotary_backward");
}
void softcap_backward_inplace(Tensor&, const Tensor&, float) {
  no_cuda("ops::softcap_backward_inplace");
}
void linear_backward(const Tensor&, const Tensor&, const Tensor&, Tensor*, Tensor*, Tensor*) {
  no_cuda("ops::linear_backward");
}
void embedding_backward(const Tensor&, const Tensor&, float, Tensor&) {
  no_cuda("ops::embedding_backward");
}
double cross_entropy(const Tensor&, const Tensor&, float, Tensor*) {
  no_cuda("ops::cross_entropy");
}
void attention_backward(const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                        const AttentionParams&, const Tensor&, Tensor&, Tensor&, Tensor&, Tensor*) {
  no_cuda("ops::attention_backward");
}

}  // namespace khub::ops::cuda

namespace khub::ops {

void adamw_step_multi(const std::vector<Tensor>&, const std::vector<Tensor>&,
                      const std::vector<Tensor>&, const std::vector<Tensor>&, const AdamWScalars&) {
  cuda::no_cuda("ops::adamw_step_multi");
}
void sgd_step_multi(const std::vector<Tensor>&, const std::vector<Tensor>&,
                    const std::vector<Tensor>&, const SGDScalars&) {
  cuda::no_cuda("ops::sgd_step_multi");
}
double global_norm_and_clip(const std::vector<Tensor>&, double) {
  cuda::no_cuda("ops::global_norm_and_clip");
}
MultiTensorPlan plan_adamw(const std::vector<Tensor>&, const std::vector<Tensor>&,
                           const std::vector<Tensor>&, const std::vector<Tensor>&) {
  cuda::no_cuda("ops::plan_adamw");
}
MultiTensorPlan plan_grads(const std::vector<Tensor>&) { cuda::no_cuda("ops::plan_grads"); }
void adamw_step_planned(const MultiTensorPlan&, const Tensor&) {
  cuda::no_cuda("ops::adamw_step_planned");
}
void global_norm_and_clip_planned(const MultiTensorPlan&, double, const Tensor&) {
  cuda::no_cuda("ops::global_norm_and_clip_planned");
}

}  // namespace khub::ops
