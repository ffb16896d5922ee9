// HubConfig::from_env against huggingface_hub's documented environment variables
// (docs/source/en/package_reference/environment_variables.md of huggingface_hub): its booleans are
// true for 1, ON, YES, TRUE in any case and false for every other value, "" included; the cache is
// $HF_HUB_CACHE, else $HF_HOME/hub; HF_HOME defaults to $XDG_CACHE_HOME/huggingface, else
// ~/.cache/huggingface; HF_TOKEN wins over the file at $HF_TOKEN_PATH, else $HF_HOME/token. khub
// adds one rule of its own (core/env.h): a value in neither boolean list is an error naming it.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/error.h"
#include "hub/http/hub_config.h"
#include "testutil/scoped_env.h"
#include "testutil/temp_dir.h"

namespace khub::hub::net {
namespace {

using khub::testing::ScopedEnv;
using khub::testing::TempDir;
using khub::testing::write_file;

// Every variable from_env reads, unset for the test, so the machine's environment does not leak
// in (a developer's HF_TOKEN, CI's HOME).
struct HubEnv : ::testing::Test {
  TempDir tmp;
  std::vector<std::unique_ptr<ScopedEnv>> cleared;
  void SetUp() override {
    for (const char* name :
         {"HF_ENDPOINT", "HF_TOKEN", "HF_TOKEN_PATH", "HF_HOME", "HF_HUB_CACHE", "KERNELS_CACHE",
          "HF_HUB_OFFLINE", "HF_HUB_DISABLE_TELEMETRY", "DISABLE_TELEMETRY", "DO_NOT_TRACK",
          "HF_HUB_DISABLE_PROGRESS_BARS", "XDG_CACHE_HOME", "KHUB_DOWNLOAD_WORKERS",
          "KHUB_DOWNLOAD_FSYNC", "KHUB_HTTP_MAX_ATTEMPTS", "KHUB_HTTP_BACKOFF_MS",
          "KHUB_HTTP_MAX_BACKOFF_MS"})
      cleared.push_back(std::make_unique<ScopedEnv>(name, nullptr));
    cleared.push_back(std::make_unique<ScopedEnv>("HOME", tmp.path().string()));
  }
};

// huggingface_hub's truth table for its boolean variables (constants._is_true).
struct Case {
  const char* value;
  bool is_true;
};
const Case kHfBooleans[] = {
    {"1", true},    {"ON", true},   {"on", true}, {"YES", true},    {"yes", true},
    {"TRUE", true}, {"True", true}, {"0", false}, {"false", false}, {"FALSE", false},
    {"off", false}, {"no", false},  {"", false},
};

TEST_F(HubEnv, OfflineFollowsHuggingfaceHubsBooleans) {
  EXPECT_FALSE(HubConfig::from_env().offline) << "unset";
  for (const Case& c : kHfBooleans) {
    ScopedEnv set("HF_HUB_OFFLINE", c.value);
    EXPECT_EQ(HubConfig::from_env().offline, c.is_true) << "HF_HUB_OFFLINE='" << c.value << "'";
  }
}

TEST_F(HubEnv, EachTelemetrySwitchShortensTheUserAgent) {
  const std::string full = HubConfig::from_env().user_agent;
  EXPECT_NE(full.find("platform/"), std::string::npos) << full;
  const std::string bare = std::string("khub/") + khub_version();
  for (const char* name : {"HF_HUB_DISABLE_TELEMETRY", "DISABLE_TELEMETRY", "DO_NOT_TRACK"}) {
    for (const Case& c : kHfBooleans) {
      ScopedEnv set(name, c.value);
      EXPECT_EQ(HubConfig::from_env().user_agent, c.is_true ? bare : full)
          << name << "='" << c.value << "'";
    }
  }
}

TEST_F(HubEnv, AMalformedSwitchIsAnErrorNamingIt) {
  for (const char* name : {"HF_HUB_OFFLINE", "HF_HUB_DISABLE_TELEMETRY", "DISABLE_TELEMETRY",
                           "DO_NOT_TRACK", "HF_HUB_DISABLE_PROGRESS_BARS"}) {
    ScopedEnv set(name, "maybe");
    try {
      HubConfig::from_env();
      ADD_FAILURE() << name << "=maybe was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
      EXPECT_NE(std::string(e.what()).find(std::string(name) + "='maybe'"), std::string::npos)
          << e.what();
    }
  }
}

TEST_F(HubEnv, CacheRootPrecedence) {
  const auto home = tmp.path();
  EXPECT_EQ(HubConfig::from_env().cache_root, home / ".cache" / "huggingface" / "hub");
  ScopedEnv xdg("XDG_CACHE_HOME", (home / "xdg").string());
  EXPECT_EQ(HubConfig::from_env().cache_root, home / "xdg" / "huggingface" / "hub");
  ScopedEnv hf_home("HF_HOME", (home / "hf").string());
  EXPECT_EQ(HubConfig::from_env().cache_root, home / "hf" / "hub");
  {
    ScopedEnv empty("HF_HUB_CACHE", "");  // empty: the default, as for every variable here
    EXPECT_EQ(HubConfig::from_env().cache_root, home / "hf" / "hub");
  }
  ScopedEnv hub_cache("HF_HUB_CACHE", (home / "hub-cache").string());
  EXPECT_EQ(HubConfig::from_env().cache_root, home / "hub-cache");
  ScopedEnv kernels("KERNELS_CACHE", (home / "kernels-cache").string());
  EXPECT_EQ(HubConfig::from_env().cache_root, home / "kernels-cache");
}

TEST_F(HubEnv, TokenPrecedence) {
  const auto home = tmp.path();
  EXPECT_FALSE(HubConfig::from_env().token.has_value()) << "no variable and no token file";
  ScopedEnv hf_home("HF_HOME", (home / "hf").string());
  write_file(home / "hf" / "token", "hf_from_home_file \r\n");
  EXPECT_EQ(HubConfig::from_env().token, "hf_from_home_file");
  write_file(home / "other-token", "hf_from_token_path\n");
  ScopedEnv path("HF_TOKEN_PATH", (home / "other-token").string());
  EXPECT_EQ(HubConfig::from_env().token, "hf_from_token_path");
  {
    ScopedEnv empty("HF_TOKEN", "");  // empty: no token from the variable, the file's
    EXPECT_EQ(HubConfig::from_env().token, "hf_from_token_path");
  }
  ScopedEnv token("HF_TOKEN", "hf_from_variable");
  EXPECT_EQ(HubConfig::from_env().token, "hf_from_variable");
}

TEST_F(HubEnv, EndpointMustBeAUrl) {
  EXPECT_EQ(HubConfig::from_env().endpoint, "https://huggingface.co");
  {
    ScopedEnv set("HF_ENDPOINT", "http://127.0.0.1:8080//");
    EXPECT_EQ(HubConfig::from_env().endpoint, "http://127.0.0.1:8080");
  }
  ScopedEnv set("HF_ENDPOINT", "127.0.0.1:8080");
  try {
    HubConfig::from_env();
    ADD_FAILURE() << "a bare host:port was taken as the endpoint";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("HF_ENDPOINT='127.0.0.1:8080'"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace khub::hub::net
