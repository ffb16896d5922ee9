// Reading a few device values back while the device keeps working. start() queues a copy of a
// tensor's bytes into host memory the object owns (pinned, on CUDA) on the device's current stream
// and records an event after it; wait() blocks until that copy has landed and returns the bytes.
// A loop can so queue its next device step before it reads the previous step's result (greedy
// decoding's look-ahead, models/generation.cc). On the CPU, start() copies at once.
#pragma once

#include <cstddef>

#include "core/tensor.h"

namespace khub {

class HostReadback {
 public:
  HostReadback() = default;
  ~HostReadback();
  HostReadback(const HostReadback&) = delete;
  HostReadback& operator=(const HostReadback&) = delete;

  // Queues the copy of src (contiguous, any device) after the work already queued on its
  // device's current stream. A copy still pending is waited for first (its bytes are dropped).
  void start(const Tensor& src);
  // Blocks until the last start()'s copy is done; the bytes stay valid until the next start().
  // Throws when nothing was started.
  const void* wait();
  bool started() const { return started_; }

 private:
  void release() noexcept;

  Device device_;
  void* host_ = nullptr;  // pinned on CUDA, plain on the CPU
  size_t capacity_ = 0;
  void* event_ = nullptr;  // cudaEvent_t after start() on a CUDA tensor
  bool started_ = false;
};

}  // namespace khub
