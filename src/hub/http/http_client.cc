#include "hub/http/http_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <mutex>
#include <thread>

#include "core/env.h"
#include "core/logging.h"

namespace khub::hub::net {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return out;
}

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return std::string(s);
}

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// One easy handle per thread: curl keeps the connection alive between requests on it.
struct EasyHandle {
  CURL* h = nullptr;
  EasyHandle() {
    global_init();
    h = curl_easy_init();
  }
  ~EasyHandle() {
    if (h) curl_easy_cleanup(h);
  }
};

EasyHandle& thread_easy() {
  thread_local EasyHandle handle;
  return handle;
}

CURL* thread_handle() {
  EasyHandle& handle = thread_easy();
  if (!handle.h) handle.h = curl_easy_init();
  KHUB_ICHECK(handle.h != nullptr, "curl_easy_init failed");
  curl_easy_reset(handle.h);
  return handle.h;
}

// State shared with curl's callbacks during one transfer.
struct Transfer {
  HttpResponse* res = nullptr;
  BodySink* sink = nullptr;
  bool began = false;
  bool aborted_by_sink = false;
  bool stalled = false;
  long stall_timeout_s = 0;
  curl_off_t last_bytes = -1;
  std::chrono::steady_clock::time_point last_change;
  CURL* curl = nullptr;
  static constexpr size_t kMaxBufferedBody = 1 << 20;
};

size_t on_header(char* data, size_t size, size_t nitems, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string_view line(data, size * nitems);
  if (line.rfind("HTTP/", 0) == 0) {
    t->res->headers.clear();  // a new status line: an interim 1xx response came first
    return line.size();
  }
  size_t colon = line.find(':');
  if (colon != std::string_view::npos) {
    t->res->headers.emplace_back(lower(trim(line.substr(0, colon))), trim(line.substr(colon + 1)));
  }
  return line.size();
}

size_t on_body(char* data, size_t size, size_t nmemb, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t n = size * nmemb;
  if (!t->began) {
    long status = 0;
    curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
    t->res->status = status;
    t->began = true;
    if (t->sink && status >= 200 && status < 300) {
      if (!t->sink->begin(*t->res)) {
        t->aborted_by_sink = true;
        return 0;
      }
    }
  }
  bool stream = t->sink && t->res->status >= 200 && t->res->status < 300;
  if (stream) {
    if (!t->sink->write(data, n)) {
      t->aborted_by_sink = true;
      return 0;
    }
  } else if (t->res->body.size() < Transfer::kMaxBufferedBody || !t->sink) {
    t->res->body.append(data, n);
  }
  return n;
}

// Aborts a transfer whose body has not moved for stall_timeout_s (curl's own low-speed check
// averages over several seconds and misses a body that stops after a fast start).
int on_progress(void* user, curl_off_t, curl_off_t dlnow, curl_off_t, curl_off_t ulnow) {
  auto* t = static_cast<Transfer*>(user);
  auto now = std::chrono::steady_clock::now();
  curl_off_t moved = dlnow + ulnow;
  if (moved != t->last_bytes) {
    t->last_bytes = moved;
    t->last_change = now;
    return 0;
  }
  if (t->stall_timeout_s > 0 && now - t->last_change > std::chrono::seconds(t->stall_timeout_s)) {
    t->stalled = true;
    return 1;
  }
  return 0;
}

bool is_redirect(long status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

bool retryable_curl(CURLcode c) {
  switch (c) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_PARTIAL_FILE:
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_BAD_CONTENT_ENCODING:
      return true;
    default:
      return false;
  }
}

double env_ms(const char* name, double fallback_s) {
  return env::number(name, fallback_s * 1000.0, 0.0) / 1000.0;
}

}  // namespace

void close_thread_connections() {
  EasyHandle& handle = thread_easy();
  if (handle.h) {
    curl_easy_cleanup(handle.h);
    handle.h = nullptr;
  }
}

std::string header_value(const HeaderList& headers, std::string_view name) {
  std::string key = lower(name);
  for (const auto& [k, v] : headers) {
    if (k == key) return v;
  }
  return "";
}

RetryPolicy RetryPolicy::from_env() {
  RetryPolicy p;
  p.max_attempts =
      static_cast<int>(env::integer("KHUB_HTTP_MAX_ATTEMPTS", p.max_attempts, 1, 1000));
  p.base_delay_s = env_ms("KHUB_HTTP_BACKOFF_MS", p.base_delay_s);
  p.max_delay_s = env_ms("KHUB_HTTP_MAX_BACKOFF_MS", p.max_delay_s);
  return p;
}

Retrier::Retrier(const RetryPolicy& policy, std::string what)
    : policy_(policy), what_(std::move(what)), rng_(std::random_device{}()) {}

bool Retrier::wait_before_retry(double retry_after_s) {
  if (attempt_ >= policy_.max_attempts) return false;
  if (retry_after_s > policy_.max_retry_after_s) return false;
  // Exponential backoff with "equal jitter": half fixed, half random, so that many clients hitting
  // one rate limit spread out instead of retrying in lockstep.
  double cap = std::min(policy_.max_delay_s, policy_.base_delay_s * std::pow(2.0, attempt_ - 1));
  std::uniform_real_distribution<double> jitter(0.0, cap / 2);
  double delay = cap / 2 + jitter(rng_);
  if (retry_after_s >= 0) delay = std::max(delay, retry_after_s);
  last_delay_s_ = delay;
  ++attempt_;
  log_info(what_, ": retrying in ", delay, " s (attempt ", attempt_, " of ", policy_.max_attempts,
           ")");
  std::this_thread::sleep_for(std::chrono::duration<double>(delay));
  return true;
}

std::string url_origin(std::string_view url) {
  size_t scheme = url.find("://");
  if (scheme == std::string_view::npos) return "";
  size_t end = url.find_first_of("/?#", scheme + 3);
  return lower(url.substr(0, end == std::string_view::npos ? url.size() : end));
}

std::string resolve_url(std::string_view base, std::string_view location) {
  if (location.find("://") != std::string_view::npos) return std::string(location);
  if (location.rfind("//", 0) == 0) {
    return std::string(base.substr(0, base.find("://") + 1)) + std::string(location);
  }
  if (!location.empty() && location.front() == '/') return url_origin(base) + std::string(location);
  std::string b(base.substr(0, base.find_first_of("?#")));
  return b.substr(0, b.rfind('/') + 1) + std::string(location);
}

double parse_retry_after(std::string_view value) {
  std::string v = trim(value);
  if (v.empty()) return -1;
  if (std::all_of(v.begin(), v.end(), ::isdigit)) return std::atof(v.c_str());
  std::tm tm{};
  if (strptime(v.c_str(), "%a, %d %b %Y %H:%M:%S", &tm) == nullptr) return -1;
  double delta = std::difftime(timegm(&tm), std::time(nullptr));
  return std::max(0.0, delta);
}

std::string parse_link_next(std::string_view link) {
  // Link: <url>; rel="next", <url2>; rel="prev"
  size_t pos = 0;
  while (pos < link.size()) {
    size_t lt = link.find('<', pos);
    if (lt == std::string_view::npos) break;
    size_t gt = link.find('>', lt);
    if (gt == std::string_view::npos) break;
    size_t end = link.find('<', gt);
    std::string params = lower(
        link.substr(gt + 1, end == std::string_view::npos ? std::string_view::npos : end - gt - 1));
    if (params.find("rel=\"next\"") != std::string::npos ||
        params.find("rel=next") != std::string::npos) {
      return std::string(link.substr(lt + 1, gt - lt - 1));
    }
    pos = gt + 1;
  }
  return "";
}

HttpClient::HttpClient(HttpSettings settings) : settings_(std::move(settings)) {}

HttpResponse HttpClient::perform(const HttpRequest& req) const {
  HttpResponse res;
  std::string url = req.url;
  std::string method = req.method;
  bool send_body = !req.body.empty() || !req.body_file.empty();
  for (int hop = 0;; ++hop) {
    CURL* c = thread_handle();
    res.headers.clear();
    res.body.clear();
    res.status = 0;
    Transfer t;
    t.res = &res;
    t.sink = req.sink;
    t.curl = c;
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, settings_.user_agent.c_str());
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, settings_.connect_timeout_ms);
    if (req.timeout_ms > 0) curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, req.timeout_ms);
    t.stall_timeout_s = req.stall_timeout_s;
    t.last_change = std::chrono::steady_clock::now();
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &t);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
    // The hub's sizes and hashes are of the stored bytes: never let a proxy re-encode them.
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, nullptr);
    curl_easy_setopt(c, CURLOPT_BUFFERSIZE, 512L * 1024);
    std::FILE* upload = nullptr;
    if (method == "HEAD") {
      curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (method != "GET") {
      curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
      if (send_body && !req.body_file.empty()) {
        upload = std::fopen(req.body_file.c_str(), "rb");
        if (!upload) fail(ErrorKind::kIo, "cannot open ", req.body_file, " to upload it");
        std::fseek(upload, 0, SEEK_END);
        long size = std::ftell(upload);
        std::fseek(upload, 0, SEEK_SET);
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_READDATA, upload);
        curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(size));
      } else if (send_body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, req.body.data());
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
      } else {
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
      }
    }
    struct curl_slist* hdrs = nullptr;
    bool same_origin = url_origin(url) == lower(settings_.auth_origin);
    for (const auto& [k, v] : req.headers) {
      if (!same_origin && lower(k) == "authorization") continue;
      hdrs = curl_slist_append(hdrs, (k + ": " + v).c_str());
    }
    if (same_origin && settings_.token && header_value(req.headers, "authorization").empty()) {
      hdrs = curl_slist_append(hdrs, ("Authorization: Bearer " + *settings_.token).c_str());
    }
    hdrs = curl_slist_append(hdrs, "Expect:");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);

    CURLcode rc = curl_easy_perform(c);
    curl_slist_free_all(hdrs);
    if (upload) std::fclose(upload);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (status) res.status = status;
    res.url = url;
    if (hop == 0) res.origin_headers = res.headers;
    if (!t.began && req.sink && res.status >= 200 && res.status < 300 && rc == CURLE_OK) {
      // An empty body never reaches on_body: announce it so the sink sees every 2xx response.
      if (!req.sink->begin(res)) t.aborted_by_sink = true;
    }
    if (t.aborted_by_sink) {
      throw HttpError(ErrorKind::kIo, "download of " + url + " was stopped by its writer",
                      res.status, false, -1, "");
    }
    if (t.stalled) {
      throw HttpError(ErrorKind::kNetwork,
                      method + " " + url + ": no data for " + std::to_string(req.stall_timeout_s) +
                          " s (stalled)",
                      0, true, -1, "");
    }
    if (rc != CURLE_OK) {
      // A redirect whose body failed does not matter; anything else is a transport failure.
      if (!(is_redirect(res.status) && !res.header("location").empty())) {
        std::string msg = method + " " + url + ": " + curl_easy_strerror(rc);
        if (res.status) msg += " (after HTTP " + std::to_string(res.status) + ")";
        throw HttpError(ErrorKind::kNetwork, msg, 0, retryable_curl(rc), -1, "");
      }
    }
    if (is_redirect(res.status) && hop < req.max_redirects) {
      std::string loc = res.header("location");
      if (!loc.empty()) {
        url = resolve_url(url, loc);
        if (res.status == 303) {
          method = "GET";
          send_body = false;
        }
        continue;
      }
    }
    return res;
  }
}

void HttpClient::throw_for_status(const HttpRequest& req, const HttpResponse& res) {
  std::string code = res.origin_header("x-error-code");
  if (code.empty()) code = res.header("x-error-code");
  std::string hub_msg = res.header("x-error-message");
  if (hub_msg.empty() && !res.body.empty() && res.body.size() < 2000) {
    hub_msg = res.body;
    while (!hub_msg.empty() && (hub_msg.back() == '\n' || hub_msg.back() == '\r')) {
      hub_msg.pop_back();
    }
  }
  long s = res.status;
  bool retryable = s == 408 || s == 429 || (s >= 500 && s <= 599);
  double retry_after = parse_retry_after(res.header("retry-after"));
  std::string msg = req.method + " " + req.url + ": HTTP " + std::to_string(s);
  if (!code.empty()) msg += " " + code;
  if (!hub_msg.empty()) msg += ": " + hub_msg;
  ErrorKind kind = s == 404 ? ErrorKind::kNotFound : ErrorKind::kNetwork;
  throw HttpError(kind, msg, s, retryable, retry_after, code);
}

HttpResponse HttpClient::request(const HttpRequest& req, const std::vector<long>& accept) const {
  Retrier retrier(settings_.retry, req.method + " " + req.url);
  for (;;) {
    try {
      HttpResponse res = perform(req);
      bool ok = (res.status >= 200 && res.status < 300) ||
                std::find(accept.begin(), accept.end(), res.status) != accept.end();
      if (!ok) throw_for_status(req, res);
      return res;
    } catch (const HttpError& e) {
      if (!e.retryable()) throw;
      if (!retrier.wait_before_retry(e.retry_after_s())) {
        std::string why = e.retry_after_s() > settings_.retry.max_retry_after_s
                              ? "the server asked to wait " +
                                    std::to_string(static_cast<long>(e.retry_after_s())) + " s"
                              : "gave up after " + std::to_string(retrier.attempt()) + " attempts";
        throw HttpError(e.kind(), std::string(e.what()) + " (" + why + ")", e.status(), false,
                        e.retry_after_s(), e.error_code());
      }
    }
  }
}

}  // namespace khub::hub::net
