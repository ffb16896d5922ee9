// Signature status on the web pages (catalog.h VariantSummary::signature): the index badge and the
// repo page's signature column follow the server's trust policy, and a signature written into a
// published revision while the server runs shows at the next request (HubStore re-indexes the
// revision when its signature folders change). Also: chart colours follow series names.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <fstream>

#include "loader/signature.h"
#include "loader/trust_policy.h"
#include "serve/hub_store.h"
#include "serve/web/site.h"
#include "serve/web/svg_chart.h"
#include "web_fixture.h"

namespace khub::test {
namespace {

namespace fs = std::filesystem;

bool has(const std::string& hay, const std::string& needle) {
  return hay.find(needle) != std::string::npos;
}

const std::string kVariant = "khub1-cpu-x86_64-linux";

struct WebSignatures : ::testing::Test {
  fs::path root;
  loader::SigningKey trusted = loader::SigningKey::generate();
  loader::SigningKey unknown = loader::SigningKey::generate();
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "khub-websig-XXXXXX").string();
    root = ::mkdtemp(tmpl.data());
    std::ofstream(root / "policy.toml")
        << "[[keys]]\nname = \"acme test key\"\npublic-key = \"" << trusted.public_key().text()
        << "\"\nrepos = [\"acme/*\"]\n";
    loader::set_trust_overrides({{root / "policy.toml"}, false});
  }
  void TearDown() override {
    loader::set_trust_overrides({});
    fs::remove_all(root);
  }
  fs::path variant_dir(const std::string& repo, const std::string& rev) {
    return root / "hub" / repo / "revisions" / rev / "build" / kVariant;
  }
  void sign(const loader::SigningKey& key, const std::string& repo, const std::string& rev,
            const std::string& stated_rev) {
    fs::path v = variant_dir(repo, rev);
    loader::write_signature(v, key, loader::statement_for_folder(v, repo, stated_rev, kVariant));
  }
};

TEST_F(WebSignatures, BadgesFollowTheSignaturesWithoutARestart) {
  std::vector<FixtureFile> files = {{"build/" + kVariant + "/metadata.json", "{}\n"},
                                    {"build/" + kVariant + "/libk.so", "not really a library\n"},
                                    {"README.md", "# k\n"}};
  std::string rev = write_revision(root / "hub", "acme/k", files, {"main"}, {});
  serve::HubStore store(root / "hub");
  serve::web::Site site(store, std::chrono::milliseconds(0));  // `khub sign` is behind its back
  auto index = [&] { return serve::web::render_index_page(site.catalog(), {}, false); };
  auto repo_page = [&] {
    auto& c = site.catalog();
    return serve::web::render_repo_page(c, c.overview("acme/k"), "", "", "");
  };
  EXPECT_TRUE(has(index(), "<i class=\"sig unsigned\">unsigned</i>")) << index();
  EXPECT_TRUE(has(repo_page(), "No signature file")) << repo_page();

  // Signed by a key the policy does not trust for acme/*: "untrusted", naming the key.
  sign(unknown, "acme/k", rev, rev);
  EXPECT_TRUE(has(index(), "<i class=\"sig untrusted\">untrusted</i>")) << index();
  EXPECT_TRUE(has(repo_page(), "untrusted key " + unknown.public_key().id)) << repo_page();

  // Then by the trusted key: "signed", with the key's name on the repo page; the index served
  // over the store shows the new signature file too.
  sign(trusted, "acme/k", rev, rev);
  EXPECT_TRUE(has(index(), "<i class=\"sig signed\">signed</i>")) << index();
  std::string page = repo_page();
  EXPECT_TRUE(has(page, "signed · acme test key")) << page;
  EXPECT_TRUE(has(page, trusted.public_key().id)) << page;
  auto idx = store.index("acme/k", rev);
  EXPECT_TRUE(idx->find("build/" + kVariant + "/signatures/" + trusted.public_key().id + ".sig"));

  // A trusted key's signature made for another revision, replacing the good one: refused.
  sign(trusted, "acme/k", rev, std::string(40, 'e'));
  EXPECT_TRUE(has(index(), "<i class=\"sig refused\">refused</i>")) << index();
  EXPECT_TRUE(has(repo_page(), "made for revision " + std::string(40, 'e'))) << repo_page();

  // A file changed after signing (the signature names the old bytes): refused as well.
  fs::remove_all(variant_dir("acme/k", rev) / "signatures");
  sign(trusted, "acme/k", rev, rev);
  EXPECT_TRUE(has(index(), "sig signed")) << index();
  fs::remove(variant_dir("acme/k", rev) / "libk.so");
  std::ofstream(variant_dir("acme/k", rev) / "libk.so") << "replaced\n";
  // (A changed file is not a signature change: a publish never rewrites a revision's files, so
  // the index keeps them until the signature folder changes; re-signing shows the mismatch.)
  sign(unknown, "acme/k", rev, rev);
  EXPECT_TRUE(has(repo_page(), "libk.so changed after signing")) << repo_page();
}

TEST(WebChartColours, FollowTheSeriesNameNotItsPosition) {
  using serve::web::series_colours;
  auto a = series_colours({"kernel", "eager", "copy"});
  auto b = series_colours({"copy", "torch.compile", "kernel"});
  EXPECT_EQ(a[0], b[2]);  // kernel
  EXPECT_EQ(a[2], b[0]);  // copy
  EXPECT_EQ(series_colours({"kernel"})[0], a[0]);
  // Distinct within a chart, for up to 8 series, whatever their hashes.
  std::vector<std::string> eight = {"a", "b", "c", "d", "e", "f", "g", "h"};
  auto c = series_colours(eight);
  std::sort(c.begin(), c.end());
  EXPECT_EQ(std::unique(c.begin(), c.end()) - c.begin(), 8);
  // The rendered chart and its legend use the name's colour.
  serve::web::LineChart chart;
  chart.series = {{"eager", {{1, 1}, {2, 2}}}, {"kernel", {{1, 2}, {2, 3}}}};
  std::string svg = serve::web::render_chart(chart);
  auto cols = series_colours({"eager", "kernel"});
  std::string k = "s" + std::to_string(cols[1]);
  EXPECT_TRUE(has(svg, "<g class=\"series " + k + "\" data-series=\"kernel\"")) << svg;
  EXPECT_TRUE(has(svg, "<span class=\"key " + k + "\">kernel</span>")) << svg;
}

}  // namespace
}  // namespace khub::test
