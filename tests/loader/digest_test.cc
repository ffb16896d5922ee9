#include "loader/digest.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "core/error.h"
#include "testutil/temp_dir.h"

namespace khub::loader {
namespace {

using khub::testing::TempDir;
using khub::testing::write_file;

TEST(Digest, KnownVectors) {
  EXPECT_EQ(to_hex(sha256_bytes("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(base64_encode(sha256_bytes("")), "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
  std::string raw;
  EXPECT_TRUE(base64_decode("47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=", &raw));
  EXPECT_EQ(raw, sha256_bytes(""));
  EXPECT_FALSE(base64_decode("abc", &raw));
  EXPECT_FALSE(base64_decode("ab!=", &raw));
}

struct VariantFixture : ::testing::Test {
  TempDir tmp;
  std::filesystem::path dir = tmp / "khub1-cpu-x86_64-linux";
  VariantMetadata md;
  std::string raw;

  void SetUp() override {
    write_file(dir / "lib.so", "library bytes");
    write_file(dir / "data/table.bin", "table");
    write_file(dir / "__pycache__/x.pyc", "ignored");
    md.name = "k";
    md.version = 1;
    md.digest = compute_variant_digest(dir);
    raw = metadata_to_json(md).dump();
    write_file(dir / "metadata.json", raw);
  }
};

TEST_F(VariantFixture, ComputedDigestCoversFilesButNotMetadataOrPycache) {
  ASSERT_TRUE(md.digest);
  std::vector<std::string> keys;
  for (const auto& [k, v] : md.digest->files) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"data/table.bin", "lib.so"}));
  EXPECT_TRUE(check_variant_digest(dir, md).empty());
}

TEST_F(VariantFixture, ReportsMissingUnknownAndMismatch) {
  write_file(dir / "lib.so", "library bytez");      // tampered
  write_file(dir / "extra.so", "smuggled");         // unlisted
  std::filesystem::remove(dir / "data/table.bin");  // missing
  auto problems = check_variant_digest(dir, md);
  ASSERT_EQ(problems.size(), 3u);
  std::string all;
  for (const auto& p : problems) all += describe(p) + "\n";
  EXPECT_NE(all.find("missing file \"data/table.bin\""), std::string::npos) << all;
  EXPECT_NE(all.find("hash mismatch for \"lib.so\""), std::string::npos) << all;
  EXPECT_NE(all.find("unknown file \"extra.so\""), std::string::npos) << all;
  try {
    verify_variant(dir, md, raw);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kVerification);
    EXPECT_NE(std::string(e.what()).find("digest verification failed"), std::string::npos);
  }
}

TEST_F(VariantFixture, HexHashesAreAcceptedToo) {
  for (auto& [path, hash] : md.digest->files) {
    std::string bytes;
    ASSERT_TRUE(base64_decode(hash, &bytes));
    hash = to_hex(bytes);
  }
  EXPECT_TRUE(check_variant_digest(dir, md).empty());
  md.digest->files["lib.so"] = "zz";
  auto problems = check_variant_digest(dir, md);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0].kind, DigestProblem::kMalformedHash);
}

TEST_F(VariantFixture, NoDigestIsAnError) {
  md.digest.reset();
  EXPECT_THROW(check_variant_digest(dir, md), Error);
}

TEST_F(VariantFixture, ReceiptMakesWarmVerificationCheapAndNoticesChanges) {
  EXPECT_FALSE(verify_variant(dir, md, raw));  // cold: hashed, receipt written
  EXPECT_TRUE(verify_variant(dir, md, raw));   // warm: receipt accepted
  VerifyOptions no_receipt;
  no_receipt.use_receipt = false;
  EXPECT_FALSE(verify_variant(dir, md, raw, no_receipt));
  // A different metadata.json invalidates the receipt.
  EXPECT_FALSE(verify_variant(dir, md, raw + " "));
  // A modified file (new size and mtime) invalidates it and is caught by the re-hash.
  write_file(dir / "lib.so", "library bytes, patched");
  EXPECT_THROW(verify_variant(dir, md, raw), Error);
  // A new unlisted file is noticed even though the listed files are unchanged.
  write_file(dir / "lib.so", "library bytes");
  EXPECT_FALSE(verify_variant(dir, md, raw));
  EXPECT_TRUE(verify_variant(dir, md, raw));
  write_file(dir / "new.so", "x");
  EXPECT_THROW(verify_variant(dir, md, raw), Error);
}

TEST_F(VariantFixture, SymlinksMustStayInsideTheTrustRoot) {
  TempDir outside;
  write_file(outside / "payload.so", "library bytes");
  std::filesystem::remove(dir / "lib.so");
  std::filesystem::create_symlink(outside / "payload.so", dir / "lib.so");
  try {
    list_digest_files(dir, tmp.path());
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kVerification);
    EXPECT_NE(std::string(e.what()).find("symlink that leads outside"), std::string::npos);
  }
  // The same link inside the root (a cache snapshot pointing into its blobs) is fine.
  write_file(tmp / "blobs/abc", "library bytes");
  std::filesystem::remove(dir / "lib.so");
  std::filesystem::create_symlink(tmp / "blobs/abc", dir / "lib.so");
  EXPECT_TRUE(check_variant_digest(dir, md, tmp.path()).empty());
  // Folder links and special files are refused.
  std::filesystem::create_directory_symlink(outside.path(), dir / "linked");
  EXPECT_THROW(list_digest_files(dir, tmp.path()), Error);
  std::filesystem::remove(dir / "linked");
  ASSERT_EQ(mkfifo((dir / "fifo").c_str(), 0600), 0);
  EXPECT_THROW(list_digest_files(dir, tmp.path()), Error);
}

}  // namespace
}  // namespace khub::loader
