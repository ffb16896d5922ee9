// The machine's measured memory bandwidth, the ceiling the benchmark's GB/s are compared with:
// STREAM-style copy (b = a) and triad (a = b + s c) over arrays far larger than the caches, split
// over the same threads as the kernels, best of several runs. Bytes count reads and writes once
// each (no write-allocate traffic), the same convention as the kernels' GB/s.
#pragma once

#include <cstdint>

namespace khub_bench {

struct Bandwidth {
  double copy_gbps = 0, triad_gbps = 0;
  int64_t array_bytes = 0;
  int repeats = 0;
};

Bandwidth measure_memory_bandwidth(int threads, int64_t array_bytes = int64_t{256} << 20,
                                   int repeats = 7);

}  // namespace khub_bench
