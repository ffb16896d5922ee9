#include "thread_pool.h"

#include <memory>

namespace khub_bench {

ThreadPool::ThreadPool(int threads) {
  for (int i = 1; i < threads; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
    generation_.fetch_add(1);
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::run(int64_t items, int parts, const std::function<void(int64_t, int64_t)>& fn) {
  parts = std::max(1, std::min(parts, size()));
  if (parts == 1) {
    fn(0, items);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    items_ = items;
    parts_ = parts;
    fn_ = &fn;
    pending_.store(static_cast<int>(workers_.size()));
    generation_.fetch_add(1);
  }
  wake_.notify_all();
  fn(0, items / parts);
  while (pending_.load(std::memory_order_acquire) != 0) std::this_thread::yield();
}

void ThreadPool::worker_loop(int index) {
  uint64_t seen = 0;
  for (;;) {
    // Spin a little (ops come back to back), then sleep until the next op.
    for (int spin = 0; spin < 20000 && generation_.load(std::memory_order_acquire) == seen; ++spin)
      std::this_thread::yield();
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return generation_.load() != seen; });
      seen = generation_.load();
      if (stop_) return;
    }
    if (index < parts_) (*fn_)(items_ * index / parts_, items_ * (index + 1) / parts_);
    pending_.fetch_sub(1, std::memory_order_release);
  }
}

namespace {
std::unique_ptr<ThreadPool>& pool_slot() {
  static std::unique_ptr<ThreadPool> pool;
  return pool;
}
}  // namespace

ThreadPool& eager_pool() {
  if (!pool_slot()) pool_slot() = std::make_unique<ThreadPool>(1);
  return *pool_slot();
}

void init_eager_pool(int threads) { pool_slot() = std::make_unique<ThreadPool>(threads); }

}  // namespace khub_bench
