#include "core/dtype.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/logging.h"

namespace khub {
namespace {

// Reference conversions through float64 math, independent of the bit tricks in dtype.cc.
double f16_reference(uint16_t h) {
  int sign = (h >> 15) ? -1 : 1;
  int exp = (h >> 10) & 31;
  int mant = h & 1023;
  if (exp == 0) return sign * std::ldexp(mant, -24);
  if (exp == 31) return mant ? NAN : sign * INFINITY;
  return sign * std::ldexp(1024 + mant, exp - 25);
}

TEST(DType, F16DecodeMatchesReferenceForAllPatterns) {
  for (uint32_t h = 0; h < 65536; ++h) {
    double ref = f16_reference(static_cast<uint16_t>(h));
    float got = f16_to_f32(static_cast<uint16_t>(h));
    if (std::isnan(ref)) {
      EXPECT_TRUE(std::isnan(got));
    } else {
      ASSERT_EQ(static_cast<double>(got), ref) << h;
      // Encoding an exactly representable value gives the same pattern back.
      ASSERT_EQ(f32_to_f16(got), static_cast<uint16_t>(h)) << h;
    }
  }
}

TEST(DType, Bf16RoundsToNearestEven) {
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3f80);
  // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties go to even (1.0).
  EXPECT_EQ(f32_to_bf16(1.0f + std::ldexp(1.0f, -8)), 0x3f80);
  EXPECT_EQ(f32_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3f82);
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(NAN))));
}

TEST(DType, ParseAcceptsAllNamingStyles) {
  DType d;
  ASSERT_TRUE(dtype_parse("BF16", &d));
  EXPECT_EQ(d, DType::kBF16);
  ASSERT_TRUE(dtype_parse("bfloat16", &d));
  EXPECT_EQ(d, DType::kBF16);
  ASSERT_TRUE(dtype_parse("F8_E4M3", &d));
  EXPECT_EQ(d, DType::kF8E4M3);
  EXPECT_FALSE(dtype_parse("float128", &d));
}

TEST(Logging, ParsesLevels) {
  EXPECT_EQ(parse_log_level("DEBUG"), LogLevel::kDebug);
  EXPECT_EQ(parse_log_level("warning"), LogLevel::kWarn);
  EXPECT_EQ(parse_log_level("off"), LogLevel::kOff);
  EXPECT_THROW(parse_log_level("loud"), Error);
}

}  // namespace
}  // namespace khub
