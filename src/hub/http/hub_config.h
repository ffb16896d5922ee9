// Where the hub client talks to and where it caches, read from the same environment variables as
// huggingface_hub and HF's `kernels`, so Python and C++ processes share one cache and one token.
// All are read through core/env.h by its one rule (an empty value is the default; the switches
// take 1/true/on/yes and 0/false/off/no, anything else is an error naming the variable); the
// table in docs/environment.md is the reference:
//   HF_ENDPOINT        the hub (default https://huggingface.co)
//   HF_TOKEN           the token; else the file HF_TOKEN_PATH, else $HF_HOME/token
//   HF_HOME            default $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface
//   KERNELS_CACHE      cache root; else HF_HUB_CACHE; else $HF_HOME/hub
//   HF_HUB_OFFLINE     on: never touch the network, answer from the cache
//   HF_HUB_DISABLE_TELEMETRY / DISABLE_TELEMETRY / DO_NOT_TRACK on: user agent without platform
//                      details
//   HF_HUB_DISABLE_PROGRESS_BARS on: no progress bar even on a terminal
//   KHUB_DOWNLOAD_WORKERS  parallel file downloads (default 8)
//   KHUB_DOWNLOAD_FSYNC=0  skip syncing each downloaded blob to disk before it is renamed into
//                      place (faster; a crash may then leave a blob whose bytes never reached the
//                      disk, which the loader's digest check before dlopen still catches)
//   KHUB_HTTP_MAX_ATTEMPTS, KHUB_HTTP_BACKOFF_MS, KHUB_HTTP_MAX_BACKOFF_MS: the retry policy
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "hub/http/http_client.h"
#include "hub/ref/hub_types.h"

namespace khub::hub::net {

struct HubConfig {
  std::string endpoint = "https://huggingface.co";  // no trailing slash
  std::optional<std::string> token;
  std::filesystem::path cache_root;
  bool offline = false;
  std::string user_agent;
  RetryPolicy retry;
  int max_workers = 8;
  bool progress = false;  // draw a progress bar on stderr (only when it is a terminal)
  long connect_timeout_ms = 10000;
  long request_timeout_ms = 60000;  // API calls (refs, info, tree); file downloads have none
  long stall_timeout_s = 30;        // a download that moves no byte for this long is retried
  bool durable = true;  // fdatasync each blob before renaming it into place (KHUB_DOWNLOAD_FSYNC)

  // Reads the environment as described above.
  static HubConfig from_env();
  HttpSettings http_settings() const;
};

std::filesystem::path default_cache_root();
std::optional<std::string> default_token();
std::string default_user_agent(bool telemetry);
const char* khub_version();

}  // namespace khub::hub::net
