// Internal to `khub serve` (hub_server.h): the server's state and its request handlers, defined
// in five files along the seams of a request — hub_server.cc (set-up, logging, routing),
// hub_server_auth.cc (tokens, read and write checks), hub_server_read.cc (info, refs, tree, file,
// commits and paths-info routes), hub_server_upload.cc (khub's preupload, blobs, commits) and
// hub_server_commit.cc (the Hub's preupload, LFS batch, NDJSON commit, repo, branch and tag).
#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
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

// The routes of the Hub's own API that khub's routing does not know (hub_server.cc).
std::optional<Route> route_hub_api(const std::vector<std::string>& segments);
// "http://<Host header>" of a request ("" without one): where links handed to a client point.
std::string request_origin(const httplib::Request& req);

// An LFS upload link from the batch endpoint: the link is the capability (clients PUT to it
// without their token, as to a presigned URL), good for one object until it expires.
struct LfsTicket {
  std::string sha256;
  uint64_t size = 0;
  std::chrono::steady_clock::time_point expires;
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
  std::mutex tickets_mu;
  std::map<std::string, LfsTicket> tickets;
  web::Site site{store, opts.web_revalidate};  // the web pages (serve/web/site.h)

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

  // A small in-memory body (an LFS pointer) with a single-range Range answered.
  void serve_text(const httplib::Request& req, httplib::Response& res, const std::string& text);

  void serve_bytes(const httplib::Request& req, httplib::Response& res,
                   const std::filesystem::path& file, uint64_t size, const FaultDecision& fd);

  void handle_preupload(const httplib::Request& req, httplib::Response& res, const Route& r);

  void handle_blob(const httplib::Request& req, httplib::Response& res, const Route& r,
                   const httplib::ContentReader& reader);

  void handle_commit(const httplib::Request& req, httplib::Response& res, const Route& r);

  // Streams a request body into the staged blob `sha256`: the bytes are checked against the hash
  // (and `size` when given) before the blob appears. Answers the error itself and returns false.
  bool receive_blob(const httplib::ContentReader& reader, const std::string& sha256,
                    std::optional<uint64_t> size, httplib::Response& res);

  // The Hub's own API (hub_server_commit.cc). Returns false when `r` is none of its routes (or the
  // method does not fit), so the caller answers 405.
  bool handle_hub_api(const httplib::Request& req, httplib::Response& res, const Route& r,
                      const httplib::ContentReader* reader);
  void handle_hub_preupload(const httplib::Request& req, httplib::Response& res, const Route& r);
  void handle_lfs_batch(const httplib::Request& req, httplib::Response& res, const Route& r);
  void handle_lfs_upload(httplib::Response& res, const Route& r,
                         const httplib::ContentReader& reader);
  void handle_lfs_verify(const httplib::Request& req, httplib::Response& res, const Route& r);
  void handle_hub_commit(const httplib::Request& req, httplib::Response& res, const Route& r);
  void handle_create_repo(const httplib::Request& req, httplib::Response& res);
  void handle_validate_yaml(const httplib::Request& req, httplib::Response& res);
  void handle_create_ref(const httplib::Request& req, httplib::Response& res, const Route& r);
  // Read side (hub_server_read.cc).
  void handle_commits(const httplib::Request& req, httplib::Response& res, const Route& r);
  void handle_paths_info(const httplib::Request& req, httplib::Response& res, const Route& r);
  // The newest commit of `revision`'s history since which `path` has had the blob/tree `oid`.
  json last_commit(const std::string& repo, const std::string& revision, const std::string& path,
                   const std::string& oid);
  // A web page (hub_server.cc hands paths that no API route takes to web::Site).
  void handle_page(const httplib::Request& req, httplib::Response& res,
                   const std::vector<std::string>& segs);
};

}  // namespace khub::serve
