// The CUDA runtime part of core/ (built when nvcc is found): device discovery, errors, streams, and
// the registration of the caching allocators and copy routines for DeviceType::kCUDA.
//
// The CUDA runtime is linked statically, so a binary built here starts on a machine without a
// driver (CI) and reports "no CUDA driver" instead of failing to load.
#include <cuda_runtime_api.h>

#include <array>
#include <mutex>
#include <vector>

#include "core/cuda.h"
#include "core/cuda/caching_allocator.h"
#include "core/cuda/cuda_check.h"
#include "core/cuda/strided_copy.h"
#include "core/device_backend.h"
#include "core/stream.h"
#include "core/tensor.h"

namespace khub {
namespace cuda {
namespace {

constexpr int kMaxDevices = 16;

struct Discovery {
  int count = 0;
  std::string problem;  // empty when count > 0
};

const Discovery& discovery() {
  static const Discovery d = [] {
    Discovery r;
    cudaError_t err = cudaGetDeviceCount(&r.count);
    if (err != cudaSuccess) {
      (void)cudaGetLastError();  // clear the sticky-free error so later calls start clean
      r.count = 0;
      r.problem = std::string("no usable CUDA driver or device (") + cudaGetErrorName(err) + ": " +
                  cudaGetErrorString(err) + ")";
    } else if (r.count == 0) {
      r.problem = "no CUDA device is present";
    }
    r.count = std::min(r.count, kMaxDevices);
    return r;
  }();
  return d;
}

// The default stream of each device: created once, never destroyed (it lives for the process).
// A blocking stream: it stays ordered with work that third-party code puts on the legacy stream.
cudaStream_t default_stream(int index) {
  static std::array<std::once_flag, kMaxDevices> once;
  static std::array<cudaStream_t, kMaxDevices> streams{};
  std::call_once(once[index], [index] {
    DeviceGuard g(Device::cuda(index));
    KHUB_CUDA_CHECK(cudaStreamCreateWithFlags(&streams[index], cudaStreamDefault));
  });
  return streams[index];
}

thread_local std::array<cudaStream_t, kMaxDevices> tl_current{};  // null: the default stream

void check_index(Device device) {
  const Discovery& d = discovery();
  if (d.count == 0) {
    fail(ErrorKind::kUnsupported, "device ", device.str(), " is unavailable: ", d.problem);
  }
  if (device.index < 0 || device.index >= d.count) {
    fail(ErrorKind::kInvalidArgument, "device ", device.str(), " does not exist (this machine has ",
         d.count, " CUDA device", d.count == 1 ? "" : "s", ")");
  }
}

bool is_pinned_host(const void* p) {
  cudaPointerAttributes attr{};
  if (cudaPointerGetAttributes(&attr, p) != cudaSuccess) {
    (void)cudaGetLastError();
    return false;
  }
  return attr.type == cudaMemoryTypeHost;
}

void device_copy(void* dst, Device dst_dev, const void* src, Device src_dev, size_t n) {
  if (src_dev.is_cpu()) {  // host → device
    DeviceGuard g(dst_dev);
    cudaStream_t s = stream_for(dst_dev);
    KHUB_CUDA_CHECK(cudaMemcpyAsync(dst, src, n, cudaMemcpyHostToDevice, s));
    // From pageable memory the call returns once the bytes are staged, so the caller may reuse
    // its buffer; from pinned memory it returns at once, so wait.
    if (is_pinned_host(src)) KHUB_CUDA_CHECK(cudaStreamSynchronize(s));
  } else if (dst_dev.is_cpu()) {  // device → host: the caller reads the bytes next
    DeviceGuard g(src_dev);
    cudaStream_t s = stream_for(src_dev);
    KHUB_CUDA_CHECK(cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToHost, s));
    KHUB_CUDA_CHECK(cudaStreamSynchronize(s));
  } else if (dst_dev == src_dev) {
    DeviceGuard g(dst_dev);
    KHUB_CUDA_CHECK(cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToDevice, stream_for(dst_dev)));
  } else {
    // Between two GPUs: order after the source's queued work, then copy on the destination's
    // stream.
    cuda_synchronize(src_dev);
    DeviceGuard g(dst_dev);
    KHUB_CUDA_CHECK(
        cudaMemcpyPeerAsync(dst, dst_dev.index, src, src_dev.index, n, stream_for(dst_dev)));
  }
}

std::vector<CudaCachingAllocator*>& allocators() {
  static std::vector<CudaCachingAllocator*> all;
  return all;
}

}  // namespace

CudaCachingAllocator* allocator_of(int index) {
  check_index(Device::cuda(index));
  detail::ensure_device_backend(Device::cuda(index));
  return allocators()[index];
}

void throw_cuda_error(cudaError_t err, const char* expr, const char* file, int line) {
  fail(ErrorKind::kKernel, "CUDA error at ", file, ":", line, ": ", expr, " returned ",
       cudaGetErrorName(err), " (", cudaGetErrorString(err), ")");
}

cudaStream_t stream_for(Device device) {
  KHUB_ICHECK(device.is_cuda() && device.index >= 0 && device.index < kMaxDevices);
  cudaStream_t s = tl_current[device.index];
  return s != nullptr ? s : default_stream(device.index);
}

DeviceGuard::DeviceGuard(Device device) {
  int current = 0;
  KHUB_CUDA_CHECK(cudaGetDevice(&current));
  if (current != device.index) {
    KHUB_CUDA_CHECK(cudaSetDevice(device.index));
    previous_ = current;
  }
}

DeviceGuard::~DeviceGuard() {
  if (previous_ >= 0) (void)cudaSetDevice(previous_);
}

}  // namespace cuda

namespace detail {

void ensure_device_backend(Device device) {
  if (device.is_cpu()) return;
  if (!device.is_cuda()) {
    fail(ErrorKind::kUnsupported, "device ", device.str(),
         " has names and kernel selection in khub but no runtime yet (runtimes: cpu, cuda)");
  }
  cuda::check_index(device);
  static std::once_flag once;
  std::call_once(once, [] {
    int n = cuda::discovery().count;
    for (int i = 0; i < n; ++i) {
      // Never destroyed: freeing device memory after the CUDA runtime shut down at exit is
      // undefined, and the driver reclaims everything at process end.
      auto* a = new cuda::CudaCachingAllocator(i);
      cuda::allocators().push_back(a);
      register_allocator(Device::cuda(i), a);
    }
    register_device_copy(DeviceType::kCUDA, cuda::device_copy);
    register_device_strided_copy(DeviceType::kCUDA, cuda::strided_copy);
  });
}

void* pinned_host_alloc(Device device, size_t bytes) {
  ensure_device_backend(device);
  cuda::DeviceGuard g(device);
  void* p = nullptr;
  KHUB_CUDA_CHECK(cudaMallocHost(&p, bytes));
  return p;
}

void pinned_host_free(void* p) noexcept { (void)cudaFreeHost(p); }

void copy_to_host_async(Device device, void* dst, const void* src, size_t bytes, void** event) {
  cuda::DeviceGuard g(device);
  if (*event == nullptr) {
    cudaEvent_t e = nullptr;
    KHUB_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
    *event = e;
  }
  cudaStream_t s = cuda::stream_for(device);
  if (bytes > 0) KHUB_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, s));
  KHUB_CUDA_CHECK(cudaEventRecord(static_cast<cudaEvent_t>(*event), s));
}

void wait_event(Device device, void* event) {
  cuda::DeviceGuard g(device);
  KHUB_CUDA_CHECK(cudaEventSynchronize(static_cast<cudaEvent_t>(event)));
}

void* pinned_device_view(Device device, void* host) {
  cuda::DeviceGuard g(device);
  void* p = nullptr;
  KHUB_CUDA_CHECK(cudaHostGetDevicePointer(&p, host, 0));
  return p;
}

void destroy_event(void* event) noexcept {
  (void)cudaEventDestroy(static_cast<cudaEvent_t>(event));
}

}  // namespace detail

bool cuda_built() { return true; }
bool cuda_available() { return cuda::discovery().count > 0; }
int cuda_device_count() { return cuda::discovery().count; }

std::string cuda_status() {
  const cuda::Discovery& d = cuda::discovery();
  if (d.count == 0) return d.problem;
  std::string s = std::to_string(d.count) + " CUDA device" + (d.count == 1 ? "" : "s") + ":";
  for (int i = 0; i < d.count; ++i) {
    CudaDeviceProperties p = cuda_device_properties(i);
    s += " [" + std::to_string(i) + "] " + p.name + " (sm_" + std::to_string(p.major) +
         std::to_string(p.minor) + ")";
  }
  return s;
}

CudaDeviceProperties cuda_device_properties(int index) {
  cuda::check_index(Device::cuda(index));
  cudaDeviceProp prop{};
  KHUB_CUDA_CHECK(cudaGetDeviceProperties(&prop, index));
  CudaDeviceProperties p;
  p.name = prop.name;
  p.major = prop.major;
  p.minor = prop.minor;
  p.multiprocessors = prop.multiProcessorCount;
  p.total_memory = prop.totalGlobalMem;
  p.l2_cache_bytes = static_cast<size_t>(prop.l2CacheSize);
  KHUB_CUDA_CHECK(cudaDriverGetVersion(&p.driver_version));
  KHUB_CUDA_CHECK(cudaRuntimeGetVersion(&p.runtime_version));
  return p;
}

void cuda_synchronize(Device device) {
  cuda::check_index(device);
  cuda::DeviceGuard g(device);
  KHUB_CUDA_CHECK(cudaStreamSynchronize(cuda::stream_for(device)));
}

CudaMemoryStats cuda_memory_stats(int device) { return cuda::allocator_of(device)->stats(); }
void cuda_reset_peak_memory(int device) { cuda::allocator_of(device)->reset_peak(); }

void cuda_empty_cache() {
  if (!cuda_available()) return;
  detail::ensure_device_backend(Device::cuda(0));
  for (cuda::CudaCachingAllocator* a : cuda::allocators()) a->empty_cache();
}

void cuda_set_poison_allocations(bool on) {
  if (!cuda_available()) return;
  detail::ensure_device_backend(Device::cuda(0));
  for (cuda::CudaCachingAllocator* a : cuda::allocators()) a->set_poison(on);
}

// Streams.
Stream::Stream(Device device) : device_(device) {
  KHUB_CHECK_ARG(device.is_cuda(), "streams exist for CUDA devices, not ", device.str());
  detail::ensure_device_backend(device);
  cuda::DeviceGuard g(device);
  cudaStream_t s = nullptr;
  KHUB_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  handle_ = s;
}

Stream::~Stream() { release(); }

void Stream::release() {
  if (handle_ == nullptr) return;
  // Blocks freed while this stream ran sit in its free lists; finishing its work first makes them
  // safe for a future stream that the driver may give the same handle.
  try {
    cuda::DeviceGuard g(device_);
    (void)cudaStreamSynchronize(static_cast<cudaStream_t>(handle_));
    (void)cudaStreamDestroy(static_cast<cudaStream_t>(handle_));
  } catch (const Error&) {
    // Called from the destructor and move assignment: a broken device leaves the handle behind.
  }
  handle_ = nullptr;
}

Stream::Stream(Stream&& o) noexcept : device_(o.device_), handle_(o.handle_) {
  o.handle_ = nullptr;
}

Stream& Stream::operator=(Stream&& o) noexcept {
  if (this != &o) {
    release();
    device_ = o.device_;
    handle_ = o.handle_;
    o.handle_ = nullptr;
  }
  return *this;
}

void Stream::synchronize() const {
  cuda::DeviceGuard g(device_);
  KHUB_CUDA_CHECK(cudaStreamSynchronize(static_cast<cudaStream_t>(handle_)));
}

void* current_stream(Device device) {
  if (device.is_cpu()) return nullptr;
  KHUB_CHECK_ARG(device.is_cuda(), "no streams for ", device.str());
  cuda::check_index(device);
  return cuda::stream_for(device);
}

StreamGuard::StreamGuard(const Stream& stream) : device_(stream.device()) {
  previous_ = cuda::tl_current[device_.index];
  cuda::tl_current[device_.index] = static_cast<cudaStream_t>(stream.handle());
}

StreamGuard::~StreamGuard() {
  cuda::tl_current[device_.index] = static_cast<cudaStream_t>(previous_);
}

}  // namespace khub
