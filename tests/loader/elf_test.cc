#include "loader/elf_symbols.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "testutil/fixtures.h"

namespace khub::loader {
namespace {

using khub::testing::fixtures_dir;
using khub::testing::TempDir;
using khub::testing::write_file;

TEST(Elf, BuiltKernelExportsExactlyItsManifest) {
  auto syms = elf_exported_symbols(khub::testing::scale_v1() / "libscale.so");
  EXPECT_EQ(syms, (std::set<std::string>{"khub_kernel_manifest", "khub_scale_backward",
                                         "khub_scale_forward"}));
}

TEST(Elf, ExtraExportIsVisible) {
  auto syms = elf_exported_symbols(fixtures_dir() / "libs" / "libscale_extra.so");
  EXPECT_TRUE(syms.count("khub_scale_debug_hook"));
  EXPECT_TRUE(syms.count("khub_kernel_manifest"));
}

TEST(Elf, MalformedFilesAreFormatErrors) {
  TempDir tmp;
  write_file(tmp / "text.so", "this is not an ELF file at all, just text");
  write_file(tmp / "tiny.so",
             "\x7f"
             "ELF");
  std::string lib = khub::testing::read_file(khub::testing::scale_v1() / "libscale.so");
  write_file(tmp / "truncated.so", lib.substr(0, lib.size() / 2));
  std::string corrupt = lib;
  // Point the section header table far past the end of the file.
  corrupt[0x28] = '\xff';
  corrupt[0x2f] = '\x7f';
  write_file(tmp / "corrupt.so", corrupt);
  for (const char* f : {"text.so", "tiny.so", "truncated.so", "corrupt.so"}) {
    try {
      elf_exported_symbols(tmp / f);
      ADD_FAILURE() << f;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kFormat) << f << ": " << e.what();
      EXPECT_NE(std::string(e.what()).find("not a valid ELF shared library"), std::string::npos);
    }
  }
  EXPECT_THROW(elf_exported_symbols(tmp / "missing.so"), Error);
}

}  // namespace
}  // namespace khub::loader
