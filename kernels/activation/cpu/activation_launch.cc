#include "activation_launch.h"

#include "khub_cpu/isa.h"
#include "khub_cpu/kernel_table.h"
#include "khub_cpu/parallel.h"
#include "khub_cpu/streaming.h"

namespace khub_activation {
namespace {

template <typename T>
const RowKernels<T>& kernels_for(khub_cpu::Isa isa) {
  return khub_cpu::table_entry<T>(khub_cpu::table_for_isa(isa, kScalarKernels, kAvx2Kernels,
                                                          kAvx512Kernels, kAvx512Bf16Kernels));
}

}  // namespace

template <typename T>
Status activation_forward(const ForwardArgs<T>& args_in, int num_threads, ErrorText* error) {
  ForwardArgs<T> args = args_in;
  args.stream_out = khub_cpu::stream_output(args.out_rows.rows * args.d * sizeof(T));
  khub_cpu::Isa isa;
  if (Status s = khub_cpu::isa_select(&isa, error); s != Status::kOk) return s;
  const int64_t rows = args.out_rows.rows;
  if (rows == 0 || args.d == 0) return Status::kOk;
  const RowKernels<T>& k = kernels_for<T>(isa);
  int threads = khub_cpu::parallel_threads(rows, 3 * args.d, num_threads);
  khub_cpu::parallel_for(rows, threads, [&](int64_t b, int64_t e) { k.forward(args, b, e); });
  return Status::kOk;
}

template <typename T>
Status activation_backward(const BackwardArgs<T>& args_in, int num_threads, ErrorText* error) {
  BackwardArgs<T> args = args_in;
  args.stream_out = khub_cpu::stream_output(args.grad_x_rows.rows * 2 * args.d * sizeof(T));
  khub_cpu::Isa isa;
  if (Status s = khub_cpu::isa_select(&isa, error); s != Status::kOk) return s;
  const int64_t rows = args.grad_x_rows.rows;
  if (rows == 0 || args.d == 0) return Status::kOk;
  const RowKernels<T>& k = kernels_for<T>(isa);
  int threads = khub_cpu::parallel_threads(rows, 5 * args.d, num_threads);
  khub_cpu::parallel_for(rows, threads, [&](int64_t b, int64_t e) { k.backward(args, b, e); });
  return Status::kOk;
}

#define KHUB_ACTIVATION_INSTANTIATE(T)                                           \
  template Status activation_forward<T>(const ForwardArgs<T>&, int, ErrorText*); \
  template Status activation_backward<T>(const BackwardArgs<T>&, int, ErrorText*);
KHUB_ACTIVATION_INSTANTIATE(float)
KHUB_ACTIVATION_INSTANTIATE(bf16_t)
KHUB_ACTIVATION_INSTANTIATE(f16_t)

}  // namespace khub_activation
