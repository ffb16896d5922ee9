// RMSNorm kernels, tier 2: pointer-level launchers. They pick the ISA path (khub_cpu/isa.h), split
// rows over threads and reduce grad_weight; they know nothing of the kernel ABI and never throw.
#ifndef KHUB_RMSNORM_LAUNCH_H_
#define KHUB_RMSNORM_LAUNCH_H_

#include <cstdint>

#include "../rmsnorm_backward_plan.h"
#include "khub_cpu/status.h"
#include "rmsnorm_rows.h"

namespace khub_rmsnorm {

using khub_cpu::ErrorText;
using khub_cpu::Status;

// out (and, when fused, residual) for every row of args.
template <typename T>
Status rms_norm_forward(const ForwardArgs<T>& args, int num_threads, ErrorText* error);

// The backward's row groups (../rmsnorm_backward_plan.h): enough to keep every core busy, few
// enough that the workspace stays small (64 x 4096 x 4 bytes = 1 MiB at most for the hidden sizes
// of current LLMs).
using khub_rmsnorm_plan::BackwardPlan;
constexpr int64_t kMaxGroups = 64;
inline BackwardPlan plan_backward(int64_t rows, int64_t hidden) {
  return khub_rmsnorm_plan::plan_backward(rows, hidden, kMaxGroups);
}

// grad_x (and grad_residual), and grad_weight[i * grad_weight_stride], for every row of args.
// args.weight_partials / rows_per_group are filled here from `workspace`.
template <typename T>
Status rms_norm_backward(BackwardArgs<T> args, T* grad_weight, int64_t grad_weight_stride,
                         void* workspace, uint64_t workspace_bytes, int num_threads,
                         ErrorText* error);

}  // namespace khub_rmsnorm

#endif  // KHUB_RMSNORM_LAUNCH_H_
