// Strided copy: one thread per element, the element's row-major index decomposed over up to
// kMaxDims dimensions into an offset in each view. Memory-bound; dimensions of size 1 are dropped
// and runs that are contiguous in both views merged first, so that a slice of rows copies as a
// 2-d problem. Bit-exact (raw element moves, no conversion).
#include "core/cuda/cuda_check.h"
#include "core/cuda/strided_copy.h"

namespace khub::cuda {
namespace {

constexpr int kMaxDims = 8;

struct Layout {
  int ndim = 0;
  int64_t shape[kMaxDims];
  int64_t dst[kMaxDims];
  int64_t src[kMaxDims];
};

template <typename E>
__global__ void strided_copy_kernel(E* __restrict__ dst, const E* __restrict__ src, int64_t n,
                                    Layout l) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    int64_t rem = i, od = 0, os = 0;
    for (int d = l.ndim - 1; d >= 0; --d) {
      int64_t idx = rem % l.shape[d];
      rem /= l.shape[d];
      od += idx * l.dst[d];
      os += idx * l.src[d];
    }
    dst[od] = src[os];
  }
}

// Drops size-1 dims and merges a dim into the next inner one when both views are contiguous
// across the pair.
Layout simplify(const Tensor& dst, const Tensor& src) {
  Layout l;
  for (int64_t d = 0; d < dst.dim(); ++d) {
    if (dst.size(d) == 1) continue;
    int64_t size = dst.size(d), ds = dst.stride(d), ss = src.stride(d);
    if (l.ndim > 0) {
      int k = l.ndim - 1;
      if (l.dst[k] == ds * size && l.src[k] == ss * size) {  // outer dim folds into this one
        l.shape[k] *= size;
        l.dst[k] = ds;
        l.src[k] = ss;
        continue;
      }
    }
    if (l.ndim == kMaxDims) {
      fail(ErrorKind::kUnsupported, "strided device copy of ", src.describe(), " into ",
           dst.describe(), ": more than ", kMaxDims, " non-mergeable dimensions");
    }
    l.shape[l.ndim] = size;
    l.dst[l.ndim] = ds;
    l.src[l.ndim] = ss;
    ++l.ndim;
  }
  return l;
}

template <typename E>
void launch(const Tensor& dst, const Tensor& src, const Layout& l, cudaStream_t stream) {
  int64_t n = dst.numel();
  int threads = 256;
  int64_t blocks = std::min<int64_t>((n + threads - 1) / threads, 65535LL * 8);
  strided_copy_kernel<E><<<static_cast<unsigned>(blocks), threads, 0, stream>>>(
      static_cast<E*>(dst.data()), static_cast<const E*>(src.data()), n, l);
  KHUB_CUDA_CHECK_LAUNCH();
}

}  // namespace

void strided_copy(const Tensor& dst, const Tensor& src) {
  KHUB_CHECK_ARG(dst.device() == src.device() && dst.device().is_cuda() &&
                     dst.dtype() == src.dtype() && dst.shape() == src.shape(),
                 "strided device copy needs one CUDA device, dtype and shape: ", src.describe(),
                 " into ", dst.describe());
  if (dst.numel() == 0) return;
  Layout l = simplify(dst, src);
  DeviceGuard g(dst.device());
  cudaStream_t s = stream_for(dst.device());
  switch (dst.element_size()) {
    case 1:
      return launch<uint8_t>(dst, src, l, s);
    case 2:
      return launch<uint16_t>(dst, src, l, s);
    case 4:
      return launch<uint32_t>(dst, src, l, s);
    case 8:
      return launch<uint64_t>(dst, src, l, s);
    default:
      fail(ErrorKind::kUnsupported, "strided device copy of ", dtype_name(dst.dtype()));
  }
}

}  // namespace khub::cuda
