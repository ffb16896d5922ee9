// The CUDA part of core/ in a build without CUDA (nvcc was not found at configure time): every
// function of core/cuda.h and core/stream.h exists and says so, so that callers need no build
// flags and a request for a cuda device fails with a clear message.
#include <string>

#include "core/cuda.h"
#include "core/cuda_graph.h"
#include "core/device_backend.h"
#include "core/error.h"
#include "core/stream.h"

namespace khub {
namespace {

constexpr const char* kNoCuda =
    "khub was built without CUDA (nvcc was not found when the build was configured; install the "
    "CUDA toolkit and reconfigure)";

[[noreturn]] void no_cuda(Device device) {
  fail(ErrorKind::kUnsupported, "device ", device.str(), " is unavailable: ", kNoCuda);
}

}  // namespace

namespace detail {

void ensure_device_backend(Device device) {
  if (device.is_cpu()) return;
  if (device.is_cuda()) no_cuda(device);
  fail(ErrorKind::kUnsupported, "device ", device.str(),
       " has names and kernel selection in khub but no runtime yet (runtimes: cpu, cuda)");
}

void* pinned_host_alloc(Device device, size_t) { no_cuda(device); }
void pinned_host_free(void*) noexcept {}
void copy_to_host_async(Device device, void*, const void*, size_t, void**) { no_cuda(device); }
void wait_event(Device device, void*) { no_cuda(device); }
void* pinned_device_view(Device device, void*) { no_cuda(device); }
void destroy_event(void*) noexcept {}

}  // namespace detail

bool cuda_built() { return false; }
bool cuda_available() { return false; }
int cuda_device_count() { return 0; }
std::string cuda_status() { return kNoCuda; }
CudaDeviceProperties cuda_device_properties(int index) { no_cuda(Device::cuda(index)); }
void cuda_synchronize(Device device) { no_cuda(device); }
CudaMemoryStats cuda_memory_stats(int device) { no_cuda(Device::cuda(device)); }
void cuda_reset_peak_memory(int device) { no_cuda(Device::cuda(device)); }
void cuda_empty_cache() {}
void cuda_set_poison_allocations(bool) {}

Stream::Stream(Device device) : device_(device) { no_cuda(device); }
Stream::~Stream() = default;
void Stream::release() {}
Stream::Stream(Stream&& o) noexcept : device_(o.device_), handle_(o.handle_) {}
Stream& Stream::operator=(Stream&&) noexcept { return *this; }
void Stream::synchronize() const { no_cuda(device_); }
void* current_stream(Device device) {
  if (device.is_cpu()) return nullptr;
  no_cuda(device);
}
StreamGuard::StreamGuard(const Stream& stream) : device_(stream.device()) {}
StreamGuard::~StreamGuard() = default;

CudaGraph::CudaGraph(Device device) : device_(device) { no_cuda(device); }
CudaGraph::~CudaGraph() = default;
void CudaGraph::begin_capture() { no_cuda(device_); }
void CudaGraph::end_capture() { no_cuda(device_); }
void CudaGraph::abort_capture() noexcept {}
void CudaGraph::replay() { no_cuda(device_); }

}  // namespace khub
