#include "core/logging.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <mutex>

#include "core/env.h"

namespace khub {
namespace {

LogLevel level_from_env() {
  std::optional<std::string> value = env::get("KHUB_LOG_LEVEL");
  if (!value) return LogLevel::kWarn;
  try {
    return parse_log_level(*value);
  } catch (const Error&) {
    std::fprintf(stderr,
                 "[khub warn] KHUB_LOG_LEVEL='%s' is not one of debug, info, warn, error, "
                 "off; using warn\n",
                 value->c_str());
    return LogLevel::kWarn;
  }
}

std::atomic<int>& level_storage() {
  static std::atomic<int> level{static_cast<int>(level_from_env())};
  return level;
}

}  // namespace

LogLevel log_level() { return static_cast<LogLevel>(level_storage().load()); }
void set_log_level(LogLevel level) { level_storage().store(static_cast<int>(level)); }

LogLevel parse_log_level(std::string_view text) {
  std::string t(text);
  std::transform(t.begin(), t.end(), t.begin(), [](unsigned char c) { return std::tolower(c); });
  if (t == "debug" || t == "0") return LogLevel::kDebug;
  if (t == "info" || t == "1") return LogLevel::kInfo;
  if (t == "warn" || t == "warning" || t == "2") return LogLevel::kWarn;
  if (t == "error" || t == "3") return LogLevel::kError;
  if (t == "off" || t == "none" || t == "4") return LogLevel::kOff;
  fail(ErrorKind::kInvalidArgument, "log level '", text,
       "' is not one of debug, info, warn, error, off");
}

void log_message(LogLevel level, std::string_view message) {
  static const char* names[] = {"debug", "info", "warn", "error", "off"};
  std::string line = "[khub ";
  line += names[static_cast<int>(level)];
  line += "] ";
  line += message;
  line += '\n';
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace khub
