// Routing of the web pages, their headers and error pages (site.h).
#include "serve/web/site.h"

#include "core/error.h"
#include "hub/ref/repo_names.h"
#include "serve/web/html.h"

namespace khub::serve::web {

namespace {

std::string query_value(const WebRequest& req, const std::string& key) {
  auto it = req.query.find(key);
  return it == req.query.end() ? "" : it->second;
}

WebResponse error_page(int status, const std::string& title, const std::string& message) {
  WebResponse res;
  res.status = status;
  page_begin(res.body, {title + " · khub hub", ""});
  res.body += "<h1 class=\"error\">";
  append_escaped(res.body, title);
  res.body += "</h1><p id=\"error-message\">";
  append_escaped(res.body, message);
  res.body += "</p><p><a href=\"/\">All repositories</a></p>";
  page_end(res.body);
  return res;
}

}  // namespace

bool Site::is_page_path(const std::vector<std::string>& s) {
  if (s.empty()) return true;
  if (s.size() == 3 && s[0] == "_khub" && s[1] == "web") return true;
  if (s[0] == "api" || s[0] == "_khub") return false;  // API answers stay JSON
  return s.size() == 2 || (s.size() == 3 && s[2] == "benchmarks");
}

WebResponse Site::handle(const WebRequest& req) {
  WebResponse res;
  const auto& s = req.segments;
  if (s.size() == 3 && s[0] == "_khub") {
    if (s[2] == "style.css") {
      res.content_type = "text/css; charset=utf-8";
      res.body = kStyleCss;
    } else if (s[2] == "site.js") {
      res.content_type = "text/javascript; charset=utf-8";
      res.body = kSiteJs;
    } else {
      res = error_page(404, "Not found", "no such asset: " + s[2]);
    }
  } else if (req.token_rejected) {
    res = error_page(401, "Invalid token",
                     "The Authorization header carries a token this hub does not know.");
  } else if (s.empty()) {
    IndexQuery q;
    q.q = query_value(req, "q");
    if (query_value(req, "sort") == "updated") q.sort = "updated";
    res.body = render_index_page(catalog_, q, req.token_ok);
  } else {
    std::string repo = s[0] + "/" + s[1];
    HubStore& store = catalog_.store();
    // A private repo without a token looks exactly like a missing one, as in the API.
    if (!hub::net::is_valid_repo_id(repo) || !store.repo_exists(repo) ||
        (store.is_private(repo) && !req.token_ok)) {
      res = error_page(404, "Repository not found",
                       "There is no repository " + repo +
                           " on this hub (or it is private and "
                           "the request carries no valid token).");
    } else {
      try {
        RepoOverview o = catalog_.overview(repo);
        res.body = s.size() == 2 ? render_repo_page(catalog_, o, query_value(req, "rev"),
                                                    query_value(req, "variant"), req.host)
                                 : render_bench_page(catalog_, o, query_value(req, "rev"));
      } catch (const StoreError& e) {
        res = error_page(e.status(), e.status() == 404 ? "Not found" : "Error", e.what());
      } catch (const Error& e) {
        res = error_page(500, "Cannot show this repository", e.what());
      }
    }
  }
  res.headers = {{"Content-Security-Policy", kContentSecurityPolicy},
                 {"X-Content-Type-Options", "nosniff"},
                 {"Referrer-Policy", "no-referrer"},
                 {"X-Frame-Options", "DENY"},
                 {"Cache-Control", "no-cache"}};
  return res;
}

}  // namespace khub::serve::web
