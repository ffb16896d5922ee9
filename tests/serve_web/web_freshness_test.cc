// How fresh the web pages are (serve/web/catalog.h, "Freshness"): within the revalidation
// interval the catalog does not look at the hub folder, past it a change made on disk shows, and
// a change made through the HubStore (a commit, repo, branch or tag, as the server's API makes
// them) shows on the next page at once, interval or not.
#include <gtest/gtest.h>
#include <httplib.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "hub/store/content_hash.h"
#include "serve/hub_server.h"
#include "serve/web/site.h"
#include "web_fixture.h"

namespace khub::test {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using std::chrono::milliseconds;

size_t rows(const std::string& page) {
  size_t n = 0;
  for (size_t p = page.find("<li class=\"repo\">"); p != std::string::npos;
       p = page.find("<li class=\"repo\">", p + 1)) {
    ++n;
  }
  return n;
}

bool has(const std::string& hay, const std::string& needle) {
  return hay.find(needle) != std::string::npos;
}

class WebFreshness : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "khub-webfresh-XXXXXX").string();
    root = ::mkdtemp(tmpl.data());
    rev_one = write_revision(root / "hub", "org/one", {{"README.md", "# one\n"}}, {"main"}, {});
  }
  void TearDown() override { fs::remove_all(root); }
  fs::path root;
  std::string rev_one;
};

// The catalog's clock stepped by hand: what it read is used for exactly the interval.
TEST_F(WebFreshness, DiskChangesShowOncePastTheInterval) {
  serve::HubStore store(root / "hub");
  serve::web::Catalog catalog(store, milliseconds(250));
  auto now = serve::web::Catalog::Clock::now();
  catalog.set_clock([&now] { return now; });
  auto index = [&] { return serve::web::render_index_page(catalog, {}, false); };
  EXPECT_EQ(rows(index()), 1u);

  // Behind the store's back: a new repo, a new tag and a private marker on an existing one.
  write_revision(root / "hub", "org/two", {{"README.md", "# two\n"}}, {"main"}, {});
  write_revision(root / "hub", "org/one", {{"README.md", "# one\n"}}, {}, {"v2.0.0"});
  now += milliseconds(249);
  std::string page = index();
  EXPECT_EQ(rows(page), 1u) << "within the interval the folder is not looked at";
  EXPECT_FALSE(has(page, "v2.0.0"));
  now += milliseconds(1);
  EXPECT_EQ(rows(index()), 1u) << "past the interval: the snapshot, while the refresh reads";
  ASSERT_TRUE(catalog.wait_for_refresh(std::chrono::seconds(30)));
  page = index();
  EXPECT_EQ(rows(page), 2u) << page;
  EXPECT_TRUE(has(page, "<span class=\"ver\">v2.0.0</span>")) << page;
  EXPECT_EQ(catalog.overview("org/one").latest_tag, "v2.0.0");

  std::ofstream(root / "hub/org/two/private");
  EXPECT_EQ(rows(index()), 2u);
  now += milliseconds(250);
  EXPECT_EQ(rows(index()), 2u);
  ASSERT_TRUE(catalog.wait_for_refresh(std::chrono::seconds(30)));
  EXPECT_EQ(rows(index()), 1u);
  EXPECT_EQ(rows(serve::web::render_index_page(catalog, {}, true)), 2u);  // with the token
}

// Past the interval the page comes at once from the snapshot and one refresh (however many
// requests ask) reads the folder; past interval + stale_for the request reads it itself.
TEST_F(WebFreshness, StaleWhileRevalidate) {
  serve::HubStore store(root / "hub");
  serve::web::Catalog catalog(store, milliseconds(250), milliseconds(1000));
  auto now = serve::web::Catalog::Clock::now();
  catalog.set_clock([&now] { return now; });
  auto index = [&] { return serve::web::render_index_page(catalog, {}, false); };
  EXPECT_EQ(rows(index()), 1u);  // cold: read by the request
  EXPECT_EQ(catalog.refreshes(), 0u);

  write_revision(root / "hub", "org/two", {{"README.md", "# two\n"}}, {"main"}, {});
  now += milliseconds(300);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(rows(index()), 1u);
  ASSERT_TRUE(catalog.wait_for_refresh(std::chrono::seconds(30)));
  EXPECT_EQ(catalog.refreshes(), 1u) << "one refresh for the five stale requests";
  EXPECT_EQ(rows(index()), 2u);
  EXPECT_EQ(catalog.refreshes(), 1u) << "fresh again: nothing asked";

  // An API write (the store's generation) is read by the very next request, stale or not.
  store.create_tag("org/one", "v3.1.0", rev_one);
  EXPECT_TRUE(has(index(), "<span class=\"ver\">v3.1.0</span>"));
  now += milliseconds(300);
  EXPECT_TRUE(store.create_repo("org/five", false));
  store.create_branch("org/five", "main", "", false);
  EXPECT_TRUE(has(index(), "href=\"/org/five\""));

  // Older than interval + stale_for: the request checks synchronously.
  write_revision(root / "hub", "org/six", {{"README.md", "# six\n"}}, {"main"}, {});
  ASSERT_TRUE(catalog.wait_for_refresh(std::chrono::seconds(30)));
  uint64_t before = catalog.refreshes();
  now += milliseconds(1250);
  EXPECT_TRUE(has(index(), "href=\"/org/six\""));
  EXPECT_EQ(catalog.refreshes(), before);
}

// Destroying the catalog (the server shutting down) while its refresh thread reads 200 repos.
TEST_F(WebFreshness, DestroyedWhileRefreshing) {
  write_bulk_repos(root / "hub", 200);
  serve::HubStore store(root / "hub");
  for (int round = 0; round < 3; ++round) {
    auto now = serve::web::Catalog::Clock::now();
    serve::web::Catalog catalog(store, milliseconds(250));
    catalog.set_clock([&now] { return now; });
    size_t n = rows(serve::web::render_index_page(catalog, {}, false));
    EXPECT_EQ(n, 201u);
    now += milliseconds(300);
    EXPECT_EQ(rows(serve::web::render_index_page(catalog, {}, false)), n);
    // round 0: destroyed at once; later rounds: a moment into the refresh
    if (round) std::this_thread::sleep_for(milliseconds(2 * round));
  }
}

// prewarm() reads the listing and every overview (private repos too) on the refresh thread: the
// first index afterwards reads nothing, so a change made on disk meanwhile does not show in it
// (within the interval), which it would if the page had read the folder itself.
TEST_F(WebFreshness, PrewarmReadsEveryRepoBeforeTheFirstPage) {
  write_revision(root / "hub", "org/two", {{"README.md", "# two\n"}}, {"main"}, {});
  std::ofstream(root / "hub/org/two/private");
  serve::HubStore store(root / "hub");
  serve::web::Catalog catalog(store, milliseconds(250));
  auto now = serve::web::Catalog::Clock::now();
  catalog.set_clock([&now] { return now; });
  catalog.prewarm();
  ASSERT_TRUE(catalog.wait_for_refresh(std::chrono::seconds(30)));
  EXPECT_EQ(catalog.refreshes(), 1u);
  write_revision(root / "hub", "org/one", {{"README.md", "# one\n"}}, {}, {"v9.0.0"});
  write_revision(root / "hub", "org/two", {{"README.md", "# two\n"}}, {}, {"v8.0.0"});
  now += milliseconds(100);
  std::string page = serve::web::render_index_page(catalog, {}, true);
  EXPECT_EQ(rows(page), 2u) << page;
  EXPECT_FALSE(has(page, "v9.0.0")) << "the overview was read by the prewarm, not by the page";
  EXPECT_EQ(catalog.overview("org/two").latest_tag, "") << "the private repo was warmed too";
  now += milliseconds(200);  // past the interval: the tags show after the refresh
  (void)serve::web::render_index_page(catalog, {}, true);
  ASSERT_TRUE(catalog.wait_for_refresh(std::chrono::seconds(30)));
  EXPECT_EQ(catalog.overview("org/one").latest_tag, "v9.0.0");
  EXPECT_EQ(catalog.overview("org/two").latest_tag, "v8.0.0");
}

TEST_F(WebFreshness, ChangesThroughTheStoreShowAtOnce) {
  serve::HubStore store(root / "hub");
  serve::web::Catalog catalog(store, milliseconds(250));
  auto now = serve::web::Catalog::Clock::now();
  catalog.set_clock([&now] { return now; });  // never moves: only the store's changes count
  auto index = [&] { return serve::web::render_index_page(catalog, {}, false); };
  EXPECT_EQ(rows(index()), 1u);
  uint64_t g = store.generation();

  store.create_tag("org/one", "v1.4.0", rev_one);
  EXPECT_GT(store.generation(), g);
  EXPECT_TRUE(has(index(), "<span class=\"ver\">v1.4.0</span>"));
  EXPECT_TRUE(store.create_repo("org/three", false));
  store.create_branch("org/three", "main", "", false);
  std::string page = index();
  EXPECT_EQ(rows(page), 2u) << page;
  EXPECT_TRUE(has(page, "href=\"/org/three\""));

  // A failed write may have changed something before it failed: it counts as well.
  g = store.generation();
  EXPECT_THROW(store.create_tag("org/one", "v1.4.0", rev_one), serve::StoreError);
  EXPECT_GT(store.generation(), g);
}

// Through HTTP: a server whose pages would keep what they read for an hour still shows a
// publish (the Hub's NDJSON commit), a tag and a new repo made through its API on the next page.
TEST_F(WebFreshness, PublishThroughTheApiShowsOnTheNextIndex) {
  std::ofstream(root / "tokens") << "writer-token-123 write\n";
  serve::ServeOptions o;
  o.root = root / "hub";
  o.token_file = root / "tokens";
  o.log = [](const std::string&) {};
  o.web_revalidate = std::chrono::hours(1);
  serve::HubServer server(o);
  server.start();
  httplib::Client c("127.0.0.1", server.port());
  httplib::Headers auth = {{"Authorization", "Bearer writer-token-123"}};
  auto page = [&] {
    auto r = c.Get("/");
    EXPECT_TRUE(r && r->status == 200);
    return r ? r->body : "";
  };
  std::string before = page();
  EXPECT_TRUE(has(before, "<em>repo</em>")) << before;  // README only

  // A repo written behind the server's back: not looked for within the hour...
  write_revision(root / "hub", "org/two", {{"README.md", "# two\n"}}, {"main"}, {});
  EXPECT_EQ(rows(page()), 1u);

  // ... but a commit through the API makes the next page read the folder again.
  std::string ndjson =
      json({{"key", "header"}, {"value", {{"summary", "add a config"}}}}).dump() + "\n" +
      json({{"key", "file"},
            {"value",
             {{"path", "config.json"},
              {"content", hub::net::base64_encode("{\"model_type\": \"llama\"}\n")},
              {"encoding", "base64"}}}})
          .dump() +
      "\n";
  auto commit = c.Post("/api/models/org/one/commit/main", auth, ndjson, "application/x-ndjson");
  ASSERT_TRUE(commit);
  ASSERT_EQ(commit->status, 200) << commit->body;
  std::string after = page();
  EXPECT_TRUE(has(after, "<em>model</em>")) << after;  // config.json makes it a model repo
  EXPECT_EQ(rows(after), 2u) << after;                 // and org/two is seen too
  auto repo_page = c.Get("/org/one");
  ASSERT_TRUE(repo_page);
  EXPECT_TRUE(has(repo_page->body, json::parse(commit->body)["commitOid"].get<std::string>()));

  auto tag =
      c.Post("/api/models/org/one/tag/main", auth, R"({"tag": "v0.3.0"})", "application/json");
  ASSERT_TRUE(tag);
  ASSERT_EQ(tag->status, 200) << tag->body;
  EXPECT_TRUE(has(page(), "<span class=\"ver\">v0.3.0</span>"));
  auto create =
      c.Post("/api/repos/create", auth,
             R"({"name": "four", "organization": "org", "type": "model"})", "application/json");
  ASSERT_TRUE(create);
  ASSERT_EQ(create->status, 200) << create->body;
  EXPECT_TRUE(has(page(), "href=\"/org/four\""));
  server.stop();
}

// In real time, with the server's default interval: a tag written on disk shows once it passed
// and the refresh that the first request past it asked for is done.
TEST_F(WebFreshness, DiskChangeShowsWithinTheServersInterval) {
  serve::ServeOptions o;
  o.root = root / "hub";
  o.log = [](const std::string&) {};
  serve::HubServer server(o);
  server.start();
  httplib::Client c("127.0.0.1", server.port());
  ASSERT_FALSE(has(c.Get("/")->body, "v5.0.0"));
  write_revision(root / "hub", "org/one", {{"README.md", "# one\n"}}, {}, {"v5.0.0"});
  std::this_thread::sleep_for(o.web_revalidate + milliseconds(10));
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  bool seen = false;
  while (!seen && std::chrono::steady_clock::now() < deadline) {
    seen = has(c.Get("/")->body, "<span class=\"ver\">v5.0.0</span>");
    if (!seen) std::this_thread::sleep_for(milliseconds(10));
  }
  EXPECT_TRUE(seen);
  server.stop();
}

}  // namespace
}  // namespace khub::test
