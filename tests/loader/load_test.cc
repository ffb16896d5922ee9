// Loading variant folders: the good path, two versions side by side, and every kind of bad input
// the loader must refuse with a clear error before running any kernel code.
#include "loader/variant_loader.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "loader/registry.h"
#include "testutil/fixtures.h"

namespace khub::loader {
namespace {

using khub::testing::fixtures_dir;
using khub::testing::make_variant_with_library;
using khub::testing::rewrite_metadata;
using khub::testing::TempDir;
using khub::testing::write_file;

KernelIdentity identity(const std::filesystem::path& dir, const std::string& rev = "local") {
  KernelIdentity id;
  id.repo = "khub-test/scale";
  id.revision = rev;
  id.variant = dir.filename().string();
  id.dir = dir;
  id.source = "test";
  return id;
}

// A writable copy of the good variant, to break in one way per test.
struct BadInput : ::testing::Test {
  TempDir tmp;
  std::filesystem::path dir = tmp / khub::testing::host_cpu_variant();
  void SetUp() override { khub::testing::copy_tree(khub::testing::scale_v1(), dir); }

  // Loads and returns the error (kind + text); fails the test if the load succeeds.
  Error load_error() {
    try {
      load_kernel_variant(identity(dir));
    } catch (const Error& e) {
      return e;
    }
    ADD_FAILURE() << "the load succeeded";
    return Error(ErrorKind::kInternal, "");
  }
};

TEST(Load, GoodVariant) {
  auto k = load_kernel_variant(identity(khub::testing::scale_v1()));
  EXPECT_EQ(k->metadata().name, "scale");
  EXPECT_EQ(k->manifest().functions.size(), 2u);
  EXPECT_TRUE(k->has_layer("Scale"));
  KernelLayer l = k->layer("Scale");
  EXPECT_TRUE(l.info->has_backward());
  EXPECT_TRUE(l.backward.has_value());
  EXPECT_THROW(k->layer("RMSNorm"), Error);
  EXPECT_THROW(k->function("nope"), Error);
}

TEST(Load, RegistryMemoizesByRevisionAndVariant) {
  auto& reg = KernelRegistry::global();
  auto a = reg.load(identity(khub::testing::scale_v1(), std::string(40, 'a')));
  auto b = reg.load(identity(khub::testing::scale_v1(), std::string(40, 'a')));
  EXPECT_EQ(a.get(), b.get());
  auto c = reg.load(identity(khub::testing::scale_v2(), std::string(40, 'b')));
  EXPECT_NE(a.get(), c.get());
  EXPECT_NE(&a->library(), &c->library());
}

TEST_F(BadInput, CorruptMetadata) {
  write_file(dir / "metadata.json", "{\"name\": \"scale\", ");
  Error e = load_error();
  EXPECT_EQ(e.kind(), ErrorKind::kFormat);
  EXPECT_NE(std::string(e.what()).find("metadata.json: not valid JSON"), std::string::npos)
      << e.what();
}

TEST_F(BadInput, MissingLibrary) {
  std::filesystem::remove(dir / "libscale.so");
  Error e = load_error();
  // The digest lists the library, so verification names it first.
  EXPECT_EQ(e.kind(), ErrorKind::kVerification);
  EXPECT_NE(std::string(e.what()).find("missing file \"libscale.so\""), std::string::npos)
      << e.what();
  // Without a digest entry for it, the library lookup itself reports the absence.
  rewrite_metadata(dir, read_metadata(dir));
  e = load_error();
  EXPECT_EQ(e.kind(), ErrorKind::kNotFound);
  EXPECT_NE(std::string(e.what()).find(
                "the kernel library \"libscale.so\" named by metadata.json is missing"),
            std::string::npos)
      << e.what();
}

TEST_F(BadInput, TamperedFile) {
  std::string lib = khub::testing::read_file(dir / "libscale.so");
  lib[lib.size() / 2] ^= 0x5a;
  write_file(dir / "libscale.so", lib);
  Error e = load_error();
  EXPECT_EQ(e.kind(), ErrorKind::kVerification);
  EXPECT_NE(std::string(e.what()).find("hash mismatch for \"libscale.so\""), std::string::npos)
      << e.what();
  EXPECT_NE(std::string(e.what()).find("khub-test/scale"), std::string::npos);
}

TEST_F(BadInput, NoDigest) {
  VariantMetadata md = read_metadata(dir);
  md.digest.reset();
  rewrite_metadata(dir, md, false);
  Error e = load_error();
  EXPECT_EQ(e.kind(), ErrorKind::kVerification);
  EXPECT_NE(std::string(e.what()).find("has no \"digest\""), std::string::npos);
}

TEST_F(BadInput, HostilePathInDigest) {
  std::string text = khub::testing::read_file(dir / "metadata.json");
  auto j = nlohmann::json::parse(text);
  j["digest"]["files"]["../../etc/passwd"] = "AAAA";
  write_file(dir / "metadata.json", j.dump());
  Error e = load_error();
  EXPECT_EQ(e.kind(), ErrorKind::kFormat);
  EXPECT_NE(std::string(e.what()).find("hostile path \"../../etc/passwd\""), std::string::npos)
      << e.what();

  j = nlohmann::json::parse(text);
  j["digest"]["files"]["/etc/passwd"] = "AAAA";
  write_file(dir / "metadata.json", j.dump());
  e = load_error();
  EXPECT_NE(std::string(e.what()).find("absolute path"), std::string::npos) << e.what();
}

TEST_F(BadInput, LibraryLinkedFromOutside) {
  TempDir outside;
  std::filesystem::copy_file(dir / "libscale.so", outside / "libscale.so");
  std::filesystem::remove(dir / "libscale.so");
  std::filesystem::create_symlink(outside / "libscale.so", dir / "libscale.so");
  Error e = load_error();
  EXPECT_EQ(e.kind(), ErrorKind::kVerification);
  EXPECT_NE(std::string(e.what()).find("leads outside"), std::string::npos) << e.what();
}

TEST_F(BadInput, WrongAbiMajor) {
  TempDir root;
  dir = make_variant_with_library(root.path(), fixtures_dir() / "libs" / "libscale_abi2.so");
  Error e = load_error();
  EXPECT_EQ(e.kind(), ErrorKind::kVerification);
  std::string msg = e.what();
  EXPECT_NE(msg.find("kernel ABI major 2 (library) does not match 1 (this khub)"),
            std::string::npos)
      << msg;
}

TEST_F(BadInput, ExtraExportedSymbol) {
  TempDir root;
  dir = make_variant_with_library(root.path(), fixtures_dir() / "libs" / "libscale_extra.so");
  Error e = load_error();
  EXPECT_EQ(e.kind(), ErrorKind::kVerification);
  EXPECT_NE(std::string(e.what()).find(
                "exports symbols the manifest does not list: khub_scale_debug_hook"),
            std::string::npos)
      << e.what();
}

TEST_F(BadInput, ManifestDisagreesWithLibrary) {
  VariantMetadata md = read_metadata(dir);
  md.manifest["layers"][0]["name"] = "NotScale";
  rewrite_metadata(dir, md);
  Error e = load_error();
  EXPECT_EQ(e.kind(), ErrorKind::kVerification);
  EXPECT_NE(std::string(e.what()).find("manifest differs from metadata.json"), std::string::npos)
      << e.what();
  EXPECT_NE(std::string(e.what()).find("NotScale"), std::string::npos);
}

TEST_F(BadInput, ManifestListsASymbolTheLibraryLacks) {
  VariantMetadata md = read_metadata(dir);
  md.manifest["functions"][0]["symbol"] = "khub_scale_forward_v2";
  rewrite_metadata(dir, md);
  Error e = load_error();
  EXPECT_NE(std::string(e.what()).find("does not export: khub_scale_forward_v2"), std::string::npos)
      << e.what();
}

TEST_F(BadInput, NameMismatch) {
  VariantMetadata md = read_metadata(dir);
  md.name = "other";
  rewrite_metadata(dir, md);
  Error e = load_error();
  EXPECT_NE(
      std::string(e.what()).find("kernel_name 'scale' differs from metadata.json name 'other'"),
      std::string::npos)
      << e.what();
}

TEST_F(BadInput, NothingLoadedAfterAFailure) {
  write_file(dir / "metadata.json", "garbage");
  EXPECT_THROW(KernelRegistry::global().load(identity(dir)), Error);
  for (const auto& k : KernelRegistry::global().loaded()) {
    EXPECT_NE(k->identity().dir, dir);
  }
}

}  // namespace
}  // namespace khub::loader
