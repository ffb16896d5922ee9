// The web pages of `khub serve` (docs/design.md §6.3), server-rendered HTML that works without
// JavaScript (a small same-origin script filters the index as you type and adds copy buttons):
//   GET /                         the repos: kernels and models, ?q= search, ?sort=name|updated
//   GET /<org>/<repo>             README, versions, variants, files, manifest, usage
//                                 (?rev=<branch|tag|revision>&variant=<name>)
//   GET /<org>/<repo>/benchmarks  bench/results/*.json of the revision as SVG charts (?rev=)
//   GET /_khub/web/style.css, /_khub/web/site.js
// Private repos are listed and shown only to a request with a valid token, exactly as the API
// answers them (a missing and a hidden repo look the same). Every page carries a strict
// Content-Security-Policy (html.h) and escapes everything that comes from the hub.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "serve/hub_store.h"
#include "serve/web/catalog.h"

namespace khub::serve::web {

struct WebRequest {
  std::vector<std::string> segments;         // percent-decoded path segments
  std::map<std::string, std::string> query;  // first value of each parameter
  bool token_ok = false;                     // a valid token was presented
  bool token_rejected = false;               // a token was presented and is not valid
  std::string host;                          // Host header (for the usage snippets)
};

struct WebResponse {
  int status = 200;
  std::string content_type = "text/html; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // CSP and friends
};

class Site {
 public:
  // revalidate_after: how long the catalog trusts what it read (catalog.h, "Freshness").
  explicit Site(HubStore& store,
                std::chrono::milliseconds revalidate_after = Catalog::kRevalidateAfter)
      : catalog_(store, revalidate_after) {}
  // Whether a path (decoded segments) is one of the pages above; others stay with the API.
  static bool is_page_path(const std::vector<std::string>& segments);
  // Answers a page request (is_page_path must hold): 200, or 404/400 with an HTML error page.
  WebResponse handle(const WebRequest& req);
  Catalog& catalog() { return catalog_; }

 private:
  Catalog catalog_;
};

// The pages themselves, for tests and the benchmark (site.cc routes to them).
struct IndexQuery {
  std::string q;
  std::string sort = "name";  // "name" or "updated"
};
std::string render_index_page(Catalog& catalog, const IndexQuery& query, bool with_private);
// nullopt rev = the default branch. Throws StoreError(404) for an unknown revision.
std::string render_repo_page(Catalog& catalog, const RepoOverview& repo,
                             const std::string& rev_name, const std::string& variant,
                             const std::string& host);
std::string render_bench_page(Catalog& catalog, const RepoOverview& repo,
                              const std::string& rev_name);
// "khub1-cuda" style badge text of a variant: backend, version and archs.
std::string variant_badge(const VariantSummary& v);
// The signature status badge (catalog.h's VariantSummary::signature / RevisionSummary::signature):
// <i class="sig STATUS" title="TITLE">TEXT</i>, escaped; nothing for "" (no variants).
void append_signature_badge(std::string& out, const std::string& status, const std::string& text,
                            const std::string& title);

extern const char* const kStyleCss;
extern const char* const kSiteJs;

}  // namespace khub::serve::web
