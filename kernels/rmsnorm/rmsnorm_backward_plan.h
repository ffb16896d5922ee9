// How the backward of khub-community/rmsnorm cuts rows into groups, one definition for the CPU and
// CUDA variants (each passes its own group count). grad_weight is reduced in two steps that do not
// depend on the thread or block count, so results are bitwise reproducible: rows are cut into
// `groups` of `rows_per_group` consecutive rows, each group sums into its own f32 row of the
// workspace, then the groups are added in order. The workspace query of the backward functions
// returns what the plan needs.
#ifndef KHUB_RMSNORM_BACKWARD_PLAN_H_
#define KHUB_RMSNORM_BACKWARD_PLAN_H_

#include <cstdint>

#include "khub/kernel_abi.h"

namespace khub_rmsnorm_plan {

struct BackwardPlan {
  int64_t rows_per_group = 1;
  int64_t groups = 0;
  uint64_t workspace_bytes = 0;  // groups * hidden * sizeof(float)
};

// At most max_groups groups of equal size (the last may be shorter).
inline BackwardPlan plan_backward(int64_t rows, int64_t hidden, int64_t max_groups) {
  BackwardPlan plan;
  if (rows <= 0 || hidden <= 0) return plan;
  plan.rows_per_group = (rows + max_groups - 1) / max_groups;
  plan.groups = (rows + plan.rows_per_group - 1) / plan.rows_per_group;
  plan.workspace_bytes = static_cast<uint64_t>(plan.groups * hidden) * sizeof(float);
  return plan;
}

// The workspace query: rows and hidden come from the call's first tensor (x, or the fused op's
// residual); 0 for a call the function itself will refuse.
inline uint64_t backward_workspace_bytes(const khub_call* call, int64_t max_groups) {
  if (call == nullptr || call->tensors == nullptr || call->num_tensors < 1) return 0;
  const DLTensor& x = call->tensors[0];
  if (x.ndim < 1 || x.shape == nullptr) return 0;
  int64_t hidden = x.shape[x.ndim - 1], rows = 1;
  for (int d = 0; d + 1 < x.ndim; ++d) rows *= x.shape[d];
  return plan_backward(rows, hidden, max_groups).workspace_bytes;
}

}  // namespace khub_rmsnorm_plan

#endif  // KHUB_RMSNORM_BACKWARD_PLAN_H_
