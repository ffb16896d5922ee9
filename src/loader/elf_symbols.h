// The exported symbols of an ELF shared library, read from its .dynsym section without running
// any of its code (dlopen runs constructors; this check comes first). khub requires a kernel
// library to export exactly khub_kernel_manifest plus the manifest's function symbols (the ABI's
// explicit export list), so a library that exports anything else is refused before it is loaded.
#pragma once

#include <filesystem>
#include <set>
#include <string>
#include <string_view>

namespace khub::loader {

// Names of the defined, globally visible (GLOBAL/WEAK, default/protected visibility) dynamic
// symbols. Linker-generated markers (_init, _fini, _edata, _end, __bss_start, version-node
// symbols) are left out. Throws Error(kFormat) for a file that is not a well-formed ELF shared
// object (bounds are checked everywhere: the file is untrusted until this check passes).
std::set<std::string> elf_exported_symbols(const std::filesystem::path& library);
// The same over an in-memory image (`name` appears in errors); the fuzz target uses it.
std::set<std::string> elf_exported_symbols_in_memory(std::string_view image,
                                                     const std::string& name);

}  // namespace khub::loader
