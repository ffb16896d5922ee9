// Internal to `khub serve` (hub_server.h): the server's state and its request handlers, defined
// in four files along the seams of a request — hub_server.cc (set-up, logging, routing),
// hub_server_auth.cc (tokens, read and write checks), hub_server_read.cc (info, refs, tree and file
// routes) and hub_server_upload.cc (preupload, blobs, commits).
#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "serve/faults.h"
#include "serve/hub_server.h"
#include "serve/hub_store.h"
#include "serve/web/site.h"

namespace khub::serve {

using json = nlohmann::json;

extern thread_local std::chrono::steady_clock::time_point t_request_start;
extern thread_local std::string current_target;  // decoded path of the request being handled

// Control characters blanked and at most 500 bytes: safe in a header or a log line.
std::string header_safe(std::string s);
void send_error(httplib::Response& res, int status, const std::string& code,
                const std::string& message);
void send_json(httplib::Response& res, const json& body);
std::string iso_now();
bool truthy(const std::string& v);

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

struct HubServer::Impl {
  ServeOptions opts;
  HubStore store;
  FaultPlan faults;
  std::map<std::string, bool> tokens;
  httplib::Server svr;
  std::thread thread;
  std::atomic<int> port{0};
  std::atomic<int> in_flight{0};
  web::Site site{store};  // the web pages (serve/web/site.h)

  explicit Impl(ServeOptions o);

  void log_request(const httplib::Request& req, const httplib::Response& res);

  // Token check: nullopt = no Authorization header; false = invalid token; true = valid.
  std::optional<bool> token_valid(const httplib::Request& req, bool* can_write) const;

  // Answers the request itself (and returns false) when the caller may not read the repo.
  bool check_read(const httplib::Request& req, httplib::Response& res, const std::string& repo);

  bool check_write(const httplib::Request& req, httplib::Response& res);

  std::optional<Route> route(const std::vector<std::string>& s);

  void handle(const httplib::Request& req, httplib::Response& res,
              const httplib::ContentReader* reader);

  // The revision id for a request, or an answer (404 RevisionNotFound) and nullopt.
  std::optional<std::string> revision_of(httplib::Response& res, const std::string& repo,
                                         const std::string& rev);

  void handle_info(const httplib::Request& req, httplib::Response& res, const Route& r);

  void handle_refs(const httplib::Request& req, httplib::Response& res, const Route& r);

  void handle_tree(const httplib::Request& req, httplib::Response& res, const Route& r,
                   const FaultDecision& fd);

  void handle_file(const httplib::Request& req, httplib::Response& res, const Route& r,
                   const FaultDecision& fd);

  void serve_bytes(const httplib::Request& req, httplib::Response& res,
                   const std::filesystem::path& file, uint64_t size, const FaultDecision& fd);

  void handle_preupload(const httplib::Request& req, httplib::Response& res, const Route& r);

  void handle_blob(const httplib::Request& req, httplib::Response& res, const Route& r,
                   const httplib::ContentReader& reader);

  void handle_commit(const httplib::Request& req, httplib::Response& res, const Route& r);

  // A web page (hub_server.cc hands paths that no API route takes to web::Site).
  void handle_page(const httplib::Request& req, httplib::Response& res,
                   const std::vector<std::string>& segs);
};

}  // namespace khub::serve
