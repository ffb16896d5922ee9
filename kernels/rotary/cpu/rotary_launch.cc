#include "rotary_launch.h"

#include "khub_cpu/isa.h"
#include "khub_cpu/kernel_table.h"
#include "khub_cpu/parallel.h"

namespace khub_rotary {

template <typename T>
Status rotary_apply(const RotaryArgs<T>& args, int num_threads, ErrorText* error) {
  khub_cpu::Isa isa;
  if (Status s = khub_cpu::isa_select(&isa, error); s != Status::kOk) return s;
  const int64_t items = args.tokens * (args.q.heads + args.k.heads);
  if (items == 0 || args.rotary_dim == 0) return Status::kOk;
  const RowKernels<T>& k = khub_cpu::table_entry<T>(khub_cpu::table_for_isa(
      isa, kScalarKernels, kAvx2Kernels, kAvx512Kernels, kAvx512Bf16Kernels));
  int threads = khub_cpu::parallel_threads(items, 2 * args.rotary_dim, num_threads);
  khub_cpu::parallel_for(items, threads, [&](int64_t b, int64_t e) { k.rotate(args, b, e); });
  return Status::kOk;
}

template Status rotary_apply<float>(const RotaryArgs<float>&, int, ErrorText*);
template Status rotary_apply<bf16_t>(const RotaryArgs<bf16_t>&, int, ErrorText*);
template Status rotary_apply<f16_t>(const RotaryArgs<f16_t>&, int, ErrorText*);

}  // namespace khub_rotary
