// Splitting a CPU kernel's rows over threads.
//
// Threads are std::thread, created per call: no pool, no process-wide state (two copies of one
// kernel library can live in one process, kernel_abi.h §1). Creating a thread costs tens of
// microseconds, so a call only gets as many threads as it has work for: at least
// kMinElementsPerThread elements each. Decode-sized calls stay on the caller's thread.
#ifndef KHUB_CPU_PARALLEL_H_
#define KHUB_CPU_PARALLEL_H_

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <system_error>
#include <thread>
#include <vector>

namespace khub_cpu {

// About 50 us of work for the cheapest kernels (RMSNorm streams ~10 elements/ns per core):
// starting and joining a thread costs 10-30 us, more on a busy machine, so smaller calls are
// faster on the caller's thread alone (measured: bench/kernels_cpu).
constexpr int64_t kMinElementsPerThread = int64_t{1} << 19;

// Threads to use: `requested` (<= 0: the hardware's count), at most one per kMinElementsPerThread
// elements of work and at most one per item.
inline int parallel_threads(int64_t items, int64_t elements_per_item, int requested) {
  int64_t threads = requested > 0 ? requested : std::max(1u, std::thread::hardware_concurrency());
  int64_t by_work = std::max<int64_t>(1, items * elements_per_item / kMinElementsPerThread);
  threads = std::min({threads, by_work, std::max<int64_t>(items, 1), int64_t{256}});
  return static_cast<int>(threads);
}

// Calls fn(begin, end) over contiguous chunks covering [0, items): `threads` workers (the calling
// thread is one) take chunks from a shared counter, about 8 per worker, so a worker whose core
// is busy with another process takes fewer chunks instead of holding everyone up. Which worker
// runs a chunk does not change any result (chunks never share outputs). If the OS refuses a
// thread, the remaining workers take its share. fn must not throw.
template <typename Fn>
void parallel_for(int64_t items, int threads, const Fn& fn) {
  if (items <= 0) return;
  if (threads <= 1) {
    fn(int64_t{0}, items);
    return;
  }
  const int64_t chunk = std::max<int64_t>(1, items / (int64_t{threads} * 8));
  std::atomic<int64_t> next{0};
  auto worker = [&] {
    for (;;) {
      int64_t b = next.fetch_add(chunk, std::memory_order_relaxed);
      if (b >= items) return;
      fn(b, std::min(items, b + chunk));
    }
  };
  std::vector<std::thread> pool;
  pool.reserve(threads - 1);
  for (int t = 1; t < threads; ++t) {
    try {
      pool.emplace_back(worker);
    } catch (const std::system_error&) {
      break;
    }
  }
  worker();
  for (auto& th : pool) th.join();
}

}  // namespace khub_cpu

#endif  // KHUB_CPU_PARALLEL_H_
