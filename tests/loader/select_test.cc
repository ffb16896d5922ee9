#include "loader/variant_select.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>

#include "core/error.h"

namespace khub::loader {
namespace {

SystemInfo cpu_linux() { return SystemInfo{}; }

SystemInfo cuda_device(const std::string& runtime, const std::string& cap) {
  SystemInfo s;
  s.device = DeviceType::kCUDA;
  s.runtime_version = runtime;
  s.arch = cap;
  s.device_name = "synthetic GPU";
  return s;
}

// Metadata per variant: backend type from the name, archs as given.
struct FakeHub {
  std::map<std::string, std::vector<std::string>> archs;
  std::map<std::string, std::string> broken;  // variant -> error text
  std::map<std::string, std::string> min_runtime;
  std::vector<std::string> asked;

  MetadataFn fn() {
    return [this](const std::string& v) {
      asked.push_back(v);
      if (broken.count(v)) fail(ErrorKind::kFormat, v, "/metadata.json: ", broken[v]);
      VariantMetadata md;
      md.name = "k";
      md.version = 1;
      md.backend = parse_variant_name(v)->backend.kind;
      if (archs.count(v)) md.archs = archs[v];
      if (min_runtime.count(v)) md.min_runtime = min_runtime[v];
      return md;
    };
  }
};

const VariantDecision& find(const Selection& s, const std::string& name) {
  for (const auto& d : s.decisions) {
    if (d.name == name) return d;
  }
  throw std::runtime_error("no decision for " + name);
}

TEST(Select, CpuPicksKhubCpuAndExplainsEveryOtherFolder) {
  FakeHub hub;
  std::vector<std::string> folders = {
      "torch212-cxx11-cu130-x86_64-linux", "khub1-cpu-x86_64-linux", "khub1-cpu-aarch64-linux",
      "khub1-cpu-x86_64-darwin",           "khub2-cpu-x86_64-linux", "khub1-cu130-x86_64-linux",
      "tvm-ffi01-cpu-x86_64-linux",        "torch-universal",        "README.md",
  };
  Selection s = select_variant(folders, cpu_linux(), hub.fn());
  ASSERT_TRUE(s.chosen());
  EXPECT_EQ(s.chosen()->name, "khub1-cpu-x86_64-linux");
  EXPECT_EQ(find(s, "torch212-cxx11-cu130-x86_64-linux").reason, RejectReason::kForeignFamily);
  EXPECT_NE(find(s, "torch212-cxx11-cu130-x86_64-linux")
                .detail.find("torch variant: khub loads khub<ABI> variants only"),
            std::string::npos);
  EXPECT_EQ(find(s, "tvm-ffi01-cpu-x86_64-linux").reason, RejectReason::kForeignFamily);
  EXPECT_EQ(find(s, "torch-universal").reason, RejectReason::kForeignFamily);
  EXPECT_EQ(find(s, "khub1-cpu-aarch64-linux").reason, RejectReason::kCpu);
  EXPECT_EQ(find(s, "khub1-cpu-x86_64-darwin").reason, RejectReason::kOs);
  EXPECT_EQ(find(s, "khub2-cpu-x86_64-linux").reason, RejectReason::kAbiMajor);
  EXPECT_NE(find(s, "khub2-cpu-x86_64-linux").detail.find("kernel ABI 2"), std::string::npos);
  EXPECT_EQ(find(s, "khub1-cu130-x86_64-linux").reason, RejectReason::kBackendFamily);
  EXPECT_EQ(find(s, "README.md").reason, RejectReason::kUnparseable);
  // Only the name-accepted variant's metadata was read.
  EXPECT_EQ(hub.asked, std::vector<std::string>{"khub1-cpu-x86_64-linux"});
  std::string trace = s.trace();
  EXPECT_NE(trace.find("khub1-cpu-x86_64-linux: selected"), std::string::npos);
  EXPECT_NE(trace.find("rejected [os]"), std::string::npos);
}

TEST(Select, CudaVersionRule) {
  FakeHub hub;
  for (const char* v : {"khub1-cu126-x86_64-linux", "khub1-cu128-x86_64-linux",
                        "khub1-cu130-x86_64-linux", "khub1-cu131-x86_64-linux"}) {
    hub.archs[v] = {"9.0"};
  }
  std::vector<std::string> folders = {"khub1-cu126-x86_64-linux", "khub1-cu128-x86_64-linux",
                                      "khub1-cu130-x86_64-linux", "khub1-cu131-x86_64-linux"};
  Selection s = select_variant(folders, cuda_device("13.0", "9.0"), hub.fn());
  ASSERT_TRUE(s.chosen());
  EXPECT_EQ(s.chosen()->name, "khub1-cu130-x86_64-linux");
  EXPECT_EQ(find(s, "khub1-cu131-x86_64-linux").reason, RejectReason::kBackendVersion);
  EXPECT_NE(find(s, "khub1-cu131-x86_64-linux").detail.find("newer than the runtime 13.0"),
            std::string::npos);
  EXPECT_EQ(find(s, "khub1-cu128-x86_64-linux").reason, RejectReason::kBackendVersion);  // major 12

  s = select_variant(folders, cuda_device("12.9", "9.0"), hub.fn());
  EXPECT_EQ(s.chosen()->name, "khub1-cu128-x86_64-linux");  // highest 12.x minor <= 9
  EXPECT_TRUE(find(s, "khub1-cu126-x86_64-linux").accepted);

  s = select_variant(folders, cuda_device("", "9.0"), hub.fn());
  EXPECT_FALSE(s.chosen());
  EXPECT_NE(find(s, "khub1-cu130-x86_64-linux").detail.find("runtime version is unknown"),
            std::string::npos);
}

TEST(Select, CudaCapabilityCoverage) {
  FakeHub hub;
  hub.archs["khub1-cu130-x86_64-linux"] = {"8.0", "9.0a"};
  std::vector<std::string> folders = {"khub1-cu130-x86_64-linux"};
  EXPECT_TRUE(select_variant(folders, cuda_device("13.0", "8.6"), hub.fn()).chosen());  // 8.0 SASS
  EXPECT_TRUE(select_variant(folders, cuda_device("13.0", "9.0"), hub.fn()).chosen());  // 9.0a
  Selection s = select_variant(folders, cuda_device("13.0", "10.0"), hub.fn());
  ASSERT_FALSE(s.chosen());
  EXPECT_EQ(s.decisions[0].reason, RejectReason::kDeviceArch);
  EXPECT_NE(s.decisions[0].detail.find("archs [8.0, 9.0a] do not cover compute capability 10.0"),
            std::string::npos);

  hub.archs["khub1-cu130-x86_64-linux"] = {"8.0+PTX"};
  s = select_variant(folders, cuda_device("13.0", "9.0"), hub.fn());
  ASSERT_TRUE(s.chosen());
  EXPECT_EQ(s.chosen()->arch.fit, ArchFit::kJit);

  hub.archs["khub1-cu130-x86_64-linux"] = {};
  s = select_variant(folders, cuda_device("13.0", "9.0"), hub.fn());
  EXPECT_EQ(s.decisions[0].reason, RejectReason::kDeviceArch);
  EXPECT_NE(s.decisions[0].detail.find("lists no backend.archs"), std::string::npos);
}

TEST(Select, PrefersExactSassThenNewerRuntime) {
  FakeHub hub;
  hub.archs["khub1-cu128-x86_64-linux"] = {"9.0a"};
  hub.archs["khub1-cu130-x86_64-linux"] = {"8.0+PTX"};
  hub.archs["khub1-cu129-x86_64-linux"] = {"9.0a"};
  std::vector<std::string> folders = {"khub1-cu128-x86_64-linux", "khub1-cu129-x86_64-linux",
                                      "khub1-cu130-x86_64-linux"};
  SystemInfo dev = cuda_device("12.9", "9.0");
  Selection s = select_variant(folders, dev, hub.fn());
  ASSERT_EQ(s.decisions.size(), 3u);
  EXPECT_EQ(s.decisions[0].name, "khub1-cu129-x86_64-linux");  // exact SASS, highest runtime
  EXPECT_EQ(s.decisions[1].name, "khub1-cu128-x86_64-linux");
  EXPECT_EQ(s.decisions[2].reason, RejectReason::kBackendVersion);  // 13.0 on a 12.9 runtime
  dev.runtime_version = "13.0";  // only the PTX build of CUDA 13 is left: it JIT-compiles
  s = select_variant(folders, dev, hub.fn());
  ASSERT_TRUE(s.chosen());
  EXPECT_EQ(s.chosen()->name, "khub1-cu130-x86_64-linux");
  EXPECT_EQ(s.chosen()->arch.fit, ArchFit::kJit);
}

TEST(Select, OrderIsDeterministic) {
  FakeHub hub;
  std::vector<std::string> folders;
  for (int minor : {0, 1, 2}) {
    for (const char* cap : {"9.0a", "8.0", "8.0+PTX"}) {
      std::string v = "khub1-cu13" + std::to_string(minor) + "-x86_64-linux";
      folders.push_back(v);
      hub.archs[v] = {cap};
    }
  }
  folders.push_back("khub1-cpu-x86_64-linux");
  folders.push_back("torch-cuda");
  SystemInfo dev = cuda_device("13.2", "9.0");
  std::string first = select_variant(folders, dev, hub.fn()).trace();
  std::mt19937 rng(7);
  for (int i = 0; i < 10; ++i) {
    std::shuffle(folders.begin(), folders.end(), rng);
    EXPECT_EQ(select_variant(folders, dev, hub.fn()).trace(), first);
  }
}

TEST(Select, RocmMetalXpuNpu) {
  FakeHub hub;
  hub.archs["khub1-rocm64-x86_64-linux"] = {"gfx942", "gfx90a"};
  hub.archs["khub1-rocm63-x86_64-linux"] = {"gfx942"};
  hub.archs["khub1-metal-aarch64-darwin"] = {"apple7"};
  hub.archs["khub1-xpu20253-x86_64-linux"] = {"pvc"};
  hub.archs["khub1-xpu20250-x86_64-linux"] = {"spir64"};
  std::vector<std::string> folders;
  for (const auto& [v, a] : hub.archs) folders.push_back(v);
  folders.push_back("khub1-cann80-aarch64-linux");

  SystemInfo rocm;
  rocm.device = DeviceType::kROCm;
  rocm.runtime_version = "6.4";
  rocm.arch = "gfx942";
  Selection s = select_variant(folders, rocm, hub.fn());
  ASSERT_TRUE(s.chosen());
  EXPECT_EQ(s.chosen()->name, "khub1-rocm64-x86_64-linux");
  EXPECT_EQ(find(s, "khub1-rocm63-x86_64-linux").reason, RejectReason::kBackendVersion);  // exact
  rocm.arch = "gfx1100";
  s = select_variant(folders, rocm, hub.fn());
  EXPECT_FALSE(s.chosen());
  EXPECT_EQ(find(s, "khub1-rocm64-x86_64-linux").reason, RejectReason::kDeviceArch);

  SystemInfo mac;
  mac.os = "darwin";
  mac.cpu = "aarch64";
  mac.device = DeviceType::kMetal;
  mac.arch = "apple9";
  mac.os_version = "26.1";
  s = select_variant(folders, mac, hub.fn());
  ASSERT_TRUE(s.chosen());
  EXPECT_EQ(s.chosen()->name, "khub1-metal-aarch64-darwin");
  hub.min_runtime["khub1-metal-aarch64-darwin"] = "26.0";
  mac.os_version = "15.4";
  s = select_variant(folders, mac, hub.fn());
  EXPECT_FALSE(s.chosen());
  EXPECT_EQ(find(s, "khub1-metal-aarch64-darwin").reason, RejectReason::kMinRuntime);
  EXPECT_NE(find(s, "khub1-metal-aarch64-darwin").detail.find("needs macOS 26.0"),
            std::string::npos);

  SystemInfo xpu;
  xpu.device = DeviceType::kXPU;
  xpu.runtime_version = "2025.3";
  xpu.arch = "bmg";
  s = select_variant(folders, xpu, hub.fn());
  EXPECT_FALSE(s.chosen());  // pvc only; the spir64 build is for oneAPI 2025.0
  EXPECT_EQ(find(s, "khub1-xpu20253-x86_64-linux").reason, RejectReason::kDeviceArch);
  EXPECT_EQ(find(s, "khub1-xpu20250-x86_64-linux").reason, RejectReason::kBackendVersion);
  xpu.runtime_version = "2025.0";
  s = select_variant(folders, xpu, hub.fn());
  ASSERT_TRUE(s.chosen());
  EXPECT_EQ(s.chosen()->name, "khub1-xpu20250-x86_64-linux");

  SystemInfo npu;
  npu.cpu = "aarch64";
  npu.device = DeviceType::kNPU;
  npu.runtime_version = "8.0";
  s = select_variant(folders, npu, hub.fn());
  ASSERT_TRUE(s.chosen());
  EXPECT_EQ(s.chosen()->name, "khub1-cann80-aarch64-linux");
}

TEST(Select, MetadataProblemsRejectWithReason) {
  FakeHub hub;
  hub.broken["khub1-cpu-x86_64-linux"] = "not valid JSON";
  Selection s = select_variant({"khub1-cpu-x86_64-linux"}, cpu_linux(), hub.fn());
  EXPECT_FALSE(s.chosen());
  EXPECT_EQ(s.decisions[0].reason, RejectReason::kMetadata);
  EXPECT_NE(s.decisions[0].detail.find("not valid JSON"), std::string::npos);

  // metadata.json contradicting the folder name
  MetadataFn lying = [](const std::string&) {
    VariantMetadata md;
    md.name = "k";
    md.backend = BackendKind::kCuda;
    return md;
  };
  s = select_variant({"khub1-cpu-x86_64-linux"}, cpu_linux(), lying);
  EXPECT_EQ(s.decisions[0].reason, RejectReason::kMetadata);
  EXPECT_NE(s.decisions[0].detail.find("says backend cuda"), std::string::npos);
}

TEST(Select, JsonTrace) {
  FakeHub hub;
  Selection s =
      select_variant({"khub1-cpu-x86_64-linux", "khub1-cpu-aarch64-linux"}, cpu_linux(), hub.fn());
  auto j = s.to_json();
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[0]["name"], "khub1-cpu-x86_64-linux");
  EXPECT_EQ(j[0]["selected"], true);
  EXPECT_EQ(j[1]["reason"], "cpu");
}

TEST(Select, ParseMajorMinor) {
  int a, b;
  EXPECT_TRUE(parse_major_minor("13.0", &a, &b));
  EXPECT_EQ(a * 100 + b, 1300);
  EXPECT_TRUE(parse_major_minor("2025.3", &a, &b));
  EXPECT_TRUE(parse_major_minor("26", &a, &b));
  EXPECT_EQ(b, 0);
  EXPECT_TRUE(parse_major_minor("13.0.1", &a, &b));
  EXPECT_FALSE(parse_major_minor("", &a, &b));
  EXPECT_FALSE(parse_major_minor("x13", &a, &b));
}

}  // namespace
}  // namespace khub::loader
