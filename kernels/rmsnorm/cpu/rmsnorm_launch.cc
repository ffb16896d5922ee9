#include "rmsnorm_launch.h"

#include <cstdint>

#include "khub_cpu/isa.h"
#include "khub_cpu/kernel_table.h"
#include "khub_cpu/parallel.h"
#include "khub_cpu/streaming.h"

namespace khub_rmsnorm {
namespace {

using khub_cpu::Isa;

template <typename T>
const RowKernels<T>& kernels_for(Isa isa) {
  return khub_cpu::table_entry<T>(khub_cpu::table_for_isa(isa, kScalarKernels, kAvx2Kernels,
                                                          kAvx512Kernels, kAvx512Bf16Kernels));
}

}  // namespace

template <typename T>
Status rms_norm_forward(const ForwardArgs<T>& args_in, int num_threads, ErrorText* error) {
  ForwardArgs<T> args = args_in;
  args.stream_out = khub_cpu::stream_output(args.out_rows.rows * args.hidden * sizeof(T));
  Isa isa;
  if (Status s = khub_cpu::isa_select(&isa, error); s != Status::kOk) return s;
  const int64_t rows = args.out_rows.rows;
  if (rows == 0 || args.hidden == 0) return Status::kOk;
  const RowKernels<T>& k = kernels_for<T>(isa);
  int threads = khub_cpu::parallel_threads(rows, args.hidden, num_threads);
  khub_cpu::parallel_for(rows, threads, [&](int64_t b, int64_t e) { k.forward(args, b, e); });
  return Status::kOk;
}

template <typename T>
Status rms_norm_backward(BackwardArgs<T> args, T* grad_weight, int64_t grad_weight_stride,
                         void* workspace, uint64_t workspace_bytes, int num_threads,
                         ErrorText* error) {
  Isa isa;
  if (Status s = khub_cpu::isa_select(&isa, error); s != Status::kOk) return s;
  const int64_t hidden = args.hidden;
  if (hidden == 0) return Status::kOk;
  if (args.rows == 0) {
    for (int64_t i = 0; i < hidden; ++i)
      grad_weight[i * grad_weight_stride] = khub_cpu::from_f32<T>(0.0f);
    return Status::kOk;
  }
  const BackwardPlan plan = plan_backward(args.rows, hidden);
  if (workspace == nullptr || workspace_bytes < plan.workspace_bytes) {
    return error->set(Status::kInvalidArgument,
                      "workspace is %llu bytes, expected at least %llu (%lld row groups x hidden "
                      "%lld x 4 bytes, as the workspace query returns)",
                      static_cast<unsigned long long>(workspace == nullptr ? 0 : workspace_bytes),
                      static_cast<unsigned long long>(plan.workspace_bytes),
                      static_cast<long long>(plan.groups), static_cast<long long>(hidden));
  }
  if (reinterpret_cast<uintptr_t>(workspace) % alignof(float) != 0)
    return error->set(Status::kInvalidArgument, "workspace %p is not 4-byte aligned", workspace);
  args.weight_partials = static_cast<float*>(workspace);
  args.stream_out = khub_cpu::stream_output(args.rows * hidden * sizeof(T));
  args.rows_per_group = plan.rows_per_group;

  const RowKernels<T>& k = kernels_for<T>(isa);
  int threads =
      khub_cpu::parallel_threads(plan.groups, plan.rows_per_group * hidden * 2, num_threads);
  khub_cpu::parallel_for(plan.groups, threads,
                         [&](int64_t b, int64_t e) { k.backward(args, b, e); });

  // grad_weight[i] = sum over groups, in group order, of partial[g][i].
  float* partials = args.weight_partials;
  int col_threads = khub_cpu::parallel_threads(hidden, plan.groups, num_threads);
  khub_cpu::parallel_for(hidden, col_threads, [&](int64_t b, int64_t e) {
    for (int64_t g = 1; g < plan.groups; ++g) {
      const float* part = partials + g * hidden;
      for (int64_t i = b; i < e; ++i) partials[i] += part[i];
    }
    for (int64_t i = b; i < e; ++i)
      grad_weight[i * grad_weight_stride] = khub_cpu::from_f32<T>(partials[i]);
  });
  return Status::kOk;
}

#define KHUB_RMSNORM_INSTANTIATE(T)                                                        \
  template Status rms_norm_forward<T>(const ForwardArgs<T>&, int, ErrorText*);             \
  template Status rms_norm_backward<T>(BackwardArgs<T>, T*, int64_t, void*, uint64_t, int, \
                                       ErrorText*);
KHUB_RMSNORM_INSTANTIATE(float)
KHUB_RMSNORM_INSTANTIATE(bf16_t)
KHUB_RMSNORM_INSTANTIATE(f16_t)

}  // namespace khub_rmsnorm
