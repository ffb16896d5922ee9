// Learning-rate schedules at the warmup boundaries and the end (HF's LambdaLR formulas), and
// gradient clipping with torch's clip_grad_norm_ semantics plus non-finite detection.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "core/error.h"
#include "train/grad_clip.h"
#include "train/schedule.h"

namespace khub {
namespace {

TEST(Schedule, CosineWithWarmup) {
  LrSchedule s{LrScheduleKind::kCosine, 2.0, 10, 110};
  s.validate();
  EXPECT_EQ(s.lr_at(0), 0.0);  // HF: the first update of a warmup runs at lr 0
  EXPECT_DOUBLE_EQ(s.lr_at(1), 0.2);
  EXPECT_DOUBLE_EQ(s.lr_at(5), 1.0);
  EXPECT_DOUBLE_EQ(s.lr_at(9), 1.8);
  EXPECT_EQ(s.lr_at(10), 2.0);         // warmup done: progress 0, cos 0 = 1
  EXPECT_DOUBLE_EQ(s.lr_at(60), 1.0);  // half way
  EXPECT_DOUBLE_EQ(s.lr_at(35), 2.0 * 0.5 * (1 + std::cos(M_PI * 0.25)));
  EXPECT_NEAR(s.lr_at(109), 2.0 * 0.5 * (1 + std::cos(M_PI * 0.99)), 1e-15);
  EXPECT_EQ(s.lr_at(110), 0.0);
}

TEST(Schedule, CosineWithoutWarmupStartsAtTheBase) {
  LrSchedule s{LrScheduleKind::kCosine, 1e-3, 0, 4};
  EXPECT_EQ(s.lr_at(0), 1e-3);
  EXPECT_DOUBLE_EQ(s.lr_at(2), 0.5e-3);
  EXPECT_EQ(s.lr_at(4), 0.0);
}

TEST(Schedule, ConstantWithWarmup) {
  LrSchedule s{LrScheduleKind::kConstant, 0.1, 4, 0};
  s.validate();
  EXPECT_EQ(s.lr_at(0), 0.0);
  EXPECT_DOUBLE_EQ(s.lr_at(3), 0.075);
  EXPECT_EQ(s.lr_at(4), 0.1);
  EXPECT_EQ(s.lr_at(1000000), 0.1);
  LrSchedule flat{LrScheduleKind::kConstant, 0.1, 0, 0};
  EXPECT_EQ(flat.lr_at(0), 0.1);
}

TEST(Schedule, ValidationAndNames) {
  EXPECT_THROW((LrSchedule{LrScheduleKind::kCosine, 1.0, 0, 0}.validate()), Error);
  EXPECT_THROW((LrSchedule{LrScheduleKind::kCosine, 1.0, 20, 10}.validate()), Error);
  EXPECT_THROW((LrSchedule{LrScheduleKind::kConstant, 1.0, -1, 0}.validate()), Error);
  EXPECT_THROW((LrSchedule{LrScheduleKind::kConstant, -1.0, 0, 0}.validate()), Error);
  EXPECT_EQ(parse_lr_schedule_kind("cosine"), LrScheduleKind::kCosine);
  EXPECT_EQ(parse_lr_schedule_kind("constant"), LrScheduleKind::kConstant);
  try {
    parse_lr_schedule_kind("linear");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'linear'"), std::string::npos);
  }
  EXPECT_EQ((LrSchedule{LrScheduleKind::kCosine, 1.0, 1, 5}.to_json()["kind"]), "cosine");
}

std::vector<Parameter> grads_of(const std::vector<std::vector<float>>& values) {
  std::vector<Parameter> out;
  for (size_t k = 0; k < values.size(); ++k) {
    Shape shape{static_cast<int64_t>(values[k].size())};
    out.push_back({"p" + std::to_string(k), Tensor::zeros(shape, DType::kF32),
                   Tensor::from_vector(values[k], shape, DType::kF32)});
  }
  return out;
}

TEST(GradClip, NormIsGlobalOverAllGrads) {
  auto p = grads_of({{3, 4}, {12}});
  EXPECT_EQ(grad_norm(p), 13.0);
  // Accumulated in double: a million grads of 1e-3 give exactly 1 to double precision (an f32
  // running sum would be off by ~1e-4).
  auto many = grads_of({std::vector<float>(1000000, 1e-3f)});
  EXPECT_NEAR(grad_norm(many), 1.0, 1e-7);
}

TEST(GradClip, ScalesOnlyWhenAboveTheMax) {
  auto p = grads_of({{3, 4}, {12}});
  EXPECT_EQ(clip_grad_norm(p, 1.0), 13.0);  // the norm before clipping
  const float scale = static_cast<float>(1.0 / (13.0 + 1e-6));
  EXPECT_EQ(p[0].grad.data_as<float>()[0], 3.0f * scale);
  EXPECT_EQ(p[1].grad.data_as<float>()[0], 12.0f * scale);
  EXPECT_NEAR(grad_norm(p), 1.0, 1e-6);

  auto q = grads_of({{3, 4}, {12}});
  EXPECT_EQ(clip_grad_norm(q, 13.0), 13.0);  // coef = 13 / (13 + 1e-6) < 1: clipped, barely
  EXPECT_LT(q[1].grad.data_as<float>()[0], 12.0f + 1e-5f);
  auto r = grads_of({{3, 4}, {12}});
  EXPECT_EQ(clip_grad_norm(r, 100.0), 13.0);
  EXPECT_EQ(r[0].grad.data_as<float>()[1], 4.0f);  // untouched
  EXPECT_EQ(r[1].grad.data_as<float>()[0], 12.0f);
  EXPECT_THROW(clip_grad_norm(r, 0.0), Error);
}

TEST(GradClip, NonFiniteGradsAreReportedAndLeftAlone) {
  auto p = grads_of({{1, 2}, {3}});
  EXPECT_TRUE(grads_finite(p));
  p[1].grad.data_as<float>()[0] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_FALSE(grads_finite(p));
  EXPECT_TRUE(std::isnan(clip_grad_norm(p, 0.5)));
  EXPECT_EQ(p[0].grad.data_as<float>()[1], 2.0f);  // not scaled by NaN
  auto q = grads_of({{1, 2}, {3}});
  q[0].grad.data_as<float>()[0] = std::numeric_limits<float>::infinity();
  EXPECT_FALSE(grads_finite(q));
  EXPECT_TRUE(std::isinf(clip_grad_norm(q, 0.5)));
}

}  // namespace
}  // namespace khub
