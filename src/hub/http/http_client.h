// A small HTTP client over libcurl for the hub: one easy handle per thread (kept alive between
// requests), redirects followed by hand (so the first response's hub headers stay visible and the
// token never leaves the hub's origin), streaming bodies, and a retry policy with exponential
// backoff and jitter that honours Retry-After. Transport failures and HTTP statuses are errors with
// ErrorKind::kNetwork (or kNotFound for 404) and a message naming the URL.
#pragma once

#include <functional>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.h"

namespace khub::hub::net {

using HeaderList = std::vector<std::pair<std::string, std::string>>;  // names lowercased

// Case-insensitive lookup; "" when absent.
std::string header_value(const HeaderList& headers, std::string_view name);

struct HttpResponse {
  long status = 0;
  HeaderList headers;         // of the final response
  HeaderList origin_headers;  // of the first response (before redirects)
  std::string body;           // buffered body (errors and non-streamed requests)
  std::string url;            // final URL
  std::string header(std::string_view name) const { return header_value(headers, name); }
  std::string origin_header(std::string_view name) const {
    return header_value(origin_headers, name);
  }
};

// Receives a streamed body. begin() sees the final status and headers before the first byte
// (return false to abort); write() gets the bytes of 2xx responses only.
struct BodySink {
  virtual ~BodySink() = default;
  virtual bool begin(const HttpResponse& head) = 0;
  virtual bool write(const char* data, size_t n) = 0;
};

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  HeaderList headers;
  std::string body;           // for POST/PUT (ignored when body_file is set)
  std::string body_file;      // upload a file as the body
  long timeout_ms = 60000;    // whole request; 0 = none (large downloads)
  long stall_timeout_s = 30;  // abort when fewer than 1 byte/s flow for this long
  int max_redirects = 10;
  BodySink* sink = nullptr;  // stream the final body here instead of buffering it
};

// The outcome of one attempt that did not produce an HTTP response, or produced an error status.
class HttpError : public Error {
 public:
  HttpError(ErrorKind kind, const std::string& message, long status, bool retryable,
            double retry_after_s, std::string error_code)
      : Error(kind, message),
        status_(status),
        retryable_(retryable),
        retry_after_s_(retry_after_s),
        error_code_(std::move(error_code)) {}
  long status() const { return status_; }  // 0 for transport failures
  bool retryable() const { return retryable_; }
  double retry_after_s() const { return retry_after_s_; }        // < 0 when the server gave none
  const std::string& error_code() const { return error_code_; }  // the hub's X-Error-Code

 private:
  long status_;
  bool retryable_;
  double retry_after_s_;
  std::string error_code_;
};

struct RetryPolicy {
  int max_attempts = 6;
  double base_delay_s = 0.5;
  double max_delay_s = 30;
  double max_retry_after_s = 300;  // a server asking for a longer wait fails at once
  // KHUB_HTTP_MAX_ATTEMPTS, KHUB_HTTP_BACKOFF_MS (base), KHUB_HTTP_MAX_BACKOFF_MS.
  static RetryPolicy from_env();
};

// Drives the retries of one operation: call wait_before_retry() after each retryable failure.
class Retrier {
 public:
  Retrier(const RetryPolicy& policy, std::string what);
  // Sleeps the backoff (at least retry_after_s when given) and returns true, or returns false when
  // the attempts are used up or the server asked for too long a wait.
  bool wait_before_retry(double retry_after_s);
  int attempt() const { return attempt_; }
  double last_delay_s() const { return last_delay_s_; }

 private:
  RetryPolicy policy_;
  std::string what_;
  int attempt_ = 1;
  double last_delay_s_ = 0;
  std::mt19937_64 rng_;
};

struct HttpSettings {
  std::string user_agent;
  std::string auth_origin;  // "scheme://host[:port]" that receives the token
  std::optional<std::string> token;
  long connect_timeout_ms = 10000;
  long stall_timeout_s = 30;  // default for downloads (HttpRequest::stall_timeout_s)
  RetryPolicy retry;
};

class HttpClient {
 public:
  explicit HttpClient(HttpSettings settings);

  // One attempt, redirects followed. Returns every HTTP response (any status); throws HttpError
  // for transport failures.
  HttpResponse perform(const HttpRequest& req) const;

  // perform() with retries on transport failures, 408, 429 and 5xx; non-2xx statuses other than
  // those in `accept` become an HttpError (kNotFound for 404, kNetwork otherwise) naming the URL
  // and the hub's error message.
  HttpResponse request(const HttpRequest& req, const std::vector<long>& accept = {}) const;

  // Throws the HttpError describing a non-2xx response.
  [[noreturn]] static void throw_for_status(const HttpRequest& req, const HttpResponse& res);

  const HttpSettings& settings() const { return settings_; }

 private:
  HttpSettings settings_;
};

// Closes the calling thread's kept-alive connections (its curl handle is re-created on next use).
void close_thread_connections();

// "scheme://host[:port]" of a URL ("" when it has none).
std::string url_origin(std::string_view url);
// Resolves a Location header against the URL it came from.
std::string resolve_url(std::string_view base, std::string_view location);
// Seconds from a Retry-After value (delta-seconds or an HTTP date); < 0 when unparseable.
double parse_retry_after(std::string_view value);
// The URL of rel="next" in a Link header, "" when none.
std::string parse_link_next(std::string_view link);

}  // namespace khub::hub::net
