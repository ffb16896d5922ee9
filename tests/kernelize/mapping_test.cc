// Table-driven tests of kernelize's rules that need no kernel: modes and their fallback chains,
// capability intervals, scoping and inheritance, env switches, KernelConfig forms and errors.
#include <gtest/gtest.h>

#include <cstdlib>
#include <nlohmann/json.hpp>

#include "core/env.h"
#include "core/error.h"
#include "kernelize/default_mapping.h"
#include "kernelize/env_switches.h"
#include "kernelize/kernel_config.h"
#include "kernelize/kernel_mapping.h"

namespace khub {
namespace {

KernelLayerRef ref(const char* s) { return KernelLayerRef::parse(s, "test"); }

TEST(Mode, FallbackChainsMatchHfKernels) {
  using M = Mode;
  struct Case {
    Mode requested;
    std::vector<Mode> chain;
  } cases[] = {
      {M::kInference,
       {M::kInference, M::kInference | M::kCompile, M::kTraining, M::kTraining | M::kCompile,
        M::kFallback}},
      {M::kInference | M::kCompile,
       {M::kInference | M::kCompile, M::kTraining | M::kCompile, M::kFallback}},
      {M::kTraining, {M::kTraining, M::kTraining | M::kCompile, M::kFallback}},
      {M::kTraining | M::kCompile, {M::kTraining | M::kCompile, M::kFallback}},
  };
  for (const Case& c : cases) EXPECT_EQ(mode_fallback_chain(c.requested), c.chain);
}

TEST(Mode, InvalidCombinationsAreErrors) {
  EXPECT_THROW(mode_parse("inference|training"), Error);
  EXPECT_THROW(mode_parse("fallback|inference"), Error);
  EXPECT_THROW(mode_parse("compile"), Error);
  EXPECT_THROW(mode_parse("fast"), Error);
  EXPECT_THROW(mode_validate_request(Mode::kFallback), Error);
  EXPECT_EQ(mode_parse("Inference,Compile"), Mode::kInference | Mode::kCompile);
  EXPECT_EQ(mode_name(Mode::kTraining | Mode::kCompile), "training|compile");
}

TEST(Mapping, ModeLookupFollowsTheChain) {
  KernelMapping m;
  m.add("RMSNorm", DeviceType::kCUDA,
        {{Mode::kTraining, ref("a/train:L")}, {Mode::kInference | Mode::kCompile, ref("a/ic:L")}});
  // Inference finds inference|compile before training.
  EXPECT_EQ(m.lookup("RMSNorm", DeviceType::kCUDA, 90, Mode::kInference).ref->repo, "a/ic");
  EXPECT_EQ(m.lookup("RMSNorm", DeviceType::kCUDA, 90, Mode::kTraining).ref->repo, "a/train");
  // Training|compile never uses an inference entry.
  MappingLookup t = m.lookup("RMSNorm", DeviceType::kCUDA, 90, Mode::kTraining | Mode::kCompile);
  EXPECT_EQ(t.ref, nullptr);
  EXPECT_NE(t.reason.find("training|compile"), std::string::npos);
  // A bare entry (fallback) serves every mode.
  m.add("SiluAndMul", DeviceType::kCPU, ref("a/act:SiluAndMul"));
  EXPECT_EQ(
      m.lookup("SiluAndMul", DeviceType::kCPU, 0, Mode::kTraining | Mode::kCompile).matched_mode,
      Mode::kFallback);
}

TEST(Mapping, NarrowestCapabilityIntervalWins) {
  KernelMapping m;
  m.add("Attention", DeviceType::kCUDA, {{Mode::kFallback, ref("a/wide:A")}},
        CapabilityRange{75, 120});
  m.add("Attention", DeviceType::kCUDA, {{Mode::kFallback, ref("a/hopper:A")}},
        CapabilityRange{90, 90});
  m.add("Attention", DeviceType::kCUDA, {{Mode::kFallback, ref("a/ampere:A")}},
        CapabilityRange{80, 89});
  struct {
    int cap;
    const char* repo;
  } cases[] = {{75, "a/wide"},   {80, "a/ampere"}, {86, "a/ampere"}, {89, "a/ampere"},
               {90, "a/hopper"}, {100, "a/wide"},  {120, "a/wide"}};
  for (const auto& c : cases) {
    auto l = m.lookup("Attention", DeviceType::kCUDA, c.cap, Mode::kInference);
    ASSERT_NE(l.ref, nullptr) << c.cap;
    EXPECT_EQ(l.ref->repo, c.repo) << c.cap;
  }
  auto miss = m.lookup("Attention", DeviceType::kCUDA, 70, Mode::kInference);
  EXPECT_EQ(miss.ref, nullptr);
  EXPECT_NE(miss.reason.find("7.0"), std::string::npos);
  // Re-registering the same interval replaces it.
  m.add("Attention", DeviceType::kCUDA, {{Mode::kFallback, ref("a/hopper2:A")}},
        CapabilityRange{90, 90});
  EXPECT_EQ(m.lookup("Attention", DeviceType::kCUDA, 90, Mode::kInference).ref->repo, "a/hopper2");
  // Capability ranges are for cuda and rocm only.
  EXPECT_THROW(
      m.add("X", DeviceType::kCPU, {{Mode::kFallback, ref("a/b:X")}}, CapabilityRange{80, 90}),
      Error);
  // Missing device type names the mapped ones.
  auto dev = m.lookup("Attention", DeviceType::kMetal, 0, Mode::kInference);
  EXPECT_NE(dev.reason.find("metal"), std::string::npos);
  EXPECT_NE(dev.reason.find("cuda"), std::string::npos);
}

TEST(Mapping, ScopesInheritAndRestore) {
  KernelMapping base;
  base.add("RMSNorm", DeviceType::kCPU, ref("org/base:RMSNorm"));
  register_kernel_mapping(base, /*inherit=*/false);
  {
    KernelMapping extra;
    extra.add("SiluAndMul", DeviceType::kCPU, ref("org/act:SiluAndMul"));
    UseKernelMapping scope(extra);  // inherit: both keys
    EXPECT_TRUE(current_kernel_mapping().has_key("RMSNorm"));
    EXPECT_TRUE(current_kernel_mapping().has_key("SiluAndMul"));
    {
      UseKernelMapping only(extra, /*inherit=*/false);
      EXPECT_FALSE(current_kernel_mapping().has_key("RMSNorm"));
    }
    EXPECT_TRUE(current_kernel_mapping().has_key("RMSNorm"));
    // A user entry replaces the whole per-device entry of the same key.
    KernelMapping over;
    over.add("RMSNorm", DeviceType::kCPU, {{Mode::kTraining, ref("org/mine:RMSNorm")}});
    UseKernelMapping o(over);
    EXPECT_EQ(
        current_kernel_mapping().lookup("RMSNorm", DeviceType::kCPU, 0, Mode::kInference).ref->repo,
        "org/mine");
  }
  EXPECT_FALSE(current_kernel_mapping().has_key("SiluAndMul"));
  register_kernel_mapping(KernelMapping(), false);
}

// A user's choice outranks the defaults' narrower capability intervals: {"Attention": ""} turns
// the default CUDA attention kernel (registered for compute capability 8.0-12.0) off, where a
// merge would keep the narrower default as the better match.
TEST(Mapping, UserChoiceReplacesEveryIntervalOfItsDevice) {
  KernelMapping defaults;
  defaults.add("Attention", DeviceType::kCUDA, {{Mode::kInference, ref("org/fa:Attention")}},
               CapabilityRange{80, 120});
  KernelConfig user{{{"Attention", ""}}};
  KernelMapping merged = defaults;
  merged.merge(user.mapping());
  EXPECT_FALSE(merged.lookup("Attention", DeviceType::kCUDA, 90, Mode::kInference).ref->disabled);
  KernelMapping chosen = defaults;
  chosen.override_with(user.mapping());
  const KernelLayerRef* r = chosen.lookup("Attention", DeviceType::kCUDA, 90, Mode::kInference).ref;
  ASSERT_NE(r, nullptr);
  EXPECT_TRUE(r->disabled);
  // Devices the user did not name keep the defaults.
  KernelConfig cpu_only{{{"Attention", KernelConfig::Value{{"cpu", ""}}}}};
  KernelMapping partial = defaults;
  partial.override_with(cpu_only.mapping());
  EXPECT_EQ(partial.lookup("Attention", DeviceType::kCUDA, 90, Mode::kInference).ref->repo,
            "org/fa");
}

TEST(KernelConfig, EveryDocumentedFormIsAccepted) {
  KernelConfig c{{
      {"RMSNorm", "khub-community/rmsnorm:RMSNorm"},
      {"GemmaRMSNorm", "khub-community/rmsnorm@v1.1.0:GemmaRMSNorm"},
      {"SiluAndMul",
       {{"cuda", "khub-community/activation@>=1.0,<2.0:SiluAndMul"},
        {"cpu", "khub-community/activation@^1.0:SiluAndMul"},
        {"rocm", "org/rocm-kernels:RocmAct"},
        {"metal", "org/metal-kernels:MetalAct"},
        {"xpu", "org/xpu-kernels:XpuAct"}}},
      {"rotary_pos_emb", ""},
      {"Attention", "khub-community/flash-attn@0123456789abcdef0123456789abcdef01234567"},
  }};
  const KernelMapping& m = c.mapping();
  EXPECT_EQ(m.lookup("RMSNorm", DeviceType::kCPU, 0, Mode::kTraining).ref->repo,
            "khub-community/rmsnorm");
  EXPECT_EQ(m.lookup("GemmaRMSNorm", DeviceType::kCUDA, 90, Mode::kInference).ref->repo,
            "khub-community/rmsnorm@v1.1.0");
  EXPECT_EQ(m.lookup("SiluAndMul", DeviceType::kMetal, 0, Mode::kInference).ref->layer, "MetalAct");
  EXPECT_EQ(m.lookup("SiluAndMul", DeviceType::kNPU, 0, Mode::kInference).ref, nullptr);
  EXPECT_TRUE(m.lookup("rotary_pos_emb", DeviceType::kCPU, 0, Mode::kInference).ref->disabled);
  EXPECT_EQ(m.lookup("Attention", DeviceType::kCUDA, 90, Mode::kInference).ref->layer, "");

  nlohmann::json j = {{"kernel_mapping",
                       {{"RMSNorm", {{"mps", "org/m:RMSNorm"}, {"cpu", ""}}},
                        {"SiluAndMul", "khub-community/activation@v1:SiluAndMul"}}}};
  KernelConfig f = KernelConfig::from_json(j, "cfg.json");
  EXPECT_EQ(f.keys().size(), 2u);
  EXPECT_EQ(f.mapping().lookup("RMSNorm", DeviceType::kMetal, 0, Mode::kInference).ref->repo,
            "org/m");
}

TEST(KernelConfig, EveryOtherFormIsRejectedNamingTheKey) {
  struct Case {
    nlohmann::json mapping;
    std::vector<std::string> must_mention;
  } cases[] = {
      {{{"RMSNorm", 3}}, {"RMSNorm", "number"}},
      {{{"RMSNorm", nlohmann::json::array({"a/b:C"})}}, {"RMSNorm", "array"}},
      {{{"RMSNorm", "rmsnorm:RMSNorm"}}, {"RMSNorm", "org/repo"}},
      {{{"RMSNorm", "a/b/c:RMSNorm"}}, {"RMSNorm", "org/repo"}},
      {{{"RMSNorm", "a/b@:RMSNorm"}}, {"RMSNorm", "revision"}},
      {{{"RMSNorm", "a/b:"}}, {"RMSNorm", "layer name"}},
      {{{"RMSNorm", {{"tpu9", "a/b:R"}}}}, {"RMSNorm", "tpu9", "cuda"}},
      {{{"RMSNorm", {{"cuda", 1}}}}, {"RMSNorm", "cuda"}},
      {{{"RMSNorm", nlohmann::json::object()}}, {"RMSNorm", "empty"}},
  };
  for (const Case& c : cases) {
    try {
      KernelConfig::from_json({{"kernel_mapping", c.mapping}}, "cfg.json");
      ADD_FAILURE() << c.mapping.dump() << " was accepted";
    } catch (const Error& e) {
      for (const auto& s : c.must_mention) {
        EXPECT_NE(std::string(e.what()).find(s), std::string::npos)
            << c.mapping.dump() << " → " << e.what();
      }
      EXPECT_NE(std::string(e.what()).find("cfg.json"), std::string::npos);
    }
  }
  EXPECT_THROW(KernelConfig::from_json({{"kernel_mapping", 1}}, "x"), Error);
  EXPECT_THROW(KernelConfig::from_json({{"kernel_mapping", {}}, {"other", 1}}, "x"), Error);
}

TEST(EnvSwitches, UseHubKernelsAcceptsEveryDocumentedSpelling) {
  for (const char* off : {"0", "OFF", "off", "No", "NO", "false", "False"}) {
    EXPECT_FALSE(env::parse_flag("USE_HUB_KERNELS", off)) << off;
  }
  for (const char* on : {"1", "ON", "yes", "TRUE"}) {
    EXPECT_TRUE(env::parse_flag("USE_HUB_KERNELS", on)) << on;
  }
  EXPECT_THROW(env::parse_flag("USE_HUB_KERNELS", "maybe"), Error);
  setenv("USE_HUB_KERNELS", "Off", 1);
  EXPECT_FALSE(hub_kernels_enabled());
  unsetenv("USE_HUB_KERNELS");
  EXPECT_TRUE(hub_kernels_enabled());
  setenv("DISABLE_KERNEL_MAPPING", "1", 1);
  EXPECT_TRUE(kernel_mapping_disabled());
  unsetenv("DISABLE_KERNEL_MAPPING");
  EXPECT_FALSE(kernel_mapping_disabled());
}

TEST(DefaultMapping, CoversTheCollectionAndKeepsGemmaSeparate) {
  const KernelMapping& m = default_kernel_mapping();
  for (const char* key :
       {"RMSNorm", "GemmaRMSNorm", "SiluAndMul", "GeluTanhAndMul", "rotary_pos_emb"}) {
    auto l = m.lookup(key, DeviceType::kCPU, 0, Mode::kInference);
    ASSERT_NE(l.ref, nullptr) << key;
  }
  EXPECT_EQ(m.lookup("GemmaRMSNorm", DeviceType::kCPU, 0, Mode::kInference).ref->layer,
            "GemmaRMSNorm");
  EXPECT_EQ(m.lookup("Attention", DeviceType::kCPU, 0, Mode::kInference).ref, nullptr);
  EXPECT_NE(m.lookup("Attention", DeviceType::kCUDA, 90, Mode::kInference).ref, nullptr);
  EXPECT_EQ(m.lookup("Attention", DeviceType::kCUDA, 75, Mode::kInference).ref, nullptr);
}

}  // namespace
}  // namespace khub
