#include "core/host_readback.h"

#include <cstdlib>
#include <cstring>

#include "core/cuda.h"
#include "core/device_backend.h"

namespace khub {

HostReadback::~HostReadback() { release(); }

void HostReadback::release() noexcept {
  if (event_ != nullptr) {
    try {
      detail::wait_event(device_, event_);  // the copy may still be writing host_
    } catch (const Error&) {
      // A broken device: the copy will not complete either.
    }
    detail::destroy_event(event_);
  }
  if (host_ != nullptr) {
    if (device_.is_cuda()) {
      detail::pinned_host_free(host_);
    } else {
      std::free(host_);
    }
  }
  event_ = host_ = nullptr;
  capacity_ = 0;
  started_ = false;
}

void HostReadback::start(const Tensor& src) {
  KHUB_CHECK_ARG(src.defined() && src.is_contiguous(), "HostReadback: the source must be a ",
                 "contiguous tensor, got ", src.describe());
  if (started_) wait();
  size_t n = src.nbytes();
  if (host_ == nullptr || src.device() != device_ || n > capacity_) {
    release();
    device_ = src.device();
    capacity_ = n > 0 ? n : 1;
    host_ =
        device_.is_cuda() ? detail::pinned_host_alloc(device_, capacity_) : std::malloc(capacity_);
    if (host_ == nullptr) fail(ErrorKind::kIo, "HostReadback: no host memory for ", n, " bytes");
  }
  result_ = host_;
  if (device_.is_cuda()) {
    detail::copy_to_host_async(device_, host_, src.data(), n, &event_);
  } else {
    KHUB_CHECK_ARG(device_.is_cpu(), "HostReadback: no copies from ", device_.str());
    if (n > 0) std::memcpy(host_, src.data(), n);
  }
  started_ = true;
}

void HostReadback::mark(Device device, const void* host) {
  if (started_) wait();
  if (device != device_) {
    release();
    device_ = device;
  }
  if (device_.is_cuda()) {
    detail::copy_to_host_async(device_, nullptr, nullptr, 0, &event_);  // the event alone
  } else {
    KHUB_CHECK_ARG(device_.is_cpu(), "HostReadback: no events on ", device_.str());
  }
  result_ = host;
  started_ = true;
}

const void* HostReadback::wait() {
  KHUB_CHECK_ARG(started_, "HostReadback: wait() without a start()");
  if (device_.is_cuda()) detail::wait_event(device_, event_);
  started_ = false;
  return result_;
}

MappedHostBuffer::MappedHostBuffer(Device device, size_t bytes) : device_(device) {
  if (bytes == 0) bytes = 1;
  if (device_.is_cuda()) {
    host_ = detail::pinned_host_alloc(device_, bytes);
    try {
      device_view_ = detail::pinned_device_view(device_, host_);
    } catch (...) {
      detail::pinned_host_free(host_);
      throw;
    }
  } else {
    KHUB_CHECK_ARG(device_.is_cpu(), "MappedHostBuffer: no host memory mapped for ", device_.str());
    host_ = device_view_ = std::malloc(bytes);
    if (host_ == nullptr)
      fail(ErrorKind::kIo, "MappedHostBuffer: no host memory for ", bytes, " bytes");
  }
}

MappedHostBuffer::~MappedHostBuffer() {
  if (device_.is_cuda()) {
    try {
      cuda_synchronize(device_);  // a kernel queued before may still store into it
    } catch (const Error&) {
      // A broken device: nothing will store into it any more.
    }
    detail::pinned_host_free(host_);
  } else {
    std::free(host_);
  }
}

}  // namespace khub
