#include "loader/elf_symbols.h"

#include <elf.h>

#include <cstring>
#include <fstream>
#include <memory>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace khub::loader {
namespace {

// Reads only the headers, .dynsym and its string table: kernel libraries with fat binaries can
// be hundreds of MB, and this check runs on every cold load.
class ElfFile {
 public:
  explicit ElfFile(const std::filesystem::path& path)
      : name_(path.string()), in_(std::make_unique<std::ifstream>(path, std::ios::binary)) {
    if (!*in_) fail(ErrorKind::kNotFound, name_, ": cannot open the kernel library");
    in_->seekg(0, std::ios::end);
    std::streamoff size = in_->tellg();
    if (size < 0) bad("unreadable");
    size_ = static_cast<uint64_t>(size);
  }
  ElfFile(std::string_view bytes, std::string name)
      : name_(std::move(name)), memory_(bytes), size_(bytes.size()) {}

  [[noreturn]] void bad(const std::string& what) const {
    fail(ErrorKind::kFormat, name_, ": not a valid ELF shared library: ", what);
  }

  std::vector<char> bytes(uint64_t offset, uint64_t n) {
    if (offset > size_ || n > size_ - offset) bad("truncated (a section lies past the end)");
    if (n > (uint64_t(1) << 30)) bad("implausibly large section");
    std::vector<char> buf(n);
    if (n == 0) return buf;  // an empty section: nothing to read (and no buffer to copy into)
    if (!in_) {
      std::memcpy(buf.data(), memory_.data() + offset, n);
      return buf;
    }
    in_->clear();
    in_->seekg(static_cast<std::streamoff>(offset));
    in_->read(buf.data(), static_cast<std::streamsize>(n));
    if (!*in_) fail(ErrorKind::kIo, name_, ": read failed");
    return buf;
  }

  template <typename T>
  T read(uint64_t offset) {
    std::vector<char> b = bytes(offset, sizeof(T));
    T v;
    std::memcpy(&v, b.data(), sizeof(T));
    return v;
  }

 private:
  std::string name_;
  std::unique_ptr<std::ifstream> in_;  // null when reading from memory
  std::string_view memory_;
  uint64_t size_ = 0;
};

// NUL-terminated string at `index` of a string table.
std::string table_str(const ElfFile& f, const std::vector<char>& table, uint64_t index) {
  if (index >= table.size()) f.bad("symbol name index out of range");
  const char* begin = table.data() + index;
  const void* nul = std::memchr(begin, 0, table.size() - index);
  if (!nul) f.bad("unterminated symbol name");
  return std::string(begin, static_cast<const char*>(nul));
}

template <typename Ehdr, typename Shdr, typename Sym>
std::set<std::string> read_symbols(ElfFile& f) {
  auto eh = f.read<Ehdr>(0);
  if (eh.e_type != ET_DYN) f.bad("not a shared object (e_type " + std::to_string(eh.e_type) + ")");
  if (eh.e_shentsize != sizeof(Shdr)) f.bad("unexpected section header size");
  if (eh.e_shnum == 0 || eh.e_shnum > 65000) f.bad("no section headers");
  std::vector<char> raw = f.bytes(eh.e_shoff, uint64_t(eh.e_shnum) * sizeof(Shdr));
  std::vector<Shdr> sections(eh.e_shnum);
  std::memcpy(sections.data(), raw.data(), raw.size());
  const Shdr* dynsym = nullptr;
  for (const Shdr& s : sections) {
    if (s.sh_type == SHT_DYNSYM) {
      if (dynsym) f.bad("two .dynsym sections");
      dynsym = &s;
    }
  }
  if (!dynsym) f.bad("no .dynsym section (no exported symbols at all)");
  if (dynsym->sh_link >= sections.size()) f.bad(".dynsym links to a missing string table");
  const Shdr& strtab = sections[dynsym->sh_link];
  if (strtab.sh_type != SHT_STRTAB) f.bad(".dynsym string table has the wrong type");
  if (dynsym->sh_entsize != sizeof(Sym)) f.bad("unexpected symbol entry size");
  uint64_t count = dynsym->sh_size / sizeof(Sym);
  std::vector<char> symbytes = f.bytes(dynsym->sh_offset, count * sizeof(Sym));
  std::vector<char> strings = f.bytes(strtab.sh_offset, strtab.sh_size);

  static const std::set<std::string> kIgnored = {"_init",       "_fini",  "_edata", "_end",
                                                 "__bss_start", "_etext", "__end__"};
  std::set<std::string> names;
  for (uint64_t i = 1; i < count; ++i) {  // entry 0 is the reserved null symbol
    Sym sym;
    std::memcpy(&sym, symbytes.data() + i * sizeof(Sym), sizeof(Sym));
    unsigned char bind = sym.st_info >> 4;
    unsigned char type = sym.st_info & 0xf;
    unsigned char vis = sym.st_other & 0x3;
    if (sym.st_shndx == SHN_UNDEF) continue;  // imported, not exported
    if (bind != STB_GLOBAL && bind != STB_WEAK && bind != STB_GNU_UNIQUE) continue;
    if (vis == STV_HIDDEN || vis == STV_INTERNAL) continue;
    std::string name = table_str(f, strings, sym.st_name);
    if (kIgnored.count(name)) continue;
    // Version-node names (e.g. "KHUB_1.0") appear as absolute zero-sized OBJECT symbols.
    if (sym.st_shndx == SHN_ABS && sym.st_size == 0 && type == STT_OBJECT) continue;
    names.insert(name);
  }
  return names;
}

std::set<std::string> exported_symbols(ElfFile& f) {
  std::vector<char> d = f.bytes(0, EI_NIDENT);
  if (std::memcmp(d.data(), ELFMAG, SELFMAG) != 0) f.bad("no ELF magic");
  if (d[EI_DATA] != ELFDATA2LSB) f.bad("big-endian ELF is not supported");
  if (d[EI_CLASS] == ELFCLASS64) return read_symbols<Elf64_Ehdr, Elf64_Shdr, Elf64_Sym>(f);
  if (d[EI_CLASS] == ELFCLASS32) return read_symbols<Elf32_Ehdr, Elf32_Shdr, Elf32_Sym>(f);
  f.bad("unknown ELF class");
}

}  // namespace

std::set<std::string> elf_exported_symbols(const std::filesystem::path& library) {
  ElfFile f(library);
  return exported_symbols(f);
}

std::set<std::string> elf_exported_symbols_in_memory(std::string_view image,
                                                     const std::string& name) {
  ElfFile f(image, name);
  return exported_symbols(f);
}

}  // namespace khub::loader
