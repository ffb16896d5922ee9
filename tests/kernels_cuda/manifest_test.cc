// The CUDA variants as built (build/kernels/<name>/khub1-cu130-x86_64-linux, needs no GPU): the
// archs of build.toml were all compiled, every function and layer is declared capture-safe and
// never synchronising, and the CUDA variant mirrors the CPU one: the same layers, each with a
// backward exactly when the CPU layer has one, and the same functions with the same signatures
// (argument names, roles, dtypes; attributes; a workspace query where the CPU function has one),
// so kernelize binds both through one layer contract (docs/layer-contracts.md).
// CUDA-only kernels (flash-attn) have no CPU variant to compare with: their layers (and the
// backward where the contract defines one: Attention's) are checked against the contract's
// signature instead.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <vector>

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

struct Arg {
  const char* name;
  const char* role;
  const char* dtypes;
};
struct ContractLayer {
  const char* name;
  std::vector<Arg> args;
  std::vector<const char*> attrs;
  std::vector<Arg> backward_args = {};  // empty: the layer has no backward
};
// Signatures of the layers whose kernels have no CPU variant (docs/layer-contracts.md).
const std::vector<ContractLayer> kCudaOnlyLayers = {
    {"Attention",
     {{"q", "input", "bf16,f16"},
      {"k_cache", "input", "same:q"},
      {"v_cache", "input", "same:q"},
      {"seqs", "input", "i32"},
      {"workspace", "output", "f32"},
      {"out", "output", "same:q"},
      {"sinks", "input", "f32"}},
     {"scale", "window", "softcap", "max_q_len", "max_kv_len"},
     // The backward contract: the forward's arguments (out now an input), then the gradients.
     {{"q", "input", "bf16,f16"},
      {"k_cache", "input", "same:q"},
      {"v_cache", "input", "same:q"},
      {"seqs", "input", "i32"},
      {"workspace", "output", "f32"},
      {"out", "input", "same:q"},
      {"grad_out", "input", "same:q"},
      {"grad_q", "output", "same:q"},
      {"grad_k_cache", "inout", "f32"},
      {"grad_v_cache", "inout", "f32"}}},
    {"RotaryKVCache",
     {{"q", "inout", "bf16,f16"},
      {"k", "inout", "same:q"},
      {"v", "input", "same:q"},
      {"cos", "input", "f32"},
      {"sin", "input", "f32"},
      {"rows", "input", "i32"},
      {"k_cache", "inout", "same:q"},
      {"v_cache", "inout", "same:q"},
      {"q_weight", "param", "same:q"},
      {"k_weight", "param", "same:q"}},
     {"rotary_dim", "interleaved", "eps", "gemma_norm"}},
};

struct Kernel {
  const char* name;
  bool has_cpu;
  // false: the variants declare different dtypes (moe: a CPU model runs f32 activations next to
  // its checkpoint's bf16/f16 weights, a CUDA model one dtype for both).
  bool same_dtypes = true;
  // An argument whose CUDA dtypes are an explicit list with f32 where the CPU's are "same:..."
  // (rmsnorm's grad_weight: the CUDA backward also writes an f32 sum, which khub then prefers).
  const char* f32_on_cuda = nullptr;
};
void PrintTo(const Kernel& k, std::ostream* os) { *os << k.name; }

class CudaVariant : public ::testing::TestWithParam<Kernel> {};

// Function `fn` has exactly `args` (names, roles, dtypes, in order) and the attributes `attrs`.
void expect_signature(const json& fns, const std::string& fn, const std::vector<Arg>& args,
                      const std::vector<const char*>& attrs) {
  const json* f = find_named(fns, fn);
  ASSERT_NE(f, nullptr) << fn;
  ASSERT_EQ((*f)["args"].size(), args.size()) << fn;
  for (size_t i = 0; i < args.size(); ++i) {
    const json& a = (*f)["args"][i];
    EXPECT_EQ(a["name"], args[i].name) << fn << " arg " << i;
    EXPECT_EQ(a["role"], args[i].role) << fn << " arg " << i;
    EXPECT_EQ(a["dtypes"], args[i].dtypes) << fn << " arg " << i;
  }
  ASSERT_EQ((*f)["attrs"].size(), attrs.size()) << fn;
  for (size_t i = 0; i < attrs.size(); ++i)
    EXPECT_EQ((*f)["attrs"][i]["name"], attrs[i]) << fn << " attr " << i;
}

void expect_contract(const json& fns, const json& layer) {
  const std::string name = layer["name"];
  auto it = std::find_if(kCudaOnlyLayers.begin(), kCudaOnlyLayers.end(),
                         [&](const ContractLayer& c) { return name == c.name; });
  ASSERT_NE(it, kCudaOnlyLayers.end()) << name << " is not a known CUDA-only layer";
  expect_signature(fns, layer["forward"].get<std::string>(), it->args, it->attrs);
  ASSERT_EQ(layer["has-backward"].get<bool>(), !it->backward_args.empty()) << name;
  if (it->backward_args.empty()) return;
  // The backward takes the forward's attributes.
  expect_signature(fns, layer["backward"].get<std::string>(), it->backward_args, it->attrs);
}

TEST_P(CudaVariant, CapturableWithTheCpuSignatures) {
  const fs::path dir = fs::path(KHUB_TEST_KERNELS) / GetParam().name;
  const fs::path cuda = dir / "khub1-cu130-x86_64-linux", cpu = dir / "khub1-cpu-x86_64-linux";
  if (!fs::exists(cuda / "metadata.json")) {
#if KHUB_TEST_HAVE_CUDA
    FAIL() << cuda << " is missing although nvcc was found: run scripts/publish_bundled_hub.sh";
#else
    GTEST_SKIP() << "built without nvcc: no CUDA variant";
#endif
  }
  json m = read_json(cuda / "metadata.json");
  EXPECT_EQ(m["backend"]["type"], "cuda");
  EXPECT_EQ(m["backend"]["archs"], json({"8.0", "8.9", "9.0a", "9.0+PTX"}));
  const json& fns = m["manifest"]["functions"];
  ASSERT_FALSE(fns.empty());
  for (const json& f : fns) {
    auto flags = f["flags"].get<std::vector<std::string>>();
    EXPECT_NE(std::find(flags.begin(), flags.end(), "can-capture"), flags.end()) << f["name"];
    EXPECT_EQ(std::find(flags.begin(), flags.end(), "synchronizes"), flags.end()) << f["name"];
  }
  ASSERT_FALSE(m["manifest"]["layers"].empty());
  for (const json& l : m["manifest"]["layers"])
    EXPECT_TRUE(l["can-capture"].get<bool>()) << l["name"];
  if (!GetParam().has_cpu) {
    EXPECT_FALSE(fs::exists(cpu)) << cpu << " exists for a kernel listed as CUDA-only";
    for (const json& l : m["manifest"]["layers"]) expect_contract(fns, l);
    return;
  }
  ASSERT_TRUE(fs::exists(cpu / "metadata.json")) << cpu;
  json c = read_json(cpu / "metadata.json");
  const json& cfns = c["manifest"]["functions"];
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
      const char* wider = GetParam().f32_on_cuda;
      if (wider != nullptr && a["name"] == wider) {
        const std::string cuda = a["dtypes"], cpu_dtypes = b["dtypes"];
        EXPECT_EQ(cpu_dtypes.rfind("same:", 0), 0u) << fn << " arg " << i << ": " << cpu_dtypes;
        EXPECT_EQ(cuda, "f32,bf16,f16") << fn << " arg " << i;
      } else if (GetParam().same_dtypes) {
        EXPECT_EQ(a["dtypes"], b["dtypes"]) << fn << " arg " << i;
      }
    }
    EXPECT_EQ((*f)["attrs"], cf["attrs"]) << fn;
    EXPECT_EQ((*f)["workspace"], cf["workspace"]) << fn;
  }
  for (const json& l : m["manifest"]["layers"]) {
    const std::string name = l["name"];
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
                         ::testing::Values(Kernel{"rmsnorm", true, true, "grad_weight"},
                                           Kernel{"activation", true}, Kernel{"rotary", true},
                                           Kernel{"flash-attn", false}, Kernel{"moe", true, false}),
                         [](const ::testing::TestParamInfo<Kernel>& i) {
                           std::string n = i.param.name;
                           std::replace(n.begin(), n.end(), '-', '_');
                           return n;
                         });

}  // namespace
