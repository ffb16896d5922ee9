// libFuzzer target for every parser that reads kernel-hub input khub did not write: kernel
// references, semver constraints, variant folder names, metadata.json, ELF images (the export
// check runs before any dlopen, on untrusted files) and build.toml. The first byte picks the
// parser; the rest is its input. Parsing may succeed or throw khub::Error; any other exception,
// abort or sanitizer report is a crash.
#include <cstddef>
#include <cstdint>
#include <string>

#include "builder/build_toml.h"
#include "core/error.h"
#include "hub/ref/kernel_ref.h"
#include "hub/ref/semver.h"
#include "loader/elf_symbols.h"
#include "loader/metadata.h"
#include "loader/variant_select.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const std::string in(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    switch (data[0] % 6) {
      case 0:
        khub::hub::parse_kernel_ref(in);
        break;
      case 1: {
        auto c = khub::hub::VersionConstraint::parse(in);
        for (const char* v : {"0.0.1", "1.2.3", "2.0.0-rc.1", "10.20.30"}) {
          c.matches(*khub::hub::parse_semver(v));
        }
        break;
      }
      case 2: {
        std::string detail;
        std::optional<khub::loader::VariantName> parsed;
        khub::loader::check_variant_name(in, khub::loader::SystemInfo{}, &detail, &parsed);
        break;
      }
      case 3:
        khub::loader::parse_metadata(in, "fuzz/metadata.json");
        break;
      case 4:
        khub::loader::elf_exported_symbols_in_memory(in, "fuzz.so");
        break;
      case 5:
        khub::builder::parse_build_toml_text(in, "/fuzz");
        break;
    }
  } catch (const khub::Error&) {
  }
  return 0;
}
