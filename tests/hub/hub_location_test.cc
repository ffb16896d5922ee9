#include "hub/ref/hub_location.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <functional>
#include <optional>

#include "core/error.h"
#include "hub/source/local_hub.h"
#include "hub/store/publish.h"
#include "testutil/fixtures.h"

namespace khub::hub {
namespace {

using khub::testing::copy_tree;
using khub::testing::host_cpu_variant;
using khub::testing::TempDir;

std::optional<ErrorKind> error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.kind();
  }
  return std::nullopt;
}

TEST(HubLocation, TellsDirectoriesFromHttpUrls) {
  HubLocation d = parse_hub_location("build/hub");
  EXPECT_FALSE(d.is_http());
  EXPECT_EQ(d.directory, "build/hub");
  HubLocation h = parse_hub_location("http://127.0.0.1:8080/");
  EXPECT_TRUE(h.is_http());
  EXPECT_EQ(h.url, "http://127.0.0.1:8080");
  EXPECT_TRUE(parse_hub_location("HTTPS://hub.example/api").is_http());
  // A folder whose name holds a colon is still a folder.
  EXPECT_FALSE(parse_hub_location("hubs/a:b").is_http());
  EXPECT_FALSE(parse_hub_location("/srv/hub").is_http());
}

TEST(HubLocation, RefusesWhatIsNeitherADirectoryNorAnHttpUrl) {
  EXPECT_EQ(error_of([] { parse_hub_location(""); }), ErrorKind::kInvalidArgument);
  EXPECT_EQ(error_of([] { parse_hub_location("ftp://host/hub"); }), ErrorKind::kInvalidArgument);
  EXPECT_EQ(error_of([] { parse_hub_location("http://"); }), ErrorKind::kInvalidArgument);
  EXPECT_TRUE(is_url_shaped("s3://bucket"));
  EXPECT_FALSE(is_url_shaped("://x"));
  EXPECT_FALSE(is_url_shaped("./http://x"));
}

// The accident this guards against: `publish_kernel(built, "http://127.0.0.1:PORT")` used to
// create the relative folder "http:/127.0.0.1:PORT/..." in the working directory.
TEST(HubLocation, LocalHubEntryPointsRefuseAUrl) {
  TempDir tmp;
  std::filesystem::path built = tmp / "built";
  copy_tree(khub::testing::scale_v1(), built / host_cpu_variant());
  std::filesystem::path cwd = std::filesystem::current_path();
  std::filesystem::current_path(tmp.path());
  auto publish = [&] { publish_kernel(built, "http://127.0.0.1:37247"); };
  std::optional<ErrorKind> err = error_of(publish);
  std::optional<ErrorKind> open_err = error_of([] { LocalHubSource src("https://hub.example"); });
  bool wrote_folder = std::filesystem::exists(tmp / "http:");
  std::filesystem::current_path(cwd);
  EXPECT_EQ(err, ErrorKind::kInvalidArgument);
  EXPECT_EQ(open_err, ErrorKind::kInvalidArgument);
  EXPECT_FALSE(wrote_folder);
  try {
    require_hub_directory("http://h:1", "hub");
    ADD_FAILURE() << "a URL passed as a directory";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'http://h:1' is a URL"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace khub::hub
