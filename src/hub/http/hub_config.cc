#include "hub/http/hub_config.h"

#include <curl/curl.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>

#include "core/env.h"
#include "core/error.h"
#include "core/logging.h"

#ifndef KHUB_VERSION_STRING
#define KHUB_VERSION_STRING "0.0.0"
#endif

namespace khub::hub::net {
namespace {

std::filesystem::path hf_home() {
  std::filesystem::path home = env::hf_home();
  return home.empty() ? std::filesystem::path("/tmp") / ".cache" / "huggingface" : home;
}

}  // namespace

const char* khub_version() { return KHUB_VERSION_STRING; }

std::filesystem::path default_cache_root() {
  if (std::optional<std::string> v = env::get("KERNELS_CACHE")) return *v;
  if (std::optional<std::string> v = env::get("HF_HUB_CACHE")) return *v;
  return hf_home() / "hub";
}

std::optional<std::string> default_token() {
  if (std::optional<std::string> v = env::get("HF_TOKEN")) return v;
  std::filesystem::path file = env::string("HF_TOKEN_PATH", (hf_home() / "token").string());
  std::ifstream in(file);
  if (!in) return std::nullopt;
  std::string tok;
  std::getline(in, tok);
  while (!tok.empty() && (tok.back() == '\r' || tok.back() == ' ' || tok.back() == '\t')) {
    tok.pop_back();
  }
  if (tok.empty()) return std::nullopt;
  return tok;
}

std::string default_user_agent(bool telemetry) {
  std::string ua = std::string("khub/") + khub_version();
  if (!telemetry) return ua;
  ua += std::string("; libcurl/") + curl_version_info(CURLVERSION_NOW)->version;
  struct utsname u;
  if (uname(&u) == 0) {
    std::string os = u.sysname;
    std::transform(os.begin(), os.end(), os.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    ua += "; platform/" + std::string(u.machine) + "-" + os;
  }
  ua += "; file_type/kernel";
  return ua;
}

HubConfig HubConfig::from_env() {
  HubConfig c;
  c.endpoint = env::string("HF_ENDPOINT", c.endpoint);
  while (!c.endpoint.empty() && c.endpoint.back() == '/') c.endpoint.pop_back();
  if (c.endpoint.find("://") == std::string::npos) {
    fail(ErrorKind::kInvalidArgument, "HF_ENDPOINT='", c.endpoint,
         "' is not a URL (expected e.g. http://127.0.0.1:8080 or https://huggingface.co)");
  }
  c.token = default_token();
  c.cache_root = default_cache_root();
  c.offline = env::flag("HF_HUB_OFFLINE", false);
  bool telemetry = !env::flag("HF_HUB_DISABLE_TELEMETRY", false) &&
                   !env::flag("DISABLE_TELEMETRY", false) && !env::flag("DO_NOT_TRACK", false);
  c.user_agent = default_user_agent(telemetry);
  c.retry = RetryPolicy::from_env();
  c.max_workers = static_cast<int>(env::integer("KHUB_DOWNLOAD_WORKERS", c.max_workers, 1, 64));
  c.progress = !env::flag("HF_HUB_DISABLE_PROGRESS_BARS", false) && isatty(STDERR_FILENO);
  c.durable = env::flag("KHUB_DOWNLOAD_FSYNC", c.durable);
  return c;
}

HttpSettings HubConfig::http_settings() const {
  HttpSettings s;
  s.user_agent = user_agent;
  s.auth_origin = url_origin(endpoint);
  s.token = token;
  s.connect_timeout_ms = connect_timeout_ms;
  s.stall_timeout_s = stall_timeout_s;
  s.retry = retry;
  return s;
}

}  // namespace khub::hub::net
