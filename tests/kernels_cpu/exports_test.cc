// The shared libraries of the CPU kernels, as `khub build` ships them: each exports exactly the
// symbols its manifest lists (khub refuses any other library), loads with RTLD_LOCAL next to the
// others, and its functions work when called through dlsym.
#include <dlfcn.h>
#include <elf.h>
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <iterator>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/dlpack.h"
#include "core/tensor.h"
#include "khub/kernel_abi.h"

#ifndef KHUB_KERNEL_LIB_DIR
#error "KHUB_KERNEL_LIB_DIR must name the build's kernels/ folder"
#endif

namespace khub {
namespace {

const char* kKernels[] = {"rmsnorm", "activation", "rotary"};

std::string library_path(const std::string& kernel) {
  return std::string(KHUB_KERNEL_LIB_DIR) + "/" + kernel + "/libkhub_" + kernel + ".so";
}

// Defined global/weak symbols of an ELF64 shared library's dynamic symbol table.
std::set<std::string> dynamic_exports(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::set<std::string> out;
  if (bytes.size() < sizeof(Elf64_Ehdr)) return out;
  const auto* eh = reinterpret_cast<const Elf64_Ehdr*>(bytes.data());
  const auto* sh = reinterpret_cast<const Elf64_Shdr*>(bytes.data() + eh->e_shoff);
  for (int i = 0; i < eh->e_shnum; ++i) {
    if (sh[i].sh_type != SHT_DYNSYM) continue;
    const char* strtab = bytes.data() + sh[sh[i].sh_link].sh_offset;
    const auto* syms = reinterpret_cast<const Elf64_Sym*>(bytes.data() + sh[i].sh_offset);
    for (size_t k = 0; k < sh[i].sh_size / sizeof(Elf64_Sym); ++k) {
      int bind = ELF64_ST_BIND(syms[k].st_info);
      if (syms[k].st_shndx == SHN_UNDEF || (bind != STB_GLOBAL && bind != STB_WEAK)) continue;
      out.insert(strtab + syms[k].st_name);
    }
  }
  return out;
}

struct Library {
  void* handle = nullptr;
  explicit Library(const std::string& path) {
    handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  }
  ~Library() {
    if (handle) dlclose(handle);
  }
};

TEST(KernelLibraries, ExportExactlyTheManifestSymbols) {
  for (const char* kernel : kKernels) {
    SCOPED_TRACE(kernel);
    Library lib(library_path(kernel));
    ASSERT_NE(lib.handle, nullptr) << dlerror();
    auto manifest_fn =
        reinterpret_cast<khub_manifest_fn>(dlsym(lib.handle, KHUB_KERNEL_ENTRY_SYMBOL));
    ASSERT_NE(manifest_fn, nullptr);
    const khub_manifest* m = manifest_fn();
    EXPECT_EQ(m->abi_major, KHUB_KERNEL_ABI_VERSION_MAJOR);
    EXPECT_STREQ(m->kernel_name, kernel);
    std::set<std::string> listed = {KHUB_KERNEL_ENTRY_SYMBOL};
    for (int i = 0; i < m->num_functions; ++i) {
      listed.insert(m->functions[i].symbol);
      EXPECT_NE(dlsym(lib.handle, m->functions[i].symbol), nullptr) << m->functions[i].symbol;
    }
    EXPECT_EQ(dynamic_exports(library_path(kernel)), listed);
  }
}

TEST(KernelLibraries, LoadSideBySideAndRun) {
  std::vector<std::unique_ptr<Library>> libs;
  for (const char* kernel : kKernels) {
    libs.push_back(std::make_unique<Library>(library_path(kernel)));
    ASSERT_NE(libs.back()->handle, nullptr) << dlerror();
  }
  // Each library answers with its own manifest although all export khub_kernel_manifest.
  for (size_t i = 0; i < libs.size(); ++i) {
    auto fn = reinterpret_cast<khub_manifest_fn>(dlsym(libs[i]->handle, KHUB_KERNEL_ENTRY_SYMBOL));
    EXPECT_STREQ(fn()->kernel_name, kKernels[i]);
  }
  // rms_norm_forward through dlsym: rows of [3, 4] against hand-computed values.
  auto rms =
      reinterpret_cast<khub_kernel_fn>(dlsym(libs[0]->handle, "khub_rmsnorm_rms_norm_forward"));
  ASSERT_NE(rms, nullptr);
  Tensor x = Tensor::from_vector<float>({1, 2, 3, 4, -2, 0, 2, 0, 5, 5, 5, 5}, {3, 4}, DType::kF32);
  Tensor w = Tensor::from_vector<float>({1, 1, 2, 0.5f}, {4}, DType::kF32);
  Tensor out = Tensor::full({3, 4}, std::nan(""), DType::kF32);
  DLTensor dl[3] = {to_dltensor(x), to_dltensor(w), to_dltensor(out)};
  khub_named_value eps{"eps", {}};
  eps.value.kind = KHUB_VALUE_FLOAT;
  eps.value.v.f = 0.0;
  khub_exec_context ctx{};
  ctx.struct_version = 1;
  ctx.device = {kDLCPU, 0};
  khub_call call{1, &ctx, 3, dl, 1, &eps};
  khub_error err{};
  err.struct_version = 1;
  ASSERT_EQ(rms(&call, &err), KHUB_STATUS_OK) << err.message;
  // Row 0: rms = sqrt(30 / 4); row 1: sqrt(2); row 2: 5.
  const double r0 = std::sqrt(7.5), r1 = std::sqrt(2.0);
  const double expected[] = {1 / r0,     2 / r0, 6 / r0, 2 / r0, -2 / r1, 0,
                             2 * 2 / r1, 0,      1,      1,      2,       0.5};
  for (int i = 0; i < 12; ++i) EXPECT_NEAR(out.item(i), expected[i], 1e-6) << i;
}

}  // namespace
}  // namespace khub
