// khub serve (hub_server_impl.h). Who may read and write: bearer tokens from the token file, read
// checks (a private repo answers as a missing one without a token) and write checks.
#include "serve/hub_server_impl.h"

#include <fstream>
#include <map>
#include <sstream>

#include "core/error.h"

namespace khub::serve {

using namespace khub::hub::net;

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

std::optional<bool> HubServer::Impl::token_valid(const httplib::Request& req,
                                                 bool* can_write) const {
  std::string auth = req.get_header_value("Authorization");
  if (auth.empty()) return std::nullopt;
  const std::string bearer = "Bearer ";
  if (auth.rfind(bearer, 0) != 0) return false;
  auto it = tokens.find(auth.substr(bearer.size()));
  if (it == tokens.end()) return false;
  if (can_write) *can_write = it->second;
  return true;
}

bool HubServer::Impl::check_read(const httplib::Request& req, httplib::Response& res,
                                 const std::string& repo) {
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
  if (store.is_gated(repo) && !tok) {
    send_error(res, 401, "GatedRepo",
               "Access to " + repo +
                   " is restricted. You must have access to it and be authenticated to access it.");
    return false;
  }
  return true;
}

bool HubServer::Impl::check_write(const httplib::Request& req, httplib::Response& res) {
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

}  // namespace khub::serve
