// HostReadback on the CPU (the CUDA side is in cuda_core_test.cc): the bytes of the last start(),
// a bigger source growing the buffer, and the errors.
#include "core/host_readback.h"

#include <gtest/gtest.h>

#include <vector>

namespace khub {
namespace {

TEST(HostReadback, ReturnsTheBytesOfTheLastStart) {
  HostReadback r;
  EXPECT_THROW(r.wait(), Error);  // nothing started
  Tensor a = Tensor::from_vector(std::vector<int32_t>{1, 2, 3}, {3}, DType::kI32);
  r.start(a);
  EXPECT_TRUE(r.started());
  a.data_as<int32_t>()[0] = 9;  // on the CPU the copy was taken at start()
  const auto* p = static_cast<const int32_t*>(r.wait());
  EXPECT_EQ(std::vector<int32_t>(p, p + 3), (std::vector<int32_t>{1, 2, 3}));
  EXPECT_FALSE(r.started());
  EXPECT_THROW(r.wait(), Error);  // already consumed
  Tensor b = Tensor::from_vector(std::vector<int32_t>{4, 5, 6, 7, 8}, {5}, DType::kI32);
  r.start(a);
  r.start(b);  // a second start replaces the first
  p = static_cast<const int32_t*>(r.wait());
  EXPECT_EQ(std::vector<int32_t>(p, p + 5), (std::vector<int32_t>{4, 5, 6, 7, 8}));
  Tensor m = Tensor::from_vector(std::vector<float>{1, 2, 3, 4}, {2, 2}, DType::kF32);
  EXPECT_THROW(r.start(m.slice(1, 0, 1)), Error);  // not contiguous
  EXPECT_THROW(r.start(Tensor()), Error);
}

// mark(): wait() returns the memory the queued work writes itself (a MappedHostBuffer), and a
// start() after it returns its own copy again.
TEST(HostReadback, MarkReturnsTheMemoryTheWorkWrites) {
  MappedHostBuffer buf(Device::cpu(), 4 * sizeof(int32_t));
  ASSERT_NE(buf.host(), nullptr);
  EXPECT_EQ(buf.host(), buf.device_view());  // one address space on the CPU
  auto* ring = static_cast<int32_t*>(buf.device_view());
  HostReadback r;
  r.mark(Device::cpu(), ring + 2);
  ring[2] = 42;
  EXPECT_EQ(static_cast<const int32_t*>(r.wait()), ring + 2);
  EXPECT_EQ(ring[2], 42);
  Tensor a = Tensor::from_vector(std::vector<int32_t>{7}, {1}, DType::kI32);
  r.start(a);
  EXPECT_NE(r.wait(), static_cast<const void*>(ring + 2));
}

}  // namespace
}  // namespace khub
