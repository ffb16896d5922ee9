// The web pages of an in-process `khub serve` on loopback (serve/web/site.h), read over HTTP:
// what the index, repo and benchmarks pages show, private repos, headers, hostile repos, and
// the size of a 1,000-repo index.
#include <gtest/gtest.h>
#include <httplib.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>

#include "hub/store/content_hash.h"
#include "serve/hub_server.h"
#include "serve/web/site.h"
#include "web_fixture.h"

namespace khub::test {
namespace {

namespace fs = std::filesystem;

size_t count(const std::string& hay, const std::string& needle) {
  size_t n = 0;
  for (size_t p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + 1)) ++n;
  return n;
}

bool has(const std::string& hay, const std::string& needle) {
  return hay.find(needle) != std::string::npos;
}

class WebPages : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::string tmpl = (fs::temp_directory_path() / "khub-webtest-XXXXXX").string();
    root_ = new fs::path(::mkdtemp(tmpl.data()));
    write_demo_hub(*root_ / "hub");
    std::ofstream(*root_ / "tokens") << "reader-token-123 read\n";
    serve::ServeOptions o;
    o.root = *root_ / "hub";
    o.token_file = *root_ / "tokens";
    o.log = [](const std::string&) {};
    server_ = new serve::HubServer(o);
    server_->start();
  }
  static void TearDownTestSuite() {
    delete server_;
    fs::remove_all(*root_);
    delete root_;
  }
  httplib::Result get(const std::string& path, const std::string& token = "") {
    httplib::Client c("127.0.0.1", server_->port());
    httplib::Headers h;
    if (!token.empty()) h.emplace("Authorization", "Bearer " + token);
    auto r = c.Get(path, h);
    EXPECT_TRUE(r) << path;
    return r;
  }
  static fs::path* root_;
  static serve::HubServer* server_;
};
fs::path* WebPages::root_ = nullptr;
serve::HubServer* WebPages::server_ = nullptr;

TEST_F(WebPages, IndexListsPublicReposWithVersionsAndBadges) {
  auto r = get("/");
  ASSERT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), "text/html; charset=utf-8");
  std::string csp = r->get_header_value("Content-Security-Policy");
  EXPECT_TRUE(has(csp, "script-src 'self'")) << csp;
  EXPECT_TRUE(has(csp, "default-src 'none'")) << csp;
  EXPECT_FALSE(has(csp, "unsafe-inline")) << csp;
  EXPECT_EQ(r->get_header_value("X-Content-Type-Options"), "nosniff");
  const std::string& b = r->body;
  EXPECT_EQ(count(b, "<li class=\"repo\">"), 4u) << b;  // not the private one, not "<script>x"
  EXPECT_TRUE(has(b, "href=\"/khub-community/rmsnorm\""));
  EXPECT_TRUE(has(b, "href=\"/acme/tiny-model\""));
  EXPECT_FALSE(has(b, "secret-kernel"));
  EXPECT_FALSE(has(b, "&lt;script&gt;x"));
  EXPECT_TRUE(has(b, "<span class=\"ver\">v1.1.0</span>"));  // the highest tag
  EXPECT_TRUE(has(b, "cuda 13.0 9.0,10.0f,12.0+PTX"));       // CUDA version and archs
  EXPECT_TRUE(has(b, "rocm 6.4 gfx942"));
  EXPECT_TRUE(has(b, "<em>model</em>"));
}

TEST_F(WebPages, SearchAndSortOnTheServer) {
  auto r = get("/?q=ROCM");
  EXPECT_EQ(count(r->body, "<li class=\"repo\">"), 1u);
  EXPECT_TRUE(has(r->body, "href=\"/khub-community/activation\""));
  EXPECT_TRUE(has(r->body, "value=\"ROCM\""));
  r = get("/?q=FusedAddRMSNorm");                        // a layer name
  EXPECT_EQ(count(r->body, "<li class=\"repo\">"), 2u);  // rmsnorm and the hostile repo
  r = get("/?q=%22%3E%3Cscript%3E");
  EXPECT_TRUE(has(r->body, "value=\"&quot;&gt;&lt;script&gt;\""));
  EXPECT_TRUE(has(r->body, "id=\"none\""));
  r = get("/?sort=updated");
  EXPECT_EQ(count(r->body, "<li class=\"repo\">"), 4u);
  EXPECT_TRUE(has(r->body, "<b>updated</b>"));
}

TEST_F(WebPages, PrivateReposNeedTheToken) {
  EXPECT_EQ(get("/acme/secret-kernel")->status, 404);
  auto r = get("/acme/secret-kernel", "reader-token-123");
  EXPECT_EQ(r->status, 200);
  EXPECT_TRUE(has(r->body, "<span class=\"private\">private</span>"));  // repo page
  EXPECT_TRUE(has(get("/", "reader-token-123")->body, "secret-kernel"));
  EXPECT_EQ(get("/", "wrong-token-456")->status, 401);
  EXPECT_EQ(get("/nobody/nothing")->status, 404);
  EXPECT_EQ(get("/%3Cscript%3Ex/y")->status, 404);
}

TEST_F(WebPages, RepoPageShowsVersionsVariantsFilesManifestAndUsage) {
  auto r = get("/khub-community/rmsnorm");
  ASSERT_EQ(r->status, 200) << r->body;
  const std::string& b = r->body;
  EXPECT_TRUE(has(b, "<b id=\"rev-name\">main</b>"));
  for (const char* ref : {">v1.0.0</a>", ">v1.1.0</a>", ">v1</a>", ">main</a>"}) {
    EXPECT_TRUE(has(b, ref)) << ref;
  }
  EXPECT_EQ(count(b, "<a class=\"variant\""), 3u);
  EXPECT_TRUE(has(b, "<td class=\"archs\">9.0 10.0f 12.0+PTX</td>"));
  EXPECT_TRUE(has(b, "<td class=\"abi\">khub ABI 1, manifest ABI 1.0</td>"));
  // Two revisions in the commit list, each with a date.
  std::regex commit("<td class=\"hash\"><a href=\"/khub-community/rmsnorm\\?rev=[0-9a-f]{40}\">");
  auto n = std::distance(std::sregex_iterator(b.begin(), b.end(), commit), std::sregex_iterator());
  EXPECT_EQ(n, 2);
  // The first variant's manifest and files, with the SHA-256 of each file.
  EXPECT_TRUE(has(b, "data-variant=\"khub1-cpu-x86_64-linux\""));
  EXPECT_TRUE(has(b, "<td class=\"flag-backward\">yes</td><td class=\"flag-capture\">yes</td>"));
  EXPECT_TRUE(has(b, "<td class=\"flag-backward\">no</td><td class=\"flag-capture\">no</td>"));
  EXPECT_TRUE(has(b, "<td class=\"dtypes\">f32,bf16,f16</td>"));
  EXPECT_TRUE(has(b, "{&quot;hidden&quot;:{&quot;max&quot;:65536,&quot;multiple-of&quot;:8}}"));
  EXPECT_TRUE(has(b, "eps: float = 1e-06"));
  std::string rev = get("/api/kernels/khub-community/rmsnorm/revision/main")->body;
  std::string sha = nlohmann::json::parse(rev)["sha"];
  fs::path lib = *root_ / "hub/khub-community/rmsnorm/revisions" / sha /
                 "build/khub1-cpu-x86_64-linux/libkhub_rmsnorm.so";
  std::string want = hub::net::file_hash_hex(lib, hub::net::HashAlgo::kSha256);
  EXPECT_TRUE(has(b, "<td class=\"hash\">" + want + "</td>")) << want;
  // Usage: the kernel_mapping line, khub download and a kernels.lock entry of this revision.
  EXPECT_TRUE(has(b, "&quot;RMSNorm&quot;: &quot;khub-community/rmsnorm@main:RMSNorm&quot;"));
  EXPECT_TRUE(has(b, " khub download khub-community/rmsnorm@main --all-variants"));
  EXPECT_TRUE(has(b, "&quot;sha&quot;: &quot;" + sha + "&quot;"));
  EXPECT_TRUE(has(b, "data-copy=\"use-lock\""));
  EXPECT_TRUE(has(b, "<td>Apache-2.0</td>") || has(b, "license Apache-2.0"));
  // README through cmark-gfm, a table included.
  EXPECT_TRUE(has(b, "<article class=\"markdown\"><h1>rmsnorm</h1>"));
  EXPECT_TRUE(has(b, "<th>dtype</th>"));
  EXPECT_TRUE(has(b, "id=\"bench-link\""));
}

TEST_F(WebPages, OlderVersionAndChosenVariant) {
  auto r = get("/khub-community/rmsnorm?rev=v1.0.0&variant=khub1-cu128-x86_64-linux");
  ASSERT_EQ(r->status, 200);
  EXPECT_EQ(count(r->body, "<a class=\"variant\""), 2u);
  EXPECT_TRUE(has(r->body, "data-variant=\"khub1-cu128-x86_64-linux\""));
  EXPECT_TRUE(has(r->body, "<td class=\"archs\">8.0 9.0a</td>"));
  EXPECT_FALSE(has(r->body, "id=\"bench-link\""));  // v1.0.0 published no bench results
  r = get("/khub-community/rmsnorm?rev=v9.9.9");
  EXPECT_EQ(r->status, 404);
  EXPECT_TRUE(has(r->body, "revision &#39;v9.9.9&#39; not found"));
  r = get("/khub-community/rmsnorm?variant=nope");
  EXPECT_TRUE(has(r->body, "This revision has no variant nope"));
}

TEST_F(WebPages, BenchmarksPageDrawsThePublishedResults) {
  auto r = get("/khub-community/rmsnorm/benchmarks");
  ASSERT_EQ(r->status, 200);
  const std::string& b = r->body;
  EXPECT_EQ(count(b, "<figure class=\"chart\""), 4u);  // 2 ops x (throughput, fraction)
  size_t first = b.find("<figure class=\"chart\"");
  size_t second = b.find("<figure class=\"chart\"", first + 1);
  EXPECT_EQ(count(b.substr(first, second - first), "<circle class=\"pt\""),
            size_t(kRmsnormBenchPoints));
  EXPECT_TRUE(has(b, "RMSNorm f32: throughput vs size"));
  EXPECT_TRUE(has(b, "hardware limit 45 GB/s"));
  EXPECT_TRUE(has(get("/khub-community/activation/benchmarks")->body, "id=\"no-bench\""));
}

TEST_F(WebPages, HostileRepoIsEscapedEverywhere) {
  for (const char* path : {"/", "/evil_org/_x-y", "/evil_org/_x-y/benchmarks",
                           "/evil_org/_x-y?variant=%3Csvg%20onload%3Dwindow.__pwned%3D1%3E"}) {
    auto r = get(path);
    ASSERT_EQ(r->status, 200) << path;
    const std::string& b = r->body;
    EXPECT_FALSE(has(b, "<script>window")) << path;
    EXPECT_FALSE(has(b, "<img src=x")) << path;
    EXPECT_FALSE(has(b, "<svg onload")) << path;
    EXPECT_FALSE(has(b, "<svg/onload")) << path;
    EXPECT_FALSE(has(b, "<iframe")) << path;
    EXPECT_FALSE(has(b, "javascript:")) << path;
    EXPECT_FALSE(has(b, "\"><script>")) << path;
  }
  auto r = get("/evil_org/_x-y?variant=khub1-cpu-x86_64-linux");
  EXPECT_TRUE(has(r->body, "&lt;img src=x onerror=window.__pwned=1&gt;.txt"));
  EXPECT_TRUE(has(r->body, "&lt;svg/onload=window.__pwned=1&gt;"));
  EXPECT_TRUE(has(r->body, "&quot;&gt;&lt;script&gt;window.__pwned=1&lt;"));
  EXPECT_TRUE(has(r->body, "license &lt;/td&gt;&lt;script&gt;"));
  auto bench = get("/evil_org/_x-y/benchmarks");
  EXPECT_TRUE(has(bench->body, "&lt;/title&gt;&lt;script&gt;window.__pwned=1&lt;/script&gt;"));
}

TEST_F(WebPages, ApiRoutesStayJson) {
  auto r = get("/api/kernels/khub-community/rmsnorm");
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
  r = get("/api/nothing");
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
  EXPECT_EQ(get("/health")->body, "ok\n");
  r = get("/_khub/web/site.js");
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), "text/javascript; charset=utf-8");
  EXPECT_EQ(get("/_khub/web/other.js")->status, 404);
}

// The catalog keeps listings and refs between requests: a new repo, a new tag, a moved branch
// and a private marker written after a render all show at the next one that looks at the folder
// (every one here: revalidation interval 0; web_freshness_test.cc tests the interval).
TEST(WebCatalog, SeesChangesMadeAfterARender) {
  std::string tmpl = (fs::temp_directory_path() / "khub-webtest-XXXXXX").string();
  fs::path root = ::mkdtemp(tmpl.data());
  write_revision(root, "org/one", {{"README.md", "# one\n"}}, {"main"}, {});
  serve::HubStore store(root);
  serve::web::Catalog catalog(store, std::chrono::milliseconds(0));
  auto index = [&] { return serve::web::render_index_page(catalog, {}, false); };
  EXPECT_EQ(count(index(), "<li class=\"repo\">"), 1u);
  write_revision(root, "org/two", {{"README.md", "# two\n"}}, {"main"}, {});
  EXPECT_EQ(count(index(), "<li class=\"repo\">"), 2u);
  std::string rev =
      write_revision(root, "org/one", {{"README.md", "# one, again\n"}}, {}, {"v2.0.0"});
  EXPECT_TRUE(has(index(), "<span class=\"ver\">v2.0.0</span>"));
  write_revision(root, "org/one", {{"README.md", "# one, again\n"}}, {"main"}, {});  // in place
  EXPECT_EQ(catalog.overview("org/one").head->revision, rev);
  std::ofstream(root / "org/two/private");
  EXPECT_EQ(count(index(), "<li class=\"repo\">"), 1u);
  // A branch naming a revision that is gone: the row says so, the index still renders.
  write_revision(root, "org/three", {{"README.md", "# three\n"}}, {"main"}, {});
  std::ofstream(root / "org/three/refs/heads/main") << std::string(40, 'a') << "\n";
  std::string page = index();
  EXPECT_EQ(count(page, "<li class=\"repo\">"), 2u);
  EXPECT_TRUE(has(page, "<small class=\"problem\">revision aaaa")) << page;
  fs::remove_all(root);
}

// The budget for the index of 1,000 repos: under 200 KB over the wire (gzip, as a browser
// asks) — and rendering well under a second here; bench/web_bench.cc measures the time.
TEST(WebIndexSize, ThousandReposFitTheBudget) {
  std::string tmpl = (fs::temp_directory_path() / "khub-webtest-XXXXXX").string();
  fs::path root = ::mkdtemp(tmpl.data());
  write_bulk_repos(root, 1000);
  serve::ServeOptions o;
  o.root = root;
  o.log = [](const std::string&) {};
  {
    serve::HubServer server(o);
    server.start();
    httplib::Client c("127.0.0.1", server.port());
    c.set_decompress(false);
    auto cold = c.Get("/");  // builds the revision summaries
    ASSERT_TRUE(cold);
    EXPECT_EQ(count(cold->body, "<li class=\"repo\">"), 1000u);
    auto t0 = std::chrono::steady_clock::now();
    auto r = c.Get("/", {{"Accept-Encoding", "gzip"}});
    double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->get_header_value("Content-Encoding"), "gzip");
    std::printf("index of 1000 repos: %zu bytes uncompressed, %zu bytes gzip, %.1f ms warm\n",
                cold->body.size(), r->body.size(), ms);
    EXPECT_LT(r->body.size(), 200u * 1000);
    EXPECT_LT(ms, 1000);
  }
  fs::remove_all(root);
}

}  // namespace
}  // namespace khub::test
