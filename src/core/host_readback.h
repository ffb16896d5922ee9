// Reading a few device values back while the device keeps working. start() queues a copy of a
// tensor's bytes into host memory the object owns (pinned, on CUDA) on the device's current stream
// and records an event after it; wait() blocks until that copy has landed and returns the bytes.
// A loop can so queue its next device step before it reads the previous step's result (greedy
// decoding's look-ahead, models/generation.cc). On the CPU, start() copies at once. Where the
// device's own kernels store the values into host memory (MappedHostBuffer), mark() queues only the
// event, and wait() returns that memory: no copy sits in the stream between the device's steps.
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
  // Queues an event after the work already queued on device's current stream, which itself writes
  // `host` (a MappedHostBuffer's memory); wait() then returns `host`. A start() or mark() still
  // pending is waited for first.
  void mark(Device device, const void* host);
  // Blocks until the last start()'s copy is done; the bytes stay valid until the next start().
  // Throws when nothing was started.
  const void* wait();
  bool started() const { return started_; }

 private:
  void release() noexcept;

  Device device_;
  void* host_ = nullptr;          // pinned on CUDA, plain on the CPU
  const void* result_ = nullptr;  // what wait() returns: host_, or mark()'s memory
  size_t capacity_ = 0;
  void* event_ = nullptr;  // cudaEvent_t after start() on a CUDA tensor
  bool started_ = false;
};

// Host memory the device's kernels store into directly: pinned and mapped into the device's
// address space on CUDA (a kernel is given device_view()), plain memory on the CPU. The host reads
// host() once an event queued behind those kernels has passed (HostReadback::mark). Destroying
// it waits for the device's queued work first.
class MappedHostBuffer {
 public:
  MappedHostBuffer(Device device, size_t bytes);
  ~MappedHostBuffer();
  MappedHostBuffer(const MappedHostBuffer&) = delete;
  MappedHostBuffer& operator=(const MappedHostBuffer&) = delete;

  void* host() const { return host_; }
  void* device_view() const { return device_view_; }

 private:
  Device device_;
  void* host_ = nullptr;
  void* device_view_ = nullptr;
};

}  // namespace khub
