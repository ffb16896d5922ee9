#include "core/env.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include "core/error.h"

namespace khub::env {
namespace {

constexpr const char* kVar = "KHUB_ENV_TEST_VARIABLE";

struct Env : ::testing::Test {
  void TearDown() override { unsetenv(kVar); }
  void set(const char* v) { setenv(kVar, v, 1); }
};

TEST_F(Env, UnsetAndEmptyGiveTheDefault) {
  unsetenv(kVar);
  EXPECT_TRUE(flag(kVar, true));
  EXPECT_FALSE(flag(kVar, false));
  EXPECT_EQ(integer(kVar, 7, 1, 9), 7);
  EXPECT_EQ(string(kVar, "x"), "x");
  EXPECT_FALSE(raw(kVar).has_value());
  set("");
  EXPECT_TRUE(flag(kVar, true));
  EXPECT_FALSE(flag(kVar, false));
  EXPECT_EQ(number(kVar, 2.5, 0), 2.5);
  EXPECT_FALSE(get(kVar).has_value());
  ASSERT_TRUE(raw(kVar).has_value());  // set, even empty
  EXPECT_EQ(*raw(kVar), "");
}

TEST_F(Env, OneRuleForBooleans) {
  for (const char* off : {"0", "false", "FALSE", "off", "Off", "no", "NO"}) {
    set(off);
    EXPECT_FALSE(flag(kVar, true)) << off;
  }
  for (const char* on : {"1", "true", "True", "on", "ON", "yes"}) {
    set(on);
    EXPECT_TRUE(flag(kVar, false)) << on;
  }
  for (const char* bad : {"2", "maybe", "0x", " 1"}) {
    set(bad);
    try {
      flag(kVar, true);
      ADD_FAILURE() << bad << " was taken as a boolean";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
      EXPECT_NE(std::string(e.what()).find(kVar), std::string::npos) << e.what();
    }
  }
}

TEST_F(Env, MalformedNumbersAreErrorsNamingTheVariable) {
  set("12");
  EXPECT_EQ(integer(kVar, 1, 1, 64), 12);
  for (const char* bad : {"12abc", "abc", "0", "65", "99999999999999999999"}) {
    set(bad);
    EXPECT_THROW(integer(kVar, 1, 1, 64), Error) << bad;
  }
  set("250.5");
  EXPECT_DOUBLE_EQ(number(kVar, 1.0, 0.0), 250.5);
  for (const char* bad : {"-1", "ms", "1.5s", "nan"}) {
    set(bad);
    try {
      number(kVar, 1.0, 0.0);
      ADD_FAILURE() << bad << " was taken as a number";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(std::string(kVar) + "='" + bad + "'"), std::string::npos)
          << e.what();
    }
  }
}

}  // namespace
}  // namespace khub::env
