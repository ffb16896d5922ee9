// The CUDA variants as built (build/kernels/<name>/khub1-cu130-x86_64-linux, needs no GPU): the
// archs of build.toml were all compiled, every function and layer is declared capture-safe and
// never synchronising, and the CUDA variant mirrors the CPU one: the same layers, each with a
// backward exactly when the CPU layer has one, and the same functions with the same signatures
// (argument names, roles, dtypes; attributes; a workspace query where the CPU function has one),
// so kernelize binds both through one layer contract (docs/layer-contracts.md).
#include <gtest/gtest.h>

#include <algorithm>
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

TEST_P(CudaVariant, CapturableWithTheCpuSignatures) {
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
  const json& cfns = c["manifest"]["functions"];
  ASSERT_FALSE(fns.empty());
  for (const json& f : fns) {
    auto flags = f["flags"].get<std::vector<std::string>>();
    EXPECT_NE(std::find(flags.begin(), flags.end(), "can-capture"), flags.end()) << f["name"];
    EXPECT_EQ(std::find(flags.begin(), flags.end(), "synchronizes"), flags.end()) << f["name"];
  }
  // Every function has the CPU function's signature, and the CPU variant has no other function.
  ASSERT_EQ(fns.size(), cfns.size());
  for (const json& cf : cfns) {
    const std::string fn = cf["name"];
    const json* f = find_named(fns, fn);
    ASSERT_NE(f, nullptr) << fn << " has no CUDA counterpart";
    ASSERT_EQ((*f)["args"].size(), cf["args"].size()) << fn;
    for (size_t i = 0; i < cf["args"].size(); ++i) {
      const json &a = (*f)["args"][i], &b = cf["args"][i];
      EXPECT_EQ(a["name"], b["name"]) << fn << " arg " << i;
      EXPECT_EQ(a["role"], b["role"]) << fn << " arg " << i;
      EXPECT_EQ(a["dtypes"], b["dtypes"]) << fn << " arg " << i;
    }
    EXPECT_EQ((*f)["attrs"], cf["attrs"]) << fn;
    EXPECT_EQ((*f)["workspace"], cf["workspace"]) << fn;
  }
  for (const json& l : m["manifest"]["layers"]) {
    const std::string name = l["name"];
    EXPECT_TRUE(l["can-capture"].get<bool>()) << name;
    const json* cl = find_named(c["manifest"]["layers"], name);
    ASSERT_NE(cl, nullptr) << name << " has no CPU counterpart";
    EXPECT_EQ(l["forward"], (*cl)["forward"]) << name;
    EXPECT_EQ(l["has-backward"], (*cl)["has-backward"]) << name;
    EXPECT_EQ(l["backward"], (*cl)["backward"]) << name;
  }
  // Every CPU layer has a CUDA counterpart too.
  for (const json& cl : c["manifest"]["layers"])
    EXPECT_NE(find_named(m["manifest"]["layers"], cl["name"]), nullptr) << cl["name"];
}

INSTANTIATE_TEST_SUITE_P(Kernels, CudaVariant,
                         ::testing::Values("rmsnorm", "activation", "rotary"));

}  // namespace
