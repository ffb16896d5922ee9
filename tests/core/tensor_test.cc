#include "core/tensor.h"
#include "core/cuda.h"

#include <gtest/gtest.h>

namespace khub {
namespace {

Tensor iota(Shape shape) {
  std::vector<float> v(shape_numel(shape));
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i);
  return Tensor::from_vector(v, shape, DType::kF32);
}

TEST(Tensor, EmptyIsAlignedAndContiguous) {
  Tensor t = Tensor::empty({3, 5}, DType::kBF16);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data()) % kCpuAlignment, 0u);
  EXPECT_TRUE(t.is_contiguous());
  EXPECT_EQ(t.strides(), (Shape{5, 1}));
  EXPECT_EQ(t.nbytes(), 30u);
}

TEST(Tensor, ViewsShareStorage) {
  Tensor t = iota({2, 3, 4});
  Tensor v = t.view({6, -1});
  EXPECT_EQ(v.shape(), (Shape{6, 4}));
  EXPECT_EQ(v.data(), t.data());
  Tensor s = t.slice(2, 1, 3);  // [2,3,2]
  EXPECT_FALSE(s.is_contiguous());
  EXPECT_EQ(s.item(0), 1.0);
  EXPECT_EQ(s.item(1), 2.0);
  EXPECT_EQ(s.item(2), 5.0);
  Tensor c = s.contiguous();
  EXPECT_TRUE(c.is_contiguous());
  EXPECT_NE(c.data(), t.data());
  EXPECT_EQ(c.to_float_vector(), (std::vector<float>{1, 2, 5, 6, 9, 10, 13, 14, 17, 18, 21, 22}));
}

TEST(Tensor, TransposePermuteSelect) {
  Tensor t = iota({2, 3});
  Tensor tt = t.transpose(0, 1).contiguous();
  EXPECT_EQ(tt.to_float_vector(), (std::vector<float>{0, 3, 1, 4, 2, 5}));
  Tensor p = iota({2, 3, 4}).permute({2, 0, 1});
  EXPECT_EQ(p.shape(), (Shape{4, 2, 3}));
  EXPECT_EQ(p.item(1), 4.0);
  Tensor row = t.select(0, 1);
  EXPECT_EQ(row.shape(), (Shape{3}));
  EXPECT_EQ(row.to_float_vector(), (std::vector<float>{3, 4, 5}));
}

TEST(Tensor, DTypeConversionsRoundTrip) {
  Tensor t =
      Tensor::from_vector(std::vector<float>{1.0f, -2.5f, 65504.0f, 1e-3f}, {4}, DType::kF32);
  Tensor h = t.to(DType::kF16);
  Tensor b = t.to(DType::kBF16);
  EXPECT_EQ(h.to(DType::kF32).to_float_vector()[2], 65504.0f);
  EXPECT_NEAR(b.to(DType::kF32).to_float_vector()[3], 1e-3f, 1e-5f);
  EXPECT_EQ(b.to(DType::kF32).to_float_vector()[1], -2.5f);
  Tensor i = t.to(DType::kI64);
  EXPECT_EQ(i.item(1), -2.0);
}

TEST(Tensor, BadArgumentsNameTheValue) {
  Tensor t = iota({2, 3});
  try {
    t.view({4, 2});
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("[4, 2]"), std::string::npos);
  }
  EXPECT_THROW(t.slice(1, 2, 4), Error);
  EXPECT_THROW(t.select(5, 0), Error);
  EXPECT_THROW(t.transpose(0, 1).view({6}), Error);
}

TEST(Tensor, UnknownDeviceAllocatorIsAnError) {
  EXPECT_THROW(Tensor::empty({2}, DType::kF32, Device{DeviceType::kMetal, 0}), Error);
}

}  // namespace
}  // namespace khub

namespace khub {
namespace {

// Without a usable CUDA device (a build without nvcc, or no driver as on CI), asking for a cuda
// tensor is a clear error, not a crash.
TEST(CudaUnavailable, CudaTensorRequestSaysWhy) {
  if (cuda_available()) GTEST_SKIP() << "a CUDA device is present: " << cuda_status();
  try {
    Tensor::empty({2}, DType::kF32, Device::cuda(0));
    FAIL() << "a cuda tensor without a CUDA device";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUnsupported);
    std::string msg = e.what();
    EXPECT_NE(msg.find("cuda:0 is unavailable"), std::string::npos) << msg;
    if (!cuda_built()) EXPECT_NE(msg.find("built without CUDA"), std::string::npos) << msg;
  }
  EXPECT_THROW(Tensor::full({2}, 1.0, DType::kF32).to(Device::cuda(0)), Error);
}

}  // namespace
}  // namespace khub
