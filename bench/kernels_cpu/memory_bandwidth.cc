#include "memory_bandwidth.h"

#include <algorithm>
#include <chrono>
#include <vector>

#include "khub_cpu/parallel.h"

namespace khub_bench {

Bandwidth measure_memory_bandwidth(int threads, int64_t array_bytes, int repeats) {
  const int64_t n = array_bytes / static_cast<int64_t>(sizeof(float));
  std::vector<float> a(n), b(n), c(n);
  // Touch pages on the threads that will use them.
  khub_cpu::parallel_for(n, threads, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) a[i] = 1.0f, b[i] = 2.0f, c[i] = 0.5f;
  });
  auto seconds = [](auto fn) {
    auto t0 = std::chrono::steady_clock::now();
    fn();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  Bandwidth bw;
  bw.array_bytes = array_bytes;
  bw.repeats = repeats;
  double best_copy = 1e30, best_triad = 1e30;
  for (int r = 0; r < repeats; ++r) {
    best_copy = std::min(best_copy, seconds([&] {
                           khub_cpu::parallel_for(n, threads, [&](int64_t lo, int64_t hi) {
                             float* __restrict__ dst = b.data();
                             const float* __restrict__ src = a.data();
                             for (int64_t i = lo; i < hi; ++i) dst[i] = src[i];
                           });
                         }));
    best_triad = std::min(best_triad, seconds([&] {
                            khub_cpu::parallel_for(n, threads, [&](int64_t lo, int64_t hi) {
                              float* __restrict__ dst = a.data();
                              const float* __restrict__ x = b.data();
                              const float* __restrict__ y = c.data();
                              for (int64_t i = lo; i < hi; ++i) dst[i] = x[i] + 3.0f * y[i];
                            });
                          }));
  }
  bw.copy_gbps = 2.0 * array_bytes / best_copy / 1e9;
  bw.triad_gbps = 3.0 * array_bytes / best_triad / 1e9;
  return bw;
}

}  // namespace khub_bench
