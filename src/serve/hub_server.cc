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

namespace khub::serve {
namespace {

using json = nlohmann::json;
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

// An open file shared by the chunks of one response.
struct OpenFile {
  int fd = -1;
  ~OpenFile() {
    if (fd >= 0) ::close(fd);
  }
};

struct Route {
  std::string kind;  // file, tree, info, refs, upload, other
  std::string repo_id;
  std::string rev;
  std::string path;
  std::string action;  // info, refs, tree, resolve, lfs, preupload, commit, blob, health, whoami
};

}  // namespace

std::map<std::string, bool> read_token_file(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) fail(ErrorKind::kNotFound, "token file ", file.string(), " cannot be read");
  std::map<std::string, bool> tokens;
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    auto hash = line.find('#');
    if (hash != std::string::npos) line = line.substr(0, hash);
    std::istringstream ss(line);
    std::string tok, scope, extra;
    if (!(ss >> tok)) continue;
    ss >> scope >> extra;
    if (!extra.empty() || (!scope.empty() && scope != "read" && scope != "write")) {
      fail(ErrorKind::kFormat, file.string(), ":", n, ": expected 'TOKEN [read|write]'");
    }
    if (tok.size() < 8) {
      fail(ErrorKind::kFormat, file.string(), ":", n, ": tokens must have at least 8 characters");
    }
    tokens[tok] = scope != "read";
  }
  return tokens;
}

struct HubServer::Impl {
  ServeOptions opts;
  HubStore store;
  FaultPlan faults;
  std::map<std::string, bool> tokens;
  httplib::Server svr;
  std::thread thread;
  std::atomic<int> port{0};
  std::atomic<int> in_flight{0};

  explicit Impl(ServeOptions o)
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
    svr.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
      log_request(req, res);
    });
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

  void log_request(const httplib::Request& req, const httplib::Response& res) {
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() -
                                                          t_request_start)
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

  // Token check: nullopt = no Authorization header; false = invalid token; true = valid.
  std::optional<bool> token_valid(const httplib::Request& req, bool* can_write) const {
    std::string auth = req.get_header_value("Authorization");
    if (auth.empty()) return std::nullopt;
    const std::string bearer = "Bearer ";
    if (auth.rfind(bearer, 0) != 0) return false;
    auto it = tokens.find(auth.substr(bearer.size()));
    if (it == tokens.end()) return false;
    if (can_write) *can_write = it->second;
    return true;
  }

  // Answers the request itself (and returns false) when the caller may not read the repo.
  bool check_read(const httplib::Request& req, httplib::Response& res, const std::string& repo) {
    auto tok = token_valid(req, nullptr);
    if (tok && !*tok) {
      send_error(res, 401, "", "Invalid credentials in Authorization header");
      return false;
    }
    if (!store.repo_exists(repo) || (store.is_private(repo) && !tok)) {
      // A private repo looks exactly like a missing one without a token (as on the Hub).
      send_error(res, store.repo_exists(repo) ? 401 : 404, "RepoNotFound", "Repository not found");
      return false;
    }
    return true;
  }

  bool check_write(const httplib::Request& req, httplib::Response& res) {
    bool can_write = false;
    auto tok = token_valid(req, &can_write);
    if (tokens.empty()) {
      send_error(res, 403, "", "uploads are disabled: the server has no token file");
      return false;
    }
    if (!tok || !*tok) {
      send_error(res, 401, "", "uploads need a valid token (Authorization: Bearer ...)");
      return false;
    }
    if (!can_write) {
      send_error(res, 403, "", "this token is read-only");
      return false;
    }
    return true;
  }

  std::optional<Route> route(const std::vector<std::string>& s) {
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

  void handle(const httplib::Request& req, httplib::Response& res,
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
      } else if ((r->action == "resolve" || r->action == "lfs") && get) {
        handle_file(req, res, *r, fd);
      } else if (r->action == "preupload" && m == "POST") {
        handle_preupload(req, res, *r);
      } else if (r->action == "commit" && m == "POST") {
        handle_commit(req, res, *r);
      } else if (r->action == "blob" && m == "PUT" && reader) {
        handle_blob(req, res, *r, *reader);
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

  // The revision id for a request, or an answer (404 RevisionNotFound) and nullopt.
  std::optional<std::string> revision_of(httplib::Response& res, const std::string& repo,
                                         const std::string& rev) {
    auto resolved = store.resolve(repo, rev);
    if (!resolved) send_error(res, 404, "RevisionNotFound", "Invalid rev id: " + rev);
    return resolved;
  }

  void handle_info(const httplib::Request& req, httplib::Response& res, const Route& r) {
    if (!check_read(req, res, r.repo_id)) return;
    std::string rev_name = r.rev;
    if (rev_name.empty()) {
      auto def = store.default_branch(r.repo_id);
      if (!def) {
        send_error(res, 404, "RevisionNotFound", "the repository has no main or vN branch");
        return;
      }
      rev_name = *def;
    }
    auto rev = revision_of(res, r.repo_id, rev_name);
    if (!rev) return;
    auto idx = store.index(r.repo_id, *rev);
    bool blobs = truthy(req.get_param_value("blobs"));
    json siblings = json::array();
    uint64_t total = 0;
    for (const auto& e : idx->entries) {
      if (e.is_dir) continue;
      total += e.size;
      json s = {{"rfilename", e.path}};
      if (blobs) {
        s["size"] = e.size;
        s["blobId"] = e.oid;
        if (e.lfs) {
          s["lfs"] = {{"sha256", e.sha256},
                      {"size", e.size},
                      {"pointerSize", lfs_pointer(e.sha256, e.size).size()}};
        }
      }
      siblings.push_back(s);
    }
    std::string org = r.repo_id.substr(0, r.repo_id.find('/'));
    send_json(res, {{"_id", sha256_hex(r.repo_id).substr(0, 24)},
                    {"id", r.repo_id},
                    {"modelId", r.repo_id},
                    {"author", org},
                    {"sha", *rev},
                    {"lastModified", idx->last_modified},
                    {"createdAt", idx->last_modified},
                    {"private", store.is_private(r.repo_id)},
                    {"gated", false},
                    {"disabled", false},
                    {"downloads", 0},
                    {"likes", 0},
                    {"tags", json::array()},
                    {"siblings", siblings},
                    {"usedStorage", total}});
  }

  void handle_refs(const httplib::Request& req, httplib::Response& res, const Route& r) {
    if (!check_read(req, res, r.repo_id)) return;
    RefList refs = store.refs(r.repo_id);
    json out = {{"branches", json::array()}, {"tags", json::array()}, {"converts", json::array()}};
    for (auto [key, list] : {std::pair{"branches", &refs.branches}, {"tags", &refs.tags}}) {
      for (const auto& g : *list) {
        out[key].push_back({{"name", g.name}, {"ref", g.ref}, {"targetCommit", g.commit}});
      }
    }
    if (truthy(req.get_param_value("include_prs"))) out["pullRequests"] = json::array();
    send_json(res, out);
  }

  void handle_tree(const httplib::Request& req, httplib::Response& res, const Route& r,
                   const FaultDecision& fd) {
    if (!check_read(req, res, r.repo_id)) return;
    auto rev = revision_of(res, r.repo_id, r.rev);
    if (!rev) return;
    auto idx = store.index(r.repo_id, *rev);
    if (!r.path.empty()) {
      const IndexedEntry* dir = idx->find(r.path);
      if (!dir || !dir->is_dir) {
        send_error(res, 404, "EntryNotFound", "folder '" + r.path + "' not found at " + *rev);
        return;
      }
    }
    bool recursive = truthy(req.get_param_value("recursive"));
    std::string prefix = r.path.empty() ? "" : r.path + "/";
    std::vector<const IndexedEntry*> all;
    for (const auto& e : idx->entries) {
      if (e.path.rfind(prefix, 0) != 0) continue;
      if (!recursive && e.path.find('/', prefix.size()) != std::string::npos) continue;
      all.push_back(&e);
    }
    size_t cursor = 0, limit = opts.page_size;
    if (req.has_param("cursor")) {
      std::string c = req.get_param_value("cursor");
      char* end = nullptr;
      cursor = std::strtoull(c.c_str(), &end, 10);
      if (c.empty() || *end != '\0' || cursor > all.size()) {
        send_error(res, 400, "", "invalid cursor '" + c + "'");
        return;
      }
    }
    if (req.has_param("limit")) {
      limit = std::strtoull(req.get_param_value("limit").c_str(), nullptr, 10);
      if (limit == 0 || limit > 10000) limit = opts.page_size;
    }
    json page = json::array();
    size_t end = std::min(all.size(), cursor + limit);
    for (size_t i = cursor; i < end; ++i) {
      const IndexedEntry& e = *all[i];
      if (e.is_dir) {
        page.push_back({{"type", "directory"}, {"oid", e.oid}, {"size", 0}, {"path", e.path}});
        continue;
      }
      json j = {{"type", "file"}, {"oid", e.oid}, {"size", e.size}, {"path", e.path}};
      if (e.lfs) {
        j["lfs"] = {{"oid", e.sha256},
                    {"size", e.size},
                    {"pointerSize", lfs_pointer(e.sha256, e.size).size()}};
      }
      page.push_back(j);
    }
    if (cursor == 0) {
      // Injected hostile entries: what a malicious hub could list.
      const std::string fake = std::string(40, 'a');
      for (const auto& h : fd.hostile) {
        std::string p = h == "dotdot"      ? prefix + "../../escaped.so"
                        : h == "absolute"  ? "/etc/khub-escaped"
                        : h == "nul"       ? prefix + std::string("a\0b.so", 6)
                        : h == "backslash" ? prefix + "..\\..\\escaped.so"
                                           : (all.empty() ? prefix + "dup" : all[0]->path);
        page.push_back({{"type", "file"}, {"oid", fake}, {"size", 4}, {"path", p}});
      }
    }
    if (end < all.size()) {
      std::string host = req.get_header_value("Host");
      std::string base = host.empty() ? "" : "http://" + host;
      std::string next = base + req.target.substr(0, req.target.find('?')) + "?" +
                         (recursive ? "recursive=true&" : "") + "cursor=" + std::to_string(end) +
                         (req.has_param("limit") ? "&limit=" + std::to_string(limit) : "");
      res.set_header("Link", "<" + next + ">; rel=\"next\"");
    }
    send_json(res, page);
  }

  void handle_file(const httplib::Request& req, httplib::Response& res, const Route& r,
                   const FaultDecision& fd) {
    if (!check_read(req, res, r.repo_id)) return;
    if (!is_safe_repo_path(r.path)) {
      send_error(res, 400, "", "unsafe file path");
      return;
    }
    auto rev = revision_of(res, r.repo_id, r.rev);
    if (!rev) return;
    auto idx = store.index(r.repo_id, *rev);
    const IndexedEntry* e = idx->find(r.path);
    if (!e || e->is_dir) {
      send_error(res, 404, "EntryNotFound", "Entry not found");
      return;
    }
    res.set_header("X-Repo-Commit", *rev);
    res.set_header("Accept-Ranges", "bytes");
    if (r.action == "resolve" && e->lfs) {
      // As huggingface.co: LFS files redirect to their storage, the hub headers stay on the 302.
      std::string host = req.get_header_value("Host");
      std::string loc = (host.empty() ? "" : "http://" + host) + "/_khub/lfs/" + r.repo_id + "/" +
                        url_encode_segment(*rev) + "/" + url_encode_path(r.path);
      res.status = 302;
      res.set_header("Location", loc);
      res.set_header("X-Linked-Etag", "\"" + e->sha256 + "\"");
      res.set_header("X-Linked-Size", std::to_string(e->size));
      res.set_header("ETag", "W/\"" + e->oid.substr(0, 20) + "\"");
      res.set_content("Found. Redirecting to " + loc, "text/plain");
      return;
    }
    res.set_header("ETag", "\"" + (e->lfs ? e->sha256 : e->oid) + "\"");
    FaultDecision body = faults.decide("file", current_target, req.method == "HEAD", true);
    if (!body.applied.empty()) {
      std::string all = fd.applied.empty() ? body.applied : fd.applied + "," + body.applied;
      res.set_header("X-Khub-Fault", header_safe(all));
    }
    serve_bytes(req, res, store.revision_dir(r.repo_id, *rev) / r.path, e->size, body);
  }

  void serve_bytes(const httplib::Request& req, httplib::Response& res,
                   const std::filesystem::path& file, uint64_t size, const FaultDecision& fd) {
    auto f = std::make_shared<OpenFile>();
    f->fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
    if (f->fd < 0) {
      send_error(res, 500, "", "cannot open the file");
      return;
    }
    uint64_t first = 0, last = size ? size - 1 : 0;
    if (req.has_header("Range")) {
      std::string range = req.get_header_value("Range");
      unsigned long long a = 0, b = 0;
      int n = 0;
      if (std::sscanf(range.c_str(), "bytes=%llu-%llu%n", &a, &b, &n) == 2 &&
          n == static_cast<int>(range.size())) {
        first = a;
        last = std::min<uint64_t>(b, size ? size - 1 : 0);
      } else if (std::sscanf(range.c_str(), "bytes=%llu-%n", &a, &n) == 1 &&
                 n == static_cast<int>(range.size())) {
        first = a;
      } else if (std::sscanf(range.c_str(), "bytes=-%llu%n", &a, &n) == 1 &&
                 n == static_cast<int>(range.size())) {
        first = a >= size ? 0 : size - a;
      } else {
        first = size;  // unsupported (e.g. several ranges): refuse below
      }
      if (first >= size || first > last) {
        res.set_header("Content-Range", "bytes */" + std::to_string(size));
        send_error(res, 416, "", "range not satisfiable: " + range);
        return;
      }
      res.status = 206;
      res.set_header("Content-Range", "bytes " + std::to_string(first) + "-" +
                                          std::to_string(last) + "/" + std::to_string(size));
    } else {
      res.status = 200;
    }
    uint64_t length = size == 0 ? 0 : last - first + 1;
    uint64_t send_len = length;
    std::optional<FaultRule> body = fd.body;
    if (body && body->action == FaultRule::Action::kTruncate) {
      send_len = std::min<uint64_t>(length, body->bytes);
    }
    uint64_t corrupt_at = UINT64_MAX, drop_at = UINT64_MAX;
    if (body && body->action == FaultRule::Action::kCorrupt) {
      corrupt_at = body->has_bytes ? body->bytes : size / 2;
    }
    if (body && body->action == FaultRule::Action::kDrop) drop_at = body->bytes;
    uint64_t bps = fd.throttle_bps;
    auto stall_ms = std::make_shared<std::atomic<int>>(fd.stall_ms);
    if (send_len == 0) {
      res.set_content("", "application/octet-stream");
      return;
    }
    if (req.method == "HEAD") {
      // httplib sends the length of a provider's content for HEAD but never calls it.
      res.set_content_provider(send_len, "application/octet-stream",
                               [](size_t, size_t, httplib::DataSink&) { return false; });
      return;
    }
    res.set_content_provider(
        send_len, "application/octet-stream",
        [f, first, corrupt_at, drop_at, bps, stall_ms](size_t offset, size_t len,
                                                       httplib::DataSink& sink) {
          if (offset > 0) {
            int ms = stall_ms->exchange(0);
            if (ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(ms));
          }
          const size_t kChunk =
              bps ? std::max<size_t>(1024, std::min<size_t>(bps / 10, 1 << 18)) : size_t(1) << 18;
          std::vector<char> buf(std::min(len, kChunk));
          ssize_t n = ::pread(f->fd, buf.data(), buf.size(), first + offset);
          if (n <= 0) return false;
          uint64_t abs = first + offset;
          if (corrupt_at >= abs && corrupt_at < abs + n) buf[corrupt_at - abs] ^= 0x5a;
          if (offset + n > drop_at) {
            // Send what is left before the drop point, then cut the connection.
            size_t keep = drop_at > offset ? drop_at - offset : 0;
            if (keep) sink.write(buf.data(), keep);
            return false;
          }
          if (bps) {
            std::this_thread::sleep_for(std::chrono::duration<double>(double(n) / double(bps)));
          }
          return sink.write(buf.data(), n);
        });
  }

  void handle_preupload(const httplib::Request& req, httplib::Response& res, const Route& r) {
    if (!check_write(req, res)) return;
    json body = json::parse(req.body, nullptr, false);
    if (body.is_discarded() || !body.contains("files") || !body["files"].is_array()) {
      send_error(res, 400, "", "expected {\"files\": [{\"path\", \"sha256\", \"size\"}]}");
      return;
    }
    json missing = json::array();
    std::set<std::string> seen;
    for (const auto& f : body["files"]) {
      if (!f.contains("sha256") || !f["sha256"].is_string() || !f.contains("size") ||
          !f["size"].is_number_unsigned()) {
        send_error(res, 400, "", "each file needs a sha256 and a size");
        return;
      }
      std::string sha = f["sha256"].get<std::string>();
      if (!is_hex(sha, 64)) {
        send_error(res, 400, "", "'" + sha + "' is not a sha256");
        return;
      }
      if (!store.has_staged_blob(sha, f["size"].get<uint64_t>()) && seen.insert(sha).second) {
        missing.push_back(sha);
      }
    }
    send_json(res, {{"missing", missing}});
  }

  void handle_blob(const httplib::Request& req, httplib::Response& res, const Route& r,
                   const httplib::ContentReader& reader) {
    if (!check_write(req, res)) return;
    if (!is_hex(r.rev, 64)) {
      send_error(res, 400, "", "'" + r.rev + "' is not a sha256");
      return;
    }
    std::filesystem::path tmp = store.upload_temp_path();
    OpenFile out;
    out.fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out.fd < 0) {
      send_error(res, 500, "", "cannot stage the upload");
      return;
    }
    Hasher h(HashAlgo::kSha256);
    uint64_t size = 0;
    bool ok = true;
    reader([&](const char* data, size_t n) {
      h.update(data, n);
      size += n;
      for (size_t done = 0; done < n;) {
        ssize_t w = ::write(out.fd, data + done, n - done);
        if (w <= 0) {
          ok = false;
          return false;
        }
        done += w;
      }
      return true;
    });
    ::fsync(out.fd);
    std::string got = h.finish_hex();
    if (!ok) {
      ::unlink(tmp.c_str());
      send_error(res, 500, "", "cannot write the upload");
      return;
    }
    if (got != r.rev) {
      ::unlink(tmp.c_str());
      send_error(res, 400, "", "the uploaded bytes have sha256 " + got + ", not " + r.rev);
      return;
    }
    if (::rename(tmp.c_str(), store.staged_blob(r.rev).c_str()) != 0) {
      ::unlink(tmp.c_str());
      send_error(res, 500, "", "cannot store the upload");
      return;
    }
    res.status = 201;
    res.set_content(json({{"sha256", got}, {"size", size}}).dump(), "application/json");
  }

  void handle_commit(const httplib::Request& req, httplib::Response& res, const Route& r) {
    if (!check_write(req, res)) return;
    json body = json::parse(req.body, nullptr, false);
    if (body.is_discarded() || !body.is_object() || !body.contains("files") ||
        !body["files"].is_array()) {
      send_error(res, 400, "", "expected a JSON object with a 'files' list");
      return;
    }
    CommitRequest c;
    try {
      for (const auto& f : body["files"]) {
        c.files.push_back({f.at("path").get<std::string>(), f.at("sha256").get<std::string>(),
                           f.at("size").get<uint64_t>(), f.value("executable", false)});
      }
      c.branch = body.value("branch", std::string());
      if (body.contains("tags")) c.tags = body["tags"].get<std::vector<std::string>>();
      if (body.contains("extra_branches")) {
        c.extra_branches = body["extra_branches"].get<std::vector<std::string>>();
      }
      c.base_branch = body.value("base_branch", std::string());
      if (body.contains("replace")) c.replace = body["replace"].get<std::vector<std::string>>();
      c.create_repo = body.value("create_repo", false);
      c.is_private = body.value("private", false);
      if (body.contains("parent") && body["parent"].is_string()) {
        c.parent = body["parent"].get<std::string>();
      }
    } catch (const json::exception& e) {
      send_error(res, 400, "", std::string("malformed commit: ") + e.what());
      return;
    }
    if (store.repo_exists(r.repo_id) && store.is_private(r.repo_id)) {
      // Writers are token holders, so they may see private repos.
    }
    CommitOutcome out = store.commit(r.repo_id, c);
    send_json(res, {{"commit", out.revision},
                    {"commitOid", out.revision},
                    {"new_revision", out.new_revision},
                    {"created_repo", out.created_repo},
                    {"branch", c.branch},
                    {"tags", c.tags}});
  }
};

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
