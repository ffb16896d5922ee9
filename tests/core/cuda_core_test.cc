// core/'s CUDA runtime: device copies, strided copies, the caching allocator, streams and errors.
// Label "gpu": skipped without a CUDA device.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <numeric>

#include "core/cuda.h"
#include "core/cuda_graph.h"
#include "core/host_readback.h"
#include "core/stream.h"
#include "core/tensor.h"

namespace khub {
namespace {

const Device kGpu = Device::cuda(0);

class CudaCore : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!cuda_available()) GTEST_SKIP() << "no CUDA device: " << cuda_status();
  }
};

Tensor iota_host(const Shape& shape, DType dtype) {
  Tensor t = Tensor::empty(shape, DType::kF32);
  std::iota(t.data_as<float>(), t.data_as<float>() + t.numel(), 1.0f);
  return t.to(dtype);
}

bool same_bytes(const Tensor& a, const Tensor& b) {
  return a.nbytes() == b.nbytes() && std::memcmp(a.data(), b.data(), a.nbytes()) == 0;
}

TEST_F(CudaCore, CopiesRoundTripBitExact) {
  for (DType dt : {DType::kF32, DType::kBF16, DType::kF16, DType::kI64, DType::kU8}) {
    Tensor h = iota_host({3, 5, 7}, dt);
    Tensor d = h.to(kGpu);
    EXPECT_EQ(d.device(), kGpu);
    Tensor d2 = d.clone();  // device → device
    EXPECT_TRUE(same_bytes(d2.to(Device::cpu()), h)) << dtype_name(dt);
  }
}

TEST_F(CudaCore, StridedViewsCopyLikeTheHost) {
  Tensor h = iota_host({4, 6, 10}, DType::kBF16);
  Tensor d = h.to(kGpu);
  // Transposed, sliced and selected views made contiguous on the device equal the host's.
  Tensor views_h[] = {h.transpose(0, 2), h.slice(2, 3, 8), h.select(1, 2), h.permute({1, 2, 0})};
  Tensor views_d[] = {d.transpose(0, 2), d.slice(2, 3, 8), d.select(1, 2), d.permute({1, 2, 0})};
  for (int i = 0; i < 4; ++i) {
    Tensor got = views_d[i].contiguous().to(Device::cpu());
    EXPECT_TRUE(same_bytes(got, views_h[i].contiguous())) << "view " << i;
  }
  // A strided destination: write a host block into a column slice of a device tensor.
  Tensor dst = Tensor::zeros({4, 6, 10}, DType::kBF16, kGpu);
  Tensor block = iota_host({4, 6, 5}, DType::kBF16);
  dst.slice(2, 5, 10).copy_from(block);
  Tensor back = dst.to(Device::cpu());
  EXPECT_EQ(back.item(0), 0.0);
  EXPECT_EQ(back.item(5), block.item(0));
  EXPECT_EQ(back.item(10 * 6 * 4 - 1), block.item(block.numel() - 1));
}

TEST_F(CudaCore, CachingAllocatorReusesFreedBlocks) {
  cuda_synchronize(kGpu);
  CudaMemoryStats before = cuda_memory_stats();
  { Tensor a = Tensor::empty({1000, 1000}, DType::kF32, kGpu); }
  CudaMemoryStats mid = cuda_memory_stats();
  { Tensor b = Tensor::empty({999, 1001}, DType::kF32, kGpu); }  // same size class
  CudaMemoryStats after = cuda_memory_stats();
  EXPECT_EQ(after.device_allocations, mid.device_allocations) << "the freed block was not reused";
  EXPECT_EQ(after.cache_hits, mid.cache_hits + 1);
  EXPECT_EQ(after.allocated_bytes, before.allocated_bytes);
  EXPECT_GE(after.reserved_bytes, after.allocated_bytes + 4000000);
  EXPECT_GE(after.peak_allocated_bytes, before.allocated_bytes + 4000000);
  cuda_empty_cache();
  EXPECT_EQ(cuda_memory_stats().reserved_bytes, cuda_memory_stats().allocated_bytes);
}

TEST_F(CudaCore, PoisonedAllocationsReadAsNaN) {
  cuda_set_poison_allocations(true);
  Tensor t = Tensor::empty({64}, DType::kBF16, kGpu).to(Device::cpu());
  cuda_set_poison_allocations(false);
  for (int64_t i = 0; i < t.numel(); ++i) EXPECT_TRUE(std::isnan(t.item(i)));
}

TEST_F(CudaCore, OutOfMemoryIsAnErrorNotACrash) {
  try {
    Tensor::empty({int64_t{1} << 50}, DType::kU8, kGpu);
    FAIL() << "a 1 PiB allocation succeeded";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kIo);
    EXPECT_NE(std::string(e.what()).find("out of memory"), std::string::npos) << e.what();
  }
}

TEST_F(CudaCore, MissingDeviceIndexIsNamed) {
  try {
    Tensor::empty({4}, DType::kF32, Device::cuda(15));
    FAIL() << "cuda:15 exists?";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cuda:15"), std::string::npos) << e.what();
  }
}

TEST_F(CudaCore, StreamGuardSelectsTheCurrentStream) {
  void* default_stream = current_stream(kGpu);
  ASSERT_NE(default_stream, nullptr);
  Stream s(kGpu);
  {
    StreamGuard g(s);
    EXPECT_EQ(current_stream(kGpu), s.handle());
    Tensor h = iota_host({257}, DType::kF32);
    Tensor d = h.to(kGpu).clone();  // queued on s
    EXPECT_TRUE(same_bytes(d.to(Device::cpu()), h));
  }
  EXPECT_EQ(current_stream(kGpu), default_stream);
  s.synchronize();
}

// A captured copy-and-double replays with what its input buffer holds at replay time, and the
// memory it allocated while capturing is never handed to anyone else while the graph lives.
TEST_F(CudaCore, GraphReplaysWithNewInputsAndKeepsItsMemory) {
  Tensor in = iota_host({1000}, DType::kF32).to(kGpu);
  Tensor out;
  void* temp_ptr = nullptr;
  {
    CudaGraph graph(kGpu);
    graph.begin_capture();
    Tensor temp = in.clone();  // allocated inside the capture: the graph's pool
    temp_ptr = temp.data();
    out = Tensor::empty({1000}, DType::kF32, kGpu);
    out.copy_from(temp);
    graph.end_capture();
    temp = Tensor();  // freed: back to the graph's pool, not the shared cache
    Tensor other = Tensor::empty({1000}, DType::kF32, kGpu);
    EXPECT_NE(other.data(), temp_ptr) << "a graph's block was handed out while the graph lives";
    for (int round = 0; round < 3; ++round) {
      Tensor next = iota_host({1000}, DType::kF32);
      for (int64_t i = 0; i < 1000; ++i) next.data_as<float>()[i] *= static_cast<float>(round + 2);
      in.copy_from(next);
      graph.replay();
      Tensor got = out.to(Device::cpu());
      EXPECT_EQ(got.item(0), 1.0 * (round + 2));
      EXPECT_EQ(got.item(999), 1000.0 * (round + 2));
    }
  }
  // A capture that fails leaves no capture open: the stream works eagerly afterwards.
  CudaGraph broken(kGpu);
  broken.begin_capture();
  broken.abort_capture();
  EXPECT_FALSE(broken.ready());
  EXPECT_THROW(broken.replay(), Error);
  Tensor again = in.clone().to(Device::cpu());
  EXPECT_EQ(again.item(0), 4.0);
}

// A readback started after queued device work sees that work's result (stream order), and a start
// while one is pending waits for it first; the pinned buffer grows for a bigger source.
TEST_F(CudaCore, HostReadbackLandsAfterTheQueuedWork) {
  HostReadback r;
  for (int64_t n : {int64_t{1} << 20, int64_t{5}, int64_t{3} << 20}) {
    Tensor want = iota_host({n}, DType::kF32);
    Tensor src = want.to(kGpu);
    Tensor dst = Tensor::empty({n}, DType::kF32, kGpu);
    dst.copy_from(src);  // queued on the stream, not waited for
    r.start(dst);
    r.start(dst);  // waits for the first copy, then queues another
    const void* p = r.wait();
    EXPECT_EQ(std::memcmp(p, want.data(), want.nbytes()), 0) << n << " floats";
  }
}

TEST_F(CudaCore, DevicePropertiesDescribeTheGpu) {
  CudaDeviceProperties p = cuda_device_properties(0);
  EXPECT_FALSE(p.name.empty());
  EXPECT_GE(p.major, 7);
  EXPECT_GT(p.multiprocessors, 0);
  EXPECT_NE(cuda_status().find(p.name), std::string::npos);
}

}  // namespace
}  // namespace khub
