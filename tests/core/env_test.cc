#include "core/env.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include "core/error.h"
#include "testutil/scoped_env.h"

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

// The XDG base directory rule and huggingface_hub's HF_HOME default on top of it; "" counts as
// unset, as everywhere in this module.
TEST(EnvFolders, CacheAndHfHomePrecedence) {
  using khub::testing::ScopedEnv;
  ScopedEnv no_home("HOME", nullptr), no_xdg("XDG_CACHE_HOME", nullptr), no_hf("HF_HOME", nullptr);
  EXPECT_TRUE(user_cache_dir().empty());
  EXPECT_TRUE(hf_home().empty());
  ScopedEnv home("HOME", "/home/u");
  EXPECT_EQ(user_cache_dir(), "/home/u/.cache");
  EXPECT_EQ(hf_home(), "/home/u/.cache/huggingface");
  {
    ScopedEnv empty_xdg("XDG_CACHE_HOME", "");
    EXPECT_EQ(user_cache_dir(), "/home/u/.cache");
  }
  ScopedEnv xdg("XDG_CACHE_HOME", "/var/cache/u");
  EXPECT_EQ(user_cache_dir(), "/var/cache/u");
  EXPECT_EQ(hf_home(), "/var/cache/u/huggingface");
  {
    ScopedEnv empty_hf("HF_HOME", "");
    EXPECT_EQ(hf_home(), "/var/cache/u/huggingface");
  }
  ScopedEnv hf("HF_HOME", "/data/hf");
  EXPECT_EQ(hf_home(), "/data/hf");
  EXPECT_EQ(user_cache_dir(), "/var/cache/u");  // HF_HOME is huggingface_hub's alone
}

}  // namespace
}  // namespace khub::env
