#include "core/dlpack.h"

#include <gtest/gtest.h>

namespace khub {
namespace {

TEST(DLPack, ExportImportIsZeroCopy) {
  Tensor t = Tensor::from_vector(std::vector<float>{1, 2, 3, 4, 5, 6}, {2, 3}, DType::kF32);
  Tensor v = t.transpose(0, 1);
  DLManagedTensor* m = to_dlpack(v);
  EXPECT_EQ(m->dl_tensor.ndim, 2);
  EXPECT_EQ(m->dl_tensor.strides[0], 1);
  EXPECT_EQ(m->dl_tensor.strides[1], 3);
  Tensor back = from_dlpack(m);
  EXPECT_EQ(back.data(), t.data());
  EXPECT_EQ(back.shape(), (Shape{3, 2}));
  EXPECT_EQ(back.contiguous().to_float_vector(), (std::vector<float>{1, 4, 2, 5, 3, 6}));
}

TEST(DLPack, ImportCallsDeleterOnce) {
  static int deleted = 0;
  static float buf[4] = {1, 2, 3, 4};
  static int64_t shape[1] = {4};
  auto* m = new DLManagedTensor{};
  m->dl_tensor.data = buf;
  m->dl_tensor.device = {kDLCPU, 0};
  m->dl_tensor.ndim = 1;
  m->dl_tensor.dtype = {kDLFloat, 32, 1};
  m->dl_tensor.shape = shape;
  m->dl_tensor.strides = nullptr;
  m->deleter = [](DLManagedTensor* self) {
    ++deleted;
    delete self;
  };
  {
    Tensor t = from_dlpack(m);
    Tensor v = t.slice(0, 1, 3);
    EXPECT_EQ(v.item(0), 2.0);
  }
  EXPECT_EQ(deleted, 1);
}

TEST(DLPack, DtypeMappingCoversBf16AndBool) {
  EXPECT_EQ(dtype_from_dl(dtype_to_dl(DType::kBF16)), DType::kBF16);
  EXPECT_EQ(dtype_from_dl(dtype_to_dl(DType::kBool)), DType::kBool);
  EXPECT_THROW(dtype_from_dl(DLDataType{kDLFloat, 32, 4}), Error);
}

}  // namespace
}  // namespace khub
