// Calling a loaded kernel through the C++ wrapper, and two versions of one kernel side by side.
#include <gtest/gtest.h>

#include <cmath>

#include "core/dtype.h"
#include "core/error.h"
#include "loader/registry.h"
#include "testutil/fixtures.h"

namespace khub::loader {
namespace {

std::shared_ptr<const Kernel> load(const std::filesystem::path& dir, const std::string& rev) {
  KernelIdentity id;
  id.repo = "khub-test/scale";
  id.revision = rev;
  id.variant = dir.filename().string();
  id.dir = dir;
  return KernelRegistry::global().load(id);
}

const std::string kRev1(40, '1');
const std::string kRev2(40, '2');

TEST(Call, ForwardF32WithAttributeAndDefault) {
  auto k = load(khub::testing::scale_v1(), kRev1);
  Tensor x = Tensor::from_vector<float>({1, -2, 3.5f, 0}, {2, 2}, DType::kF32);
  Tensor out = Tensor::full({2, 2}, NAN, DType::kF32);  // poisoned: every element must be written
  k->function("scale_forward")({.tensors = {{"x", x}, {"out", out}}, .attrs = {{"alpha", 2.0}}});
  EXPECT_EQ(out.to_float_vector(), (std::vector<float>{2, -4, 7, 0}));
  // alpha defaults to 1; an int converts to a float attribute.
  k->function("scale_forward")({.tensors = {{"x", x}, {"out", out}}});
  EXPECT_EQ(out.to_float_vector(), (std::vector<float>{1, -2, 3.5f, 0}));
  k->function("scale_forward")(
      {.tensors = {{"out", out}, {"x", x}}, .attrs = {{"alpha", int64_t{3}}}});
  EXPECT_EQ(out.to_float_vector(), (std::vector<float>{3, -6, 10.5f, 0}));
}

TEST(Call, Bf16AndNonContiguousInput) {
  auto k = load(khub::testing::scale_v1(), kRev1);
  Tensor x = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3}, DType::kF32).to(DType::kBF16);
  Tensor xt = x.transpose(0, 1);  // [3, 2], strided: the wrapper passes a contiguous copy
  Tensor out = Tensor::empty({3, 2}, DType::kBF16);
  k->function("scale_forward")({.tensors = {{"x", xt}, {"out", out}}, .attrs = {{"alpha", 0.5}}});
  EXPECT_EQ(out.to_float_vector(), (std::vector<float>{0.5f, 2, 1, 2.5f, 1.5f, 3}));
}

TEST(Call, LayerBackward) {
  auto k = load(khub::testing::scale_v1(), kRev1);
  KernelLayer l = k->layer("Scale");
  Tensor g = Tensor::from_vector<float>({1, 2}, {2}, DType::kF32);
  Tensor gx = Tensor::empty({2}, DType::kF32);
  (*l.backward)({.tensors = {{"grad_out", g}, {"grad_x", gx}}, .attrs = {{"alpha", -1.0}}});
  EXPECT_EQ(gx.to_float_vector(), (std::vector<float>{-1, -2}));
}

TEST(Call, TwoVersionsSideBySide) {
  auto v1 = load(khub::testing::scale_v1(), kRev1);
  auto v2 = load(khub::testing::scale_v2(), kRev2);
  ASSERT_NE(v1.get(), v2.get());
  Tensor x = Tensor::from_vector<float>({1, 2}, {2}, DType::kF32);
  Tensor o1 = Tensor::empty({2}, DType::kF32);
  Tensor o2 = Tensor::empty({2}, DType::kF32);
  v1->function("scale_forward")({.tensors = {{"x", x}, {"out", o1}}, .attrs = {{"alpha", 10.0}}});
  v2->function("scale_forward")({.tensors = {{"x", x}, {"out", o2}}, .attrs = {{"alpha", 10.0}}});
  EXPECT_EQ(o1.to_float_vector(), (std::vector<float>{10, 20}));
  EXPECT_EQ(o2.to_float_vector(), (std::vector<float>{11, 21}));  // v2 adds its offset
  // Interleaved calls keep hitting their own library.
  v1->function("scale_forward")({.tensors = {{"x", x}, {"out", o1}}});
  EXPECT_EQ(o1.to_float_vector(), (std::vector<float>{1, 2}));
}

std::string call_error(const KernelFunction& f, const KernelArgs& args, ErrorKind kind) {
  try {
    f(args);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), kind) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "the call succeeded";
  return "";
}

TEST(Call, SignatureChecksNameTheProblem) {
  auto k = load(khub::testing::scale_v1(), kRev1);
  KernelFunction f = k->function("scale_forward");
  Tensor x = Tensor::zeros({4}, DType::kF32);
  Tensor out = Tensor::zeros({4}, DType::kF32);
  auto inv = ErrorKind::kInvalidArgument;
  EXPECT_NE(call_error(f, {.tensors = {{"x", x}}}, inv).find("missing argument 'out'"),
            std::string::npos);
  EXPECT_NE(call_error(f, {.tensors = {{"x", x}, {"out", out}, {"y", x}}}, inv)
                .find("no argument named 'y'"),
            std::string::npos);
  EXPECT_NE(call_error(f, {.tensors = {{"x", x}, {"out", out}}, .attrs = {{"beta", 1.0}}}, inv)
                .find("no attribute named 'beta' (attributes: alpha)"),
            std::string::npos);
  EXPECT_NE(
      call_error(f, {.tensors = {{"x", x}, {"out", out}}, .attrs = {{"alpha", std::string("2")}}},
                 inv)
          .find("attribute 'alpha' must be float"),
      std::string::npos);
  Tensor xi = Tensor::zeros({4}, DType::kI32);
  EXPECT_NE(call_error(f, {.tensors = {{"x", xi}, {"out", out}}}, inv)
                .find("'x' has dtype i32, expected f32, bf16"),
            std::string::npos);
  Tensor ob = Tensor::zeros({4}, DType::kBF16);
  EXPECT_NE(call_error(f, {.tensors = {{"x", x}, {"out", ob}}}, inv).find("the dtype of 'x'"),
            std::string::npos);
  Tensor big = Tensor::zeros({4, 4}, DType::kF32);
  EXPECT_NE(call_error(f, {.tensors = {{"x", x}, {"out", big.transpose(0, 1)}}}, inv)
                .find("must be contiguous"),
            std::string::npos);
}

TEST(Call, KernelErrorsNameKernelRepoRevisionAndVariant) {
  auto k = load(khub::testing::scale_v1(), kRev1);
  Tensor x = Tensor::zeros({4}, DType::kF32);
  Tensor out = Tensor::zeros({4}, DType::kF32);
  std::string msg = call_error(k->function("scale_forward"),
                               {.tensors = {{"x", x}, {"out", out}}, .attrs = {{"alpha", NAN}}},
                               ErrorKind::kKernel);
  EXPECT_NE(msg.find("khub-test/scale@111111111111"), std::string::npos) << msg;
  EXPECT_NE(msg.find(khub::testing::host_cpu_variant()), std::string::npos) << msg;
  EXPECT_NE(msg.find("function 'scale_forward' failed (invalid argument): alpha is NaN"),
            std::string::npos)
      << msg;
  msg = call_error(k->function("scale_forward"),
                   {.tensors = {{"x", Tensor::zeros({4}, DType::kF32)},
                                {"out", Tensor::zeros({5}, DType::kF32)}}},
                   ErrorKind::kKernel);
  EXPECT_NE(msg.find("x and out differ in size"), std::string::npos) << msg;
}

}  // namespace
}  // namespace khub::loader
