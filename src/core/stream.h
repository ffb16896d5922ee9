// Streams: where device work is queued. Every khub op on a device launches on the *current stream*
// of that device for the calling thread: the device's default khub stream unless a StreamGuard
// selects another. The host owns streams (docs/design.md §5): kernels receive the current stream.
//
// Handles are opaque (void*, a cudaStream_t for CUDA) so that this header builds without CUDA.
#pragma once

#include "core/device.h"

namespace khub {

// An owned stream (RAII: destroyed with the object).
class Stream {
 public:
  // Creates a new stream on a device (CUDA only).
  explicit Stream(Device device);
  ~Stream();
  Stream(Stream&& other) noexcept;
  Stream& operator=(Stream&& other) noexcept;
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  void* handle() const { return handle_; }
  Device device() const { return device_; }
  // Blocks the host until the stream's queued work is done.
  void synchronize() const;

 private:
  void release();  // synchronizes and destroys the handle, if any

  Device device_;
  void* handle_ = nullptr;
};

// The current stream of a device for this thread (nullptr for the CPU).
void* current_stream(Device device);

// Makes a stream the current one of its device for this thread, for the guard's lifetime.
class StreamGuard {
 public:
  explicit StreamGuard(const Stream& stream);
  ~StreamGuard();
  StreamGuard(const StreamGuard&) = delete;
  StreamGuard& operator=(const StreamGuard&) = delete;

 private:
  Device device_;
  void* previous_ = nullptr;
};

}  // namespace khub
