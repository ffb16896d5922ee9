// The CUDA variants as built (build/kernels/<name>/khub1-cu130-x86_64-linux, needs no GPU): the
// archs of build.toml were all compiled, every function and layer is declared capture-safe and
// never synchronising, no layer claims a backward (none is implemented on CUDA), and each CUDA
// layer keeps the CPU variant's forward signature (names, roles, dtypes), so kernelize binds both
// through one layer contract (docs/layer-contracts.md).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

json read_json(const fs::path& p) {
  std::ifstream in(p);
  return json::parse(in);
}

const json* find_named(const json& list, const std::string& name) {
  for (const json& e : list)
    if (e.value("name", "") == name) return &e;
  return nullptr;
}

class CudaVariant : public ::testing::TestWithParam<const char*> {};

TEST_P(CudaVariant, CapturableForwardWithTheCpuSignature) {
  const fs::path dir = fs::path(KHUB_TEST_KERNELS) / GetParam();
  const fs::path cuda = dir / "khub1-cu130-x86_64-linux", cpu = dir / "khub1-cpu-x86_64-linux";
  if (!fs::exists(cuda / "metadata.json")) {
#if KHUB_TEST_HAVE_CUDA
    FAIL() << cuda << " is missing although nvcc was found: run scripts/publish_bundled_hub.sh";
#else
    GTEST_SKIP() << "built without nvcc: no CUDA variant";
#endif
  }
  ASSERT_TRUE(fs::exists(cpu / "metadata.json")) << cpu;
  json m = read_json(cuda / "metadata.json"), c = read_json(cpu / "metadata.json");
  EXPECT_EQ(m["backend"]["type"], "cuda");
  EXPECT_EQ(m["backend"]["archs"], json({"8.0", "8.9", "9.0a", "9.0+PTX"}));
  const json& fns = m["manifest"]["functions"];
  ASSERT_FALSE(fns.empty());
  for (const json& f : fns) {
    auto flags = f["flags"].get<std::vector<std::string>>();
    EXPECT_NE(std::find(flags.begin(), flags.end(), "can-capture"), flags.end()) << f["name"];
    EXPECT_EQ(std::find(flags.begin(), flags.end(), "synchronizes"), flags.end()) << f["name"];
    EXPECT_FALSE(f["workspace"].get<bool>()) << f["name"];
  }
  for (const json& l : m["manifest"]["layers"]) {
    const std::string name = l["name"];
    EXPECT_TRUE(l["can-capture"].get<bool>()) << name;
    EXPECT_FALSE(l["has-backward"].get<bool>()) << name;
    const json* cl = find_named(c["manifest"]["layers"], name);
    ASSERT_NE(cl, nullptr) << name << " has no CPU counterpart";
    const json* f = find_named(fns, l["forward"].get<std::string>());
    const json* cf = find_named(c["manifest"]["functions"], (*cl)["forward"].get<std::string>());
    ASSERT_TRUE(f && cf) << name;
    ASSERT_EQ((*f)["args"].size(), (*cf)["args"].size()) << name;
    for (size_t i = 0; i < (*f)["args"].size(); ++i) {
      const json &a = (*f)["args"][i], &b = (*cf)["args"][i];
      EXPECT_EQ(a["name"], b["name"]) << name << " arg " << i;
      EXPECT_EQ(a["role"], b["role"]) << name << " arg " << i;
      EXPECT_EQ(a["dtypes"], b["dtypes"]) << name << " arg " << i;
    }
    EXPECT_EQ((*f)["attrs"], (*cf)["attrs"]) << name;
  }
  // Every CPU layer has a CUDA forward too.
  for (const json& cl : c["manifest"]["layers"])
    EXPECT_NE(find_named(m["manifest"]["layers"], cl["name"]), nullptr) << cl["name"];
}

INSTANTIATE_TEST_SUITE_P(Kernels, CudaVariant,
                         ::testing::Values("rmsnorm", "activation", "rotary"));

}  // namespace
