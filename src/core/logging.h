// Levelled logging to stderr. The level comes from KHUB_LOG_LEVEL (debug, info, warn, error, off;
// default warn) and can be changed at run time. Messages are written whole, one line each, so that
// several threads never interleave within a line.
#pragma once

#include <string>
#include <string_view>

#include "core/error.h"

namespace khub {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3, kOff = 4 };

LogLevel log_level();
void set_log_level(LogLevel level);
// Parses "debug", "info", "warn"/"warning", "error", "off" (any case) or 0-4.
LogLevel parse_log_level(std::string_view text);
void log_message(LogLevel level, std::string_view message);

template <typename... Args>
void log(LogLevel level, const Args&... args) {
  if (level >= log_level()) log_message(level, detail::concat(args...));
}
template <typename... Args>
void log_debug(const Args&... args) {
  log(LogLevel::kDebug, args...);
}
template <typename... Args>
void log_info(const Args&... args) {
  log(LogLevel::kInfo, args...);
}
template <typename... Args>
void log_warn(const Args&... args) {
  log(LogLevel::kWarn, args...);
}
template <typename... Args>
void log_error(const Args&... args) {
  log(LogLevel::kError, args...);
}

}  // namespace khub
