#include "loader/device_arch.h"

#include <gtest/gtest.h>

#include "core/error.h"

namespace khub::loader {
namespace {

ArchFit cuda(std::vector<std::string> archs, const std::string& cap) {
  return best_arch_match(BackendKind::kCuda, archs, cap).fit;
}

TEST(CudaArch, SassRunsOnSameMajorWithHigherOrEqualMinor) {
  EXPECT_EQ(cuda({"8.0"}, "8.0"), ArchFit::kExact);
  EXPECT_EQ(cuda({"8.0"}, "8.6"), ArchFit::kCompatible);
  EXPECT_EQ(cuda({"8.0"}, "8.9"), ArchFit::kCompatible);
  EXPECT_EQ(cuda({"8.6"}, "8.0"), ArchFit::kNone);  // lower minor: no
  EXPECT_EQ(cuda({"8.0"}, "9.0"), ArchFit::kNone);  // other major: no
  EXPECT_EQ(cuda({"9.0"}, "10.0"), ArchFit::kNone);
}

TEST(CudaArch, ArchSpecificOnlyOnExactCapability) {
  EXPECT_EQ(cuda({"9.0a"}, "9.0"), ArchFit::kExact);
  EXPECT_EQ(cuda({"9.0a"}, "10.0"), ArchFit::kNone);
  EXPECT_EQ(cuda({"10.0a"}, "10.3"), ArchFit::kNone);
  EXPECT_EQ(cuda({"9.0a+PTX"}, "10.0"), ArchFit::kNone);  // arch-specific PTX stays on 9.0
}

TEST(CudaArch, FamilySpecificWithinItsMajor) {
  EXPECT_EQ(cuda({"10.0f"}, "10.3"), ArchFit::kCompatible);
  EXPECT_EQ(cuda({"10.0f"}, "12.0"), ArchFit::kNone);
}

TEST(CudaArch, PtxJitsForwardOnly) {
  EXPECT_EQ(cuda({"8.0+PTX"}, "9.0"), ArchFit::kJit);
  EXPECT_EQ(cuda({"8.0+PTX"}, "12.0"), ArchFit::kJit);
  EXPECT_EQ(cuda({"9.0+PTX"}, "9.0"), ArchFit::kExact);
  EXPECT_EQ(cuda({"9.0+PTX"}, "8.9"), ArchFit::kNone);
}

TEST(CudaArch, BestOfSeveral) {
  std::vector<std::string> archs = {"8.0", "8.9", "9.0a", "9.0+PTX"};
  auto m = best_arch_match(BackendKind::kCuda, archs, "8.6");
  EXPECT_EQ(m.fit, ArchFit::kCompatible);
  EXPECT_EQ(m.arch, "8.0");
  m = best_arch_match(BackendKind::kCuda, archs, "9.0");
  EXPECT_EQ(m.fit, ArchFit::kExact);
  EXPECT_EQ(m.arch, "9.0a");  // listed first among the exact fits
  m = best_arch_match(BackendKind::kCuda, archs, "10.0");
  EXPECT_EQ(m.fit, ArchFit::kJit);
  EXPECT_EQ(m.arch, "9.0+PTX");
  EXPECT_EQ(cuda(archs, "7.5"), ArchFit::kNone);
}

TEST(CudaArch, MalformedStrings) {
  EXPECT_THROW(cuda({"9.x"}, "9.0"), Error);
  EXPECT_THROW(cuda({"sm_90"}, "9.0"), Error);
  EXPECT_THROW(cuda({"9.0"}, "nine"), Error);
  EXPECT_NE(check_arch_string(BackendKind::kCuda, "9.0b"), "");
  EXPECT_EQ(check_arch_string(BackendKind::kCuda, "12.0f+PTX"), "");
}

TEST(RocmArch, ExactAndGeneric) {
  auto fit = [](std::vector<std::string> archs, const std::string& dev) {
    return best_arch_match(BackendKind::kRocm, archs, dev).fit;
  };
  EXPECT_EQ(fit({"gfx942"}, "gfx942"), ArchFit::kExact);
  EXPECT_EQ(fit({"gfx942:sramecc+:xnack-"}, "gfx942"), ArchFit::kExact);
  EXPECT_EQ(fit({"gfx90a"}, "gfx942"), ArchFit::kNone);
  EXPECT_EQ(fit({"gfx9-4-generic"}, "gfx942"), ArchFit::kCompatible);
  EXPECT_EQ(fit({"gfx11-generic"}, "gfx1151"), ArchFit::kCompatible);  // Strix Halo (HF #502)
  EXPECT_EQ(fit({"gfx11-generic"}, "gfx942"), ArchFit::kNone);
  EXPECT_NE(check_arch_string(BackendKind::kRocm, "sm_90"), "");
}

TEST(MetalArch, FamiliesAreCumulative) {
  auto fit = [](std::vector<std::string> archs, const std::string& dev) {
    return best_arch_match(BackendKind::kMetal, archs, dev).fit;
  };
  EXPECT_EQ(fit({"apple7"}, "apple9"), ArchFit::kCompatible);
  EXPECT_EQ(fit({"apple9"}, "apple9"), ArchFit::kExact);
  EXPECT_EQ(fit({"apple9"}, "apple7"), ArchFit::kNone);
  EXPECT_EQ(fit({"mac2"}, "apple9"), ArchFit::kNone);
  EXPECT_THROW(fit({"apple9"}, "m3"), Error);
}

TEST(XpuArch, ExactNamesOrSpirv) {
  auto fit = [](std::vector<std::string> archs, const std::string& dev) {
    return best_arch_match(BackendKind::kXpu, archs, dev).fit;
  };
  EXPECT_EQ(fit({"pvc"}, "pvc"), ArchFit::kExact);
  EXPECT_EQ(fit({"pvc"}, "bmg"), ArchFit::kNone);
  EXPECT_EQ(fit({"spir64"}, "bmg"), ArchFit::kJit);
}

}  // namespace
}  // namespace khub::loader
