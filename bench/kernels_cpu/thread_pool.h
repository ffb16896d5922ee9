// A persistent thread pool for the eager reference, as ATen's per-op parallel_for runs on an
// OpenMP pool that stays alive between ops: each op pays a wake-up, not a thread launch.
// Workers spin briefly for the next op, then sleep.
#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace khub_bench {

class ThreadPool {
 public:
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return static_cast<int>(workers_.size()) + 1; }
  // fn(begin, end) over [0, items) split into `parts` contiguous ranges (parts <= size()); the
  // calling thread runs range 0. Returns when every range is done.
  void run(int64_t items, int parts, const std::function<void(int64_t, int64_t)>& fn);

 private:
  void worker_loop(int index);

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  bool stop_ = false;
  int64_t items_ = 0;
  int parts_ = 0;
  const std::function<void(int64_t, int64_t)>* fn_ = nullptr;
};

// The pool the eager ops use (created by the benchmark with its thread count).
ThreadPool& eager_pool();
void init_eager_pool(int threads);

}  // namespace khub_bench
