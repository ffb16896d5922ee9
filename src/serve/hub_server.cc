#include "serve/hub_server.h"

#include <fcntl.h>
#include <httplib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "core/error.h"
#include "core/logging.h"
#include "hub/ref/repo_names.h"
#include "hub/store/content_hash.h"

#include "serve/hub_server_impl.h"

namespace khub::serve {

using namespace khub::hub::net;

thread_local std::chrono::steady_clock::time_point t_request_start;
thread_local std::string current_target;  // decoded path of the request being handled

std::string header_safe(std::string s) {
  for (char& c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  }
  return s.substr(0, 500);
}

void send_error(httplib::Response& res, int status, const std::string& code,
                const std::string& message) {
  res.status = status;
  if (!code.empty()) res.set_header("X-Error-Code", code);
  res.set_header("X-Error-Message", header_safe(message));
  res.set_content(json({{"error", message}}).dump(), "application/json");
}

void send_json(httplib::Response& res, const json& body) {
  res.status = 200;
  res.set_content(body.dump(), "application/json");
}

std::string iso_now() {
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()) % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[48];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[64];
  std::snprintf(out, sizeof out, "%s.%03dZ", buf, static_cast<int>(ms.count()));
  return out;
}

bool truthy(const std::string& v) { return v == "1" || v == "true" || v == "True"; }

HubServer::Impl::Impl(ServeOptions o)
    : opts(std::move(o)), store(opts.root, opts.revision_id), faults(opts.faults) {
  if (opts.token_file) tokens = read_token_file(*opts.token_file);
  // httplib writes to sockets without MSG_NOSIGNAL: a client that hangs up mid-body would
  // otherwise kill the whole process with SIGPIPE instead of failing one write.
  std::signal(SIGPIPE, SIG_IGN);
  if (!opts.log) {
    opts.log = [](const std::string& line) {
      std::string l = line + "\n";
      std::fwrite(l.data(), 1, l.size(), stderr);
    };
  }
  int threads = std::max(2, opts.threads);
  svr.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  svr.set_tcp_nodelay(true);
  svr.set_keep_alive_max_count(1000);
  svr.set_keep_alive_timeout(std::max(1, opts.keep_alive_s));
  svr.set_read_timeout(30);
  svr.set_write_timeout(30);
  svr.set_payload_max_length(size_t(64) << 30);
  svr.set_pre_routing_handler([this](const httplib::Request&, httplib::Response&) {
    t_request_start = std::chrono::steady_clock::now();
    ++in_flight;
    return httplib::Server::HandlerResponse::Unhandled;
  });
  svr.set_logger(
      [this](const httplib::Request& req, const httplib::Response& res) { log_request(req, res); });
  svr.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        std::string msg = "internal error";
        try {
          std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          msg = e.what();
        } catch (...) {
        }
        send_error(res, 500, "", msg);
      });
  svr.Get(".*", [this](const httplib::Request& req, httplib::Response& res) {
    handle(req, res, nullptr);
  });
  svr.Post(".*", [this](const httplib::Request& req, httplib::Response& res) {
    handle(req, res, nullptr);
  });
  svr.Put(".*", [this](const httplib::Request& req, httplib::Response& res,
                       const httplib::ContentReader& reader) { handle(req, res, &reader); });
}

void HubServer::Impl::log_request(const httplib::Request& req, const httplib::Response& res) {
  double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t_request_start)
          .count();
  std::string bytes = res.get_header_value("Content-Length");
  if (bytes.empty()) bytes = std::to_string(res.body.size());
  char dur[32];
  std::snprintf(dur, sizeof dur, "%.1fms", ms);
  std::string line = iso_now() + " " + req.remote_addr + " \"" + req.method + " " +
                     header_safe(req.target) + "\" " + std::to_string(res.status) + " " + bytes +
                     "B " + dur;
  if (req.has_header("Range")) line += " range=" + header_safe(req.get_header_value("Range"));
  std::string fault = res.get_header_value("X-Khub-Fault");
  if (!fault.empty()) line += " fault=" + fault;
  line += " ua=\"" + header_safe(req.get_header_value("User-Agent")) + "\"";
  opts.log(line);
  --in_flight;
}

// ---- The Hub's own API beside khub's (hub_server_commit.cc answers these) ------------------
// /api/repos/create; /api/validate-yaml;
// /api/{type}s/{org}/{name}/{commits|paths-info|preupload|commit|branch|tag}/ {rev};
// /[{type}s/]{org}/{name}/raw/{rev}/{path}; /[{type}s/]{org}/{name}.git/info/lfs/objects/ batch;
// the LFS upload and verify links the batch hands out (/_khub/lfs-upload|lfs-verify/{id}).
std::optional<Route> route_hub_api(const std::vector<std::string>& s) {
  static const std::set<std::string> kTypes = {"models", "kernels", "datasets", "spaces"};
  static const std::map<std::string, std::pair<std::string, std::string>> kApi = {
      {"commits", {"info", "commits"}},           {"paths-info", {"tree", "paths-info"}},
      {"preupload", {"upload", "hub-preupload"}}, {"commit", {"upload", "hub-commit"}},
      {"branch", {"upload", "branch"}},           {"tag", {"upload", "tag"}}};
  auto join_from = [&](size_t i) {
    std::string p;
    for (size_t k = i; k < s.size(); ++k) p += (p.empty() ? "" : "/") + s[k];
    return p;
  };
  Route r;
  if (s.size() == 3 && s[0] == "api" && s[1] == "repos" && s[2] == "create") {
    r.kind = "upload";
    r.action = "create-repo";
    return r;
  }
  if (s.size() == 2 && s[0] == "api" && s[1] == "validate-yaml") {
    r.kind = "other";
    r.action = "validate-yaml";
    return r;
  }
  if (s.size() >= 6 && s[0] == "api" && kTypes.count(s[1]) && kApi.count(s[4])) {
    std::tie(r.kind, r.action) = kApi.at(s[4]);
    r.repo_id = s[2] + "/" + s[3];
    r.rev = join_from(5);  // JS listCommits does not encode a revision's slashes
    return r;
  }
  if (s.size() == 3 && s[0] == "_khub" && (s[1] == "lfs-upload" || s[1] == "lfs-verify")) {
    r.kind = "upload";
    r.action = s[1];
    r.rev = s[2];
    return r;
  }
  size_t at = !s.empty() && kTypes.count(s[0]) && s[0] != "models" ? 1 : 0;
  if (s.size() == at + 6 && s[at + 1].size() > 4 &&
      s[at + 1].compare(s[at + 1].size() - 4, 4, ".git") == 0 &&
      join_from(at + 2) == "info/lfs/objects/batch") {
    r.kind = "upload";
    r.action = "lfs-batch";
    r.repo_id = s[at] + "/" + s[at + 1].substr(0, s[at + 1].size() - 4);
    return r;
  }
  if (s.size() >= at + 5 && s[at + 2] == "raw") {
    r.kind = "file";
    r.action = "raw";
    r.repo_id = s[at] + "/" + s[at + 1];
    r.rev = s[at + 3];
    r.path = join_from(at + 4);
    return r;
  }
  return std::nullopt;
}
// ---- end of the Hub's own API --------------------------------------------------------------

std::optional<Route> HubServer::Impl::route(const std::vector<std::string>& s) {
  if (auto hub = route_hub_api(s)) return hub;
  auto repo_of = [&](size_t i) { return s[i] + "/" + s[i + 1]; };
  auto join_from = [&](size_t i) {
    std::string p;
    for (size_t k = i; k < s.size(); ++k) p += (p.empty() ? "" : "/") + s[k];
    return p;
  };
  static const std::set<std::string> kTypes = {"models", "kernels", "datasets", "spaces"};
  Route r;
  if (s.size() == 1 && s[0] == "health") {
    r.kind = "other";
    r.action = "health";
    return r;
  }
  if (s.size() >= 2 && s[0] == "api") {
    if (s.size() == 2 && s[1] == "whoami-v2") {
      r.kind = "other";
      r.action = "whoami";
      return r;
    }
    if (s.size() == 4 && s[1] == "khub" && s[2] == "blobs") {
      r.kind = "upload";
      r.action = "blob";
      r.rev = s[3];
      return r;
    }
    if (s.size() >= 4 && kTypes.count(s[1])) {
      r.repo_id = repo_of(2);
      if (s.size() == 4) {
        r.kind = "info";
        r.action = "info";
      } else if (s.size() == 6 && s[4] == "revision") {
        r.kind = "info";
        r.action = "info";
        r.rev = s[5];
      } else if (s.size() == 5 && s[4] == "refs") {
        r.kind = "refs";
        r.action = "refs";
      } else if (s.size() >= 6 && s[4] == "tree") {
        r.kind = "tree";
        r.action = "tree";
        r.rev = s[5];
        r.path = join_from(6);
      } else if (s.size() == 6 && s[4] == "khub" && (s[5] == "preupload" || s[5] == "commit")) {
        r.kind = "upload";
        r.action = s[5];
      } else {
        return std::nullopt;
      }
      return r;
    }
    return std::nullopt;
  }
  if (s.size() >= 6 && s[0] == "_khub" && s[1] == "lfs") {
    r.kind = "file";
    r.action = "lfs";
    r.repo_id = repo_of(2);
    r.rev = s[4];
    r.path = join_from(5);
    return r;
  }
  if (s.size() >= 6 && (s[0] == "kernels" || s[0] == "datasets" || s[0] == "spaces") &&
      s[3] == "resolve") {
    r.kind = "file";
    r.action = "resolve";
    r.repo_id = repo_of(1);
    r.rev = s[4];
    r.path = join_from(5);
    return r;
  }
  if (s.size() >= 5 && s[2] == "resolve") {
    r.kind = "file";
    r.action = "resolve";
    r.repo_id = repo_of(0);
    r.rev = s[3];
    r.path = join_from(4);
    return r;
  }
  return std::nullopt;
}

void HubServer::Impl::handle(const httplib::Request& req, httplib::Response& res,
                             const httplib::ContentReader* reader) {
  // Ranges are served by serve_bytes from the Range header; httplib would otherwise slice every
  // answer (redirects and errors included) a second time.
  const_cast<httplib::Request&>(req).ranges.clear();
  // Split the raw target ourselves: each segment is percent-decoded on its own, so that a
  // revision such as "refs%2Fpr%2F1" stays one segment and "%2e%2e" cannot become a path step.
  std::string target = req.target.substr(0, req.target.find('?'));
  std::vector<std::string> segs;
  size_t start = 1;
  while (start <= target.size()) {
    size_t end = target.find('/', start);
    if (end == std::string::npos) end = target.size();
    std::string seg;
    if (!url_decode(target.substr(start, end - start), seg)) {
      send_error(res, 400, "", "malformed percent-encoding in the URL");
      return;
    }
    if (!seg.empty()) segs.push_back(seg);
    start = end + 1;
  }
  auto r = route(segs);
  // --- web pages (serve/web/site.h): only paths no API route takes ---
  if (!r && (req.method == "GET" || req.method == "HEAD") && web::Site::is_page_path(segs)) {
    handle_page(req, res, segs);
    return;
  }
  // --- end of web pages ---
  if (!r) {
    send_error(res, 404, "", "no such endpoint: " + target);
    return;
  }
  bool is_head = req.method == "HEAD";
  FaultDecision fd = faults.decide(r->kind, target, is_head);
  current_target = target;
  if (!fd.applied.empty()) res.set_header("X-Khub-Fault", header_safe(fd.applied));
  if (fd.delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(fd.delay_ms));
  if (fd.status) {
    if (fd.status->retry_after >= 0) {
      res.set_header("Retry-After", std::to_string(fd.status->retry_after));
    }
    send_error(res, fd.status->status, fd.status->status == 404 ? "EntryNotFound" : "",
               "injected fault " + fd.status->text);
    return;
  }
  try {
    if (!r->repo_id.empty() && !is_valid_repo_id(r->repo_id)) {
      send_error(res, 400, "", "'" + r->repo_id + "' is not a repository id");
      return;
    }
    const std::string& m = req.method;
    bool get = m == "GET" || m == "HEAD";
    if (r->action == "health" && get) {
      res.set_content("ok\n", "text/plain");
    } else if (r->action == "whoami" && get) {
      bool can_write = false;
      auto tok = token_valid(req, &can_write);
      if (!tok || !*tok) {
        send_error(res, 401, "", "Invalid credentials in Authorization header");
      } else {
        send_json(res, {{"type", "user"},
                        {"name", "khub"},
                        {"auth", {{"accessToken", {{"role", can_write ? "write" : "read"}}}}}});
      }
    } else if (r->action == "info" && get) {
      handle_info(req, res, *r);
    } else if (r->action == "refs" && get) {
      handle_refs(req, res, *r);
    } else if (r->action == "tree" && get) {
      handle_tree(req, res, *r, fd);
    } else if ((r->action == "resolve" || r->action == "lfs" || r->action == "raw") && get) {
      handle_file(req, res, *r, fd);
    } else if (r->action == "preupload" && m == "POST") {
      handle_preupload(req, res, *r);
    } else if (r->action == "commit" && m == "POST") {
      handle_commit(req, res, *r);
    } else if (r->action == "blob" && m == "PUT" && reader) {
      handle_blob(req, res, *r, *reader);
    } else if (handle_hub_api(req, res, *r, reader)) {
      // answered by the Hub's own API (hub_server_commit.cc)
    } else {
      send_error(res, 405, "", m + " is not allowed on " + target);
    }
  } catch (const StoreError& e) {
    send_error(res, e.status(), e.code(), e.what());
  } catch (const Error& e) {
    int status = e.kind() == ErrorKind::kInvalidArgument || e.kind() == ErrorKind::kFormat ? 400
                 : e.kind() == ErrorKind::kNotFound                                        ? 404
                                                                                           : 500;
    send_error(res, status, "", e.what());
  }
}

// --- web pages (serve/web/site.h) ---
void HubServer::Impl::handle_page(const httplib::Request& req, httplib::Response& res,
                                  const std::vector<std::string>& segs) {
  web::WebRequest w;
  w.segments = segs;
  for (const auto& [key, value] : req.params) w.query.emplace(key, value);
  auto tok = token_valid(req, nullptr);
  w.token_ok = tok && *tok;
  w.token_rejected = tok && !*tok;
  w.host = req.get_header_value("Host");
  web::WebResponse page = site.handle(w);
  res.status = page.status;
  for (const auto& [name, value] : page.headers) res.set_header(name, value);
  res.set_content(std::move(page.body), page.content_type);
}
// --- end of web pages ---

HubServer::HubServer(ServeOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {
  std::error_code ec;
  if (!std::filesystem::is_directory(impl_->opts.root, ec)) {
    fail(ErrorKind::kNotFound, "hub directory ", impl_->opts.root.string(), " does not exist");
  }
}

HubServer::~HubServer() { stop(); }

int HubServer::start() {
  auto& s = impl_->svr;
  int port = impl_->opts.port;
  if (port == 0) {
    port = s.bind_to_any_port(impl_->opts.host);
    if (port < 0) fail(ErrorKind::kIo, "cannot bind ", impl_->opts.host);
  } else if (!s.bind_to_port(impl_->opts.host, port)) {
    fail(ErrorKind::kIo, "cannot bind ", impl_->opts.host, ":", port,
         " (in use, or not an address of this machine)");
  }
  impl_->port = port;
  if (impl_->opts.web_prewarm) impl_->site.catalog().prewarm();
  impl_->thread = std::thread([this] { impl_->svr.listen_after_bind(); });
  return port;
}

void HubServer::serve_forever() {
  auto& s = impl_->svr;
  int port = impl_->opts.port;
  if (port == 0) {
    port = s.bind_to_any_port(impl_->opts.host);
    if (port < 0) fail(ErrorKind::kIo, "cannot bind ", impl_->opts.host);
  } else if (!s.bind_to_port(impl_->opts.host, port)) {
    fail(ErrorKind::kIo, "cannot bind ", impl_->opts.host, ":", port,
         " (in use, or not an address of this machine)");
  }
  impl_->port = port;
  if (impl_->opts.web_prewarm) impl_->site.catalog().prewarm();
  log_info("khub serve: listening on ", url());
  s.listen_after_bind();
}

void HubServer::stop() {
  if (!impl_) return;
  impl_->svr.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

int HubServer::port() const { return impl_->port; }
std::string HubServer::url() const {
  return "http://" + impl_->opts.host + ":" + std::to_string(impl_->port.load());
}
FaultPlan& HubServer::faults() { return impl_->faults; }
int HubServer::in_flight() const { return impl_->in_flight.load(); }
HubStore& HubServer::store() { return impl_->store; }

}  // namespace khub::serve
