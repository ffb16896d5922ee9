#include "loader/variant.h"

#include <gtest/gtest.h>

namespace khub::loader {
namespace {

TEST(VariantName, KhubFamily) {
  auto v = parse_variant_name("khub1-cpu-x86_64-linux");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->family, VariantFamily::kKhub);
  EXPECT_EQ(v->abi_major, 1);
  EXPECT_EQ(v->backend.kind, BackendKind::kCpu);
  EXPECT_FALSE(v->backend.versioned);
  EXPECT_EQ(v->cpu, "x86_64");
  EXPECT_EQ(v->os, "linux");

  v = parse_variant_name("khub1-cu130-x86_64-linux");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->backend.kind, BackendKind::kCuda);
  EXPECT_EQ(v->backend.major, 13);
  EXPECT_EQ(v->backend.minor, 0);

  v = parse_variant_name("khub2-cu128-aarch64-linux");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->abi_major, 2);
  EXPECT_EQ(v->backend.version_str(), "12.8");
  EXPECT_EQ(v->cpu, "aarch64");

  v = parse_variant_name("khub1-rocm64-x86_64-linux");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->backend.kind, BackendKind::kRocm);
  EXPECT_EQ(v->backend.version_str(), "6.4");

  v = parse_variant_name("khub1-metal-aarch64-darwin");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->backend.kind, BackendKind::kMetal);
  EXPECT_EQ(v->os, "darwin");

  v = parse_variant_name("khub1-xpu20253-x86_64-linux");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->backend.kind, BackendKind::kXpu);
  EXPECT_EQ(v->backend.major, 2025);
  EXPECT_EQ(v->backend.minor, 3);

  for (const char* name : {"khub1-cann80-aarch64-linux", "khub1-neuron-x86_64-linux",
                           "khub1-tpu-x86_64-linux", "khub1-cpu-x86_64-windows"}) {
    EXPECT_TRUE(parse_variant_name(name)) << name;
  }
  // arm64 and AMD64 are normalized.
  EXPECT_EQ(parse_variant_name("khub1-metal-arm64-darwin")->cpu, "aarch64");
  EXPECT_EQ(parse_variant_name("khub1-cpu-AMD64-windows")->cpu, "x86_64");
}

TEST(VariantName, TorchFamilies) {
  auto v = parse_variant_name("torch212-cxx11-cu130-x86_64-linux");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->family, VariantFamily::kTorch);
  EXPECT_EQ(v->abi_major, 2);
  EXPECT_EQ(v->abi_minor, 12);
  EXPECT_EQ(v->cxx_abi, "cxx11");
  EXPECT_EQ(v->backend.version_str(), "13.0");

  v = parse_variant_name("torch29-cxx98-cu126-x86_64-linux");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->abi_minor, 9);
  EXPECT_EQ(v->cxx_abi, "cxx98");

  v = parse_variant_name("torch210-cu128-x86_64-windows");  // no ABI tag off Linux
  ASSERT_TRUE(v);
  EXPECT_EQ(v->abi_minor, 10);
  EXPECT_EQ(v->cxx_abi, "");

  v = parse_variant_name("torch212-metal-aarch64-darwin");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->backend.kind, BackendKind::kMetal);

  v = parse_variant_name("torch-stable-abi29-cu130-x86_64-linux");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->family, VariantFamily::kTorchStableAbi);
  EXPECT_EQ(v->abi_major, 2);
  EXPECT_EQ(v->abi_minor, 9);

  v = parse_variant_name("tvm-ffi01-cu128-x86_64-linux");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->family, VariantFamily::kTvmFfi);
  EXPECT_EQ(v->abi_major, 0);
  EXPECT_EQ(v->abi_minor, 1);

  for (auto [name, kind] :
       {std::pair{"torch-cuda", BackendKind::kCuda}, std::pair{"torch-rocm", BackendKind::kRocm},
        std::pair{"torch-xpu", BackendKind::kXpu}, std::pair{"torch-metal", BackendKind::kMetal},
        std::pair{"torch-cpu", BackendKind::kCpu}, std::pair{"torch-npu", BackendKind::kCann},
        std::pair{"torch-neuron", BackendKind::kNeuron},
        std::pair{"torch-tpu", BackendKind::kTpu}}) {
    auto n = parse_variant_name(name);
    ASSERT_TRUE(n) << name;
    EXPECT_EQ(n->family, VariantFamily::kTorchNoarch);
    EXPECT_EQ(n->backend.kind, kind) << name;
  }
  v = parse_variant_name("torch-universal");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->family, VariantFamily::kTorchUniversal);
}

TEST(VariantName, UnparseableNamesSayWhy) {
  struct Case {
    const char* name;
    const char* why;
  } cases[] = {
      {"khub1-cpu-riscv64-linux", "unknown cpu 'riscv64'"},
      {"khub1-cpu-x86_64-plan9", "unknown os 'plan9'"},
      {"khub1-gpu-x86_64-linux", "unknown backend 'gpu'"},
      {"khub1-cu-x86_64-linux", "backend 'cu' has no valid version"},
      {"khub1-xpu253-x86_64-linux", "backend 'xpu253' has no valid version"},
      {"khubx-cpu-x86_64-linux", "is not khub<ABI major>"},
      {"khub1-cpu-x86_64", "4 components"},
      {"torch-foo", "unknown noarch backend"},
      {"torchx-cpu-x86_64-linux", "is not torch<MAJ><MIN>"},
      {"tvm-ffi-cu128-x86_64-linux", "expected tvm-ffi<MAJ><MIN>"},
      {"onnx-cpu", "unknown variant family 'onnx'"},
      {"khub1--cpu-x86_64-linux", "empty component"},
      {"", "empty component"},
  };
  for (const auto& c : cases) {
    std::string why;
    EXPECT_FALSE(parse_variant_name(c.name, &why)) << c.name;
    EXPECT_NE(why.find(c.why), std::string::npos) << c.name << ": " << why;
  }
}

TEST(VariantName, FormatsOwnNames) {
  auto b = parse_backend_token("cu130");
  ASSERT_TRUE(b);
  EXPECT_EQ(khub_variant_name(1, *b, "x86_64", "linux"), "khub1-cu130-x86_64-linux");
}

}  // namespace
}  // namespace khub::loader
