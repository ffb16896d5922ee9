#include "builder/kernel_builder.h"

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "builder/build_toml.h"
#include "builder/process.h"
#include "core/env.h"
#include "core/error.h"
#include "core/logging.h"
#include "khub/kernel_abi.h"
#include "loader/digest.h"
#include "loader/elf_symbols.h"
#include "loader/manifest.h"
#include "loader/metadata.h"
#include "loader/shared_library.h"
#include "loader/system_info.h"
#include "loader/variant.h"

#ifndef KHUB_VERSION
#define KHUB_VERSION "0.0.0"
#endif

namespace khub::builder {
namespace fs = std::filesystem;

namespace {

struct Toolchain {
  std::string cxx;      // g++ path
  std::string cxx_id;   // "g++ (Debian 12.2.0-14) 12.2.0"
  std::string nvcc;     // "" when absent
  std::string nvcc_id;  // "Cuda compilation tools, release 13.0, V13.0.88"
  int cuda_major = 0, cuda_minor = 0;
  std::set<std::string> sm_codes;  // "sm_90", from nvcc --list-gpu-code
};

std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

Toolchain detect_toolchain(bool want_cuda) {
  Toolchain t;
  t.cxx = find_program(env::string("CXX", "g++"));
  if (t.cxx.empty()) fail(ErrorKind::kNotFound, "no C++ compiler (g++ or $CXX) on PATH");
  int st = 0;
  t.cxx_id = first_line(run_capture({t.cxx, "--version"}, {}, &st));
  if (!want_cuda) return t;
  if (std::optional<std::string> nv = env::get("NVCC")) t.nvcc = find_program(*nv);
  if (t.nvcc.empty()) t.nvcc = find_program("nvcc");
  if (t.nvcc.empty() && access("/usr/local/cuda/bin/nvcc", X_OK) == 0)
    t.nvcc = "/usr/local/cuda/bin/nvcc";
  if (t.nvcc.empty()) return t;
  std::string v = run_capture({t.nvcc, "--version"}, {}, &st);
  size_t r = v.find("release ");
  if (st != 0 || r == std::string::npos ||
      std::sscanf(v.c_str() + r, "release %d.%d", &t.cuda_major, &t.cuda_minor) != 2) {
    fail(ErrorKind::kIo, t.nvcc, " --version did not report a CUDA release");
  }
  t.nvcc_id = first_line(v.substr(v.rfind("Cuda compilation tools") == std::string::npos
                                      ? 0
                                      : v.rfind("Cuda compilation tools")));
  std::istringstream codes(run_capture({t.nvcc, "--list-gpu-code"}, {}, &st));
  for (std::string line; std::getline(codes, line);) {
    if (!line.empty()) t.sm_codes.insert(line);
  }
  return t;
}

std::string sha256_hex_file(const fs::path& p) {
  return loader::to_hex(loader::sha_file(p, "sha256"));
}

// Project files that feed the source digest: everything except build outputs and hidden files.
std::vector<std::string> project_files(const fs::path& project, const fs::path& out) {
  std::vector<std::string> files;
  std::error_code ec;
  fs::path out_canon = fs::weakly_canonical(out, ec);
  fs::recursive_directory_iterator it(project, fs::directory_options::none, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    std::string fname = it->path().filename().string();
    std::string rel = it->path().lexically_relative(project).generic_string();
    bool skip_dir = it->is_directory() && (fname.rfind(".", 0) == 0 || rel == "build" ||
                                           fs::weakly_canonical(it->path(), ec) == out_canon);
    if (skip_dir) {
      it.disable_recursion_pending();
      continue;
    }
    if (fname.rfind(".", 0) == 0 || !it->is_regular_file()) continue;
    files.push_back(rel);
  }
  std::sort(files.begin(), files.end());
  return files;
}

struct Provenance {
  std::string commit;
  std::optional<bool> dirty;
};

Provenance git_provenance(const fs::path& project) {
  Provenance p;
  int st = 0;
  std::string commit = run_capture({"git", "log", "-1", "--format=%H", "--", "."}, project, &st);
  if (st != 0) return p;
  commit = first_line(commit);
  if (commit.size() != 40) return p;  // not committed yet
  p.commit = commit;
  std::string status = run_capture({"git", "status", "--porcelain", "--", "."}, project, &st);
  if (st == 0) p.dirty = !status.empty();
  return p;
}

std::string cuda_gencode(const std::string& arch) {
  std::string a = arch;
  bool ptx = a.size() > 4 && a.compare(a.size() - 4, 4, "+PTX") == 0;
  if (ptx) a.resize(a.size() - 4);
  std::string num;
  for (char c : a) {
    if (c != '.') num.push_back(c);
  }
  std::string code = ptx ? "[sm_" + num + ",compute_" + num + "]" : "sm_" + num;
  return "arch=compute_" + num + ",code=" + code;
}

// Whether nvcc can build `arch`: its plain sm_XY is listed, 'a' needs Hopper or newer, 'f' needs
// Blackwell or newer and CUDA 12.9+.
bool nvcc_supports(const Toolchain& t, const std::string& arch) {
  int major = 0, minor = 0;
  char suffix = 0;
  std::sscanf(arch.c_str(), "%d.%d%c", &major, &minor, &suffix);
  if (!t.sm_codes.count("sm_" + std::to_string(major) + std::to_string(minor))) return false;
  if (suffix == 'a') return major >= 9;
  if (suffix == 'f')
    return major >= 10 && (t.cuda_major > 12 || (t.cuda_major == 12 && t.cuda_minor >= 9));
  return true;
}

void write_text(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out) fail(ErrorKind::kIo, p.string(), ": write failed");
}

class ScopedDir {
 public:
  explicit ScopedDir(fs::path p) : path_(std::move(p)) {
    std::error_code ec;
    fs::remove_all(path_, ec);
    fs::create_directories(path_, ec);
    if (ec) fail(ErrorKind::kIo, path_.string(), ": ", ec.message());
  }
  ~ScopedDir() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }
  void release() { path_.clear(); }

 private:
  fs::path path_;
};

// Reads the manifest of a freshly linked library with the loader's own validator.
loader::ManifestInfo read_manifest(const fs::path& lib) {
  loader::SharedLibrary so(lib);
  auto entry = reinterpret_cast<khub_manifest_fn>(so.symbol(KHUB_KERNEL_ENTRY_SYMBOL));
  if (!entry) {
    fail(ErrorKind::kVerification, lib.string(), ": does not define ", KHUB_KERNEL_ENTRY_SYMBOL,
         " (mark it KHUB_KERNEL_EXPORT and extern \"C\")");
  }
  loader::ManifestInfo m = loader::validate_manifest(entry(), lib.string());
  for (const auto& f : m.functions) {
    if (!so.symbol(f.symbol)) {
      fail(ErrorKind::kVerification, lib.string(), ": the manifest names symbol ", f.symbol,
           " but the library does not export it (mark it KHUB_KERNEL_EXPORT and extern \"C\")");
    }
  }
  return m;
}

struct BackendBuild {
  const BuildConfig& cfg;
  const BuildOptions& opts;
  const Toolchain& tc;
  fs::path out;
  fs::path include_dir;
  int jobs;
};

BuiltVariant build_backend(const BackendBuild& b, const std::string& backend,
                           const std::vector<std::string>& all_files,
                           std::vector<std::string>* notes) {
  const BuildConfig& cfg = b.cfg;
  const Toolchain& tc = b.tc;
  loader::SystemInfo host = loader::SystemInfo::host();
  auto backend_token = loader::parse_backend_token(
      backend == "cpu" ? "cpu"
                       : "cu" + std::to_string(tc.cuda_major) + std::to_string(tc.cuda_minor));
  BuiltVariant out;
  out.backend = backend;
  out.variant =
      loader::khub_variant_name(KHUB_KERNEL_ABI_VERSION_MAJOR, *backend_token, host.cpu, host.os);
  out.dir = b.out / out.variant;
  auto groups = cfg.groups_for(backend);

  // CUDA archs: the intersection over groups with .cu sources, limited to what nvcc can build.
  std::vector<std::string> archs;
  if (backend == "cuda") {
    bool first = true;
    for (const SourceGroup* g : groups) {
      if (std::none_of(g->src.begin(), g->src.end(),
                       [](const std::string& s) { return fs::path(s).extension() == ".cu"; })) {
        continue;
      }
      const auto& caps =
          g->cuda_capabilities.empty() ? default_cuda_capabilities() : g->cuda_capabilities;
      if (first) {
        archs = caps;
        first = false;
      } else {
        std::vector<std::string> keep;
        for (const auto& a : archs) {
          if (std::count(caps.begin(), caps.end(), a)) keep.push_back(a);
        }
        if (keep.size() != archs.size()) {
          notes->push_back(
              "cuda: source groups list different capabilities; the variant covers their "
              "intersection");
        }
        archs = keep;
      }
    }
    std::vector<std::string> supported;
    for (const auto& a : archs) {
      if (nvcc_supports(tc, a))
        supported.push_back(a);
      else
        notes->push_back("cuda: " + tc.nvcc_id + " cannot build arch " + a + "; left out");
    }
    archs = supported;
    if (archs.empty())
      fail(ErrorKind::kInvalidArgument, cfg.project.string(), ": no CUDA capability left to build");
  }
  out.archs = archs;

  // Source digest: what the build reads, plus the toolchain and options that shape its output.
  std::string listing = "builder khub " KHUB_VERSION "\nabi " +
                        std::to_string(KHUB_KERNEL_ABI_VERSION_MAJOR) + "." +
                        std::to_string(KHUB_KERNEL_ABI_VERSION_MINOR) + "\nbackend " + backend +
                        "\ncxx " + tc.cxx_id + "\n";
  if (backend == "cuda") {
    listing += "nvcc " + tc.nvcc_id + "\n";
    for (const auto& a : archs) listing += "arch " + a + "\n";
  }
  for (const auto& d : b.opts.defines) listing += "define " + d + "\n";
  for (const auto& f : all_files) listing += sha256_hex_file(cfg.project / f) + "  " + f + "\n";
  // Every public header a kernel can include (<khub/kernel_abi.h>, <khub/cuda_launch.cuh>).
  std::vector<std::string> headers;
  for (const auto& e : fs::directory_iterator(b.include_dir / "khub")) {
    if (e.is_regular_file()) headers.push_back(e.path().filename().string());
  }
  std::sort(headers.begin(), headers.end());
  for (const auto& h : headers) {
    listing += sha256_hex_file(b.include_dir / "khub" / h) + "  <khub/" + h + ">\n";
  }
  std::string source_digest = loader::to_hex(loader::sha256_bytes(listing));
  std::string py_name = cfg.name;
  std::replace(py_name.begin(), py_name.end(), '-', '_');
  Provenance prov = git_provenance(cfg.project);
  out.id = "_" + py_name + "_" + backend + "_" + source_digest.substr(0, 7) +
           (prov.dirty.value_or(false) ? "_dirty" : "");

  // Up to date?
  std::error_code ec;
  if (!b.opts.force && fs::exists(out.dir / "metadata.json", ec)) {
    try {
      loader::VariantMetadata old = loader::read_metadata(out.dir);
      if (old.source_digest == source_digest && old.provenance.commit == prov.commit &&
          old.provenance.dirty == prov.dirty &&
          loader::check_variant_digest(out.dir, old).empty()) {
        out.up_to_date = true;
        out.id = old.id;
        return out;
      }
    } catch (const Error&) {
      // A damaged previous build is simply rebuilt.
    }
  }

  // Compile.
  std::string suffix = std::to_string(::getpid());
  ScopedDir obj(b.out / (".obj-" + out.variant + "-" + suffix));
  ScopedDir stage(b.out / (".tmp-" + out.variant + "-" + suffix));
  const std::string proj_abs = fs::absolute(cfg.project).lexically_normal().string();
  const std::string inc_abs = fs::absolute(b.include_dir).lexically_normal().string();
  std::vector<std::string> common = {"-O3",
                                     "-fPIC",
                                     "-fvisibility=hidden",
                                     "-fno-gnu-unique",
                                     "-ffile-prefix-map=" + proj_abs + "=" + cfg.name,
                                     "-ffile-prefix-map=" + inc_abs + "=khub-include",
                                     "-I" + inc_abs};
  for (const auto& d : b.opts.defines) common.push_back("-D" + d);
  std::vector<Command> compiles;
  std::vector<std::string> objects;
  std::vector<std::string> ld_flags;
  bool has_cu = false;
  for (const SourceGroup* g : groups) {
    std::vector<std::string> inc;
    // Relative to the project (the compiler's working folder), so paths baked into the objects
    // (__FILE__ in headers) do not depend on where the checkout lives.
    for (const auto& i : g->include) inc.push_back("-I" + i);
    for (const auto& f : g->ld_flags) ld_flags.push_back(f);
    for (const std::string& src : g->src) {
      fs::path sp(src);
      std::string ext = sp.extension().string();
      if (ext == ".h" || ext == ".hpp" || ext == ".cuh") continue;
      if (!fs::is_regular_file(cfg.project / src, ec)) {
        fail(ErrorKind::kNotFound, (cfg.project / "build.toml").string(), ": [kernel.", g->name,
             "] source \"", src, "\" does not exist");
      }
      std::string obj_name = src;
      std::replace(obj_name.begin(), obj_name.end(), '/', '_');
      std::string o = (obj.path() / (g->name + "__" + obj_name + ".o")).string();
      objects.push_back(o);
      Command c;
      c.cwd = cfg.project;
      c.label = "compile " + src;
      if (ext == ".cu") {
        has_cu = true;
        c.argv = {tc.nvcc,
                  "-std=c++17",
                  "-O3",
                  "-Xcompiler",
                  "-fPIC,-fvisibility=hidden,-fno-gnu-unique,-ffile-prefix-map=" + proj_abs + "=" +
                      cfg.name + ",-frandom-seed=" + src,
                  "-I" + inc_abs};
        for (const auto& d : b.opts.defines) c.argv.push_back("-D" + d);
        for (const auto& a : archs) {
          c.argv.push_back("-gencode");
          c.argv.push_back(cuda_gencode(a));
        }
        c.argv.insert(c.argv.end(), inc.begin(), inc.end());
        c.argv.insert(c.argv.end(), g->cuda_flags.begin(), g->cuda_flags.end());
      } else {
        c.argv = {ext == ".c" ? "gcc" : tc.cxx};
        c.argv.push_back(ext == ".c" ? "-std=c11" : "-std=c++20");
        if (ext != ".c") c.argv.push_back("-fvisibility-inlines-hidden");
        c.argv.insert(c.argv.end(), common.begin(), common.end());
        c.argv.push_back("-frandom-seed=" + src);
        if (backend == "cuda" && !tc.nvcc.empty()) {
          c.argv.push_back("-I" +
                           (fs::path(tc.nvcc).parent_path().parent_path() / "include").string());
        }
        c.argv.insert(c.argv.end(), inc.begin(), inc.end());
        c.argv.insert(c.argv.end(), g->cxx_flags.begin(), g->cxx_flags.end());
      }
      c.argv.insert(c.argv.end(), {"-c", src, "-o", o});
      compiles.push_back(std::move(c));
    }
  }
  if (objects.empty())
    fail(ErrorKind::kInvalidArgument, cfg.project.string(), ": backend ", backend,
         " has no sources to compile");
  run_commands(compiles, b.jobs, [&](const Command& c, size_t done, size_t total) {
    if (b.opts.on_progress) b.opts.on_progress(backend, c.label, done, total);
  });

  // Link twice: once to read the manifest, once with the exact export list.
  const std::string lib_name = "lib" + py_name + ".so";
  auto link = [&](const fs::path& target, const fs::path& version_script) {
    Command c;
    c.label = "link " + target.filename().string();
    bool nv = backend == "cuda" && has_cu;
    c.argv = {nv ? tc.nvcc : tc.cxx, "-shared", "-o", target.string()};
    c.argv.insert(c.argv.end(), objects.begin(), objects.end());
    auto ld = [&](const std::string& f) {
      if (nv) {
        c.argv.push_back("-Xlinker");
        c.argv.push_back(f);
      } else {
        c.argv.push_back("-Wl," + f);
      }
    };
    ld("-soname=" + lib_name);
    ld("--build-id=sha1");
    // nvcc names its intermediate files tmpxft_<pid>_...; they surface as local FILE symbols.
    // Dropping local symbols keeps CUDA builds reproducible (exported names stay).
    if (nv) ld("--discard-all");
    if (!version_script.empty()) ld("--version-script=" + version_script.string());
    c.argv.insert(c.argv.end(), ld_flags.begin(), ld_flags.end());
    run_commands({c}, 1);
  };
  fs::path probe = obj.path() / ("probe-" + lib_name);
  link(probe, {});
  loader::ManifestInfo probe_manifest = read_manifest(probe);
  std::string script = "{\n  global:\n    " KHUB_KERNEL_ENTRY_SYMBOL ";\n";
  std::set<std::string> expected = {KHUB_KERNEL_ENTRY_SYMBOL};
  for (const auto& f : probe_manifest.functions) {
    script += "    " + f.symbol + ";\n";
    expected.insert(f.symbol);
  }
  script += "  local:\n    *;\n};\n";
  fs::path map = obj.path() / "exports.map";
  write_text(map, script);
  fs::path lib = stage.path() / lib_name;
  link(lib, map);

  std::set<std::string> exported = loader::elf_exported_symbols(lib);
  if (exported != expected) {
    std::string extra;
    for (const auto& s : exported) {
      if (!expected.count(s)) extra += " " + s;
    }
    fail(ErrorKind::kVerification, lib.string(), ": exports symbols outside the manifest:", extra);
  }
  loader::ManifestInfo manifest = read_manifest(lib);
  if (manifest.kernel_name != cfg.name) {
    fail(ErrorKind::kVerification, lib.string(), ": manifest kernel_name '", manifest.kernel_name,
         "' differs from build.toml name '", cfg.name, "'");
  }
  if (manifest.backend != backend) {
    fail(ErrorKind::kVerification, lib.string(), ": manifest backend '", manifest.backend,
         "' but it was built for ", backend);
  }

  loader::VariantMetadata md;
  md.name = cfg.name;
  md.id = out.id;
  md.version = cfg.version;
  md.license = cfg.license;
  loader::backend_kind_parse(backend, &md.backend);
  md.archs = archs;
  md.library = lib_name;
  md.digest = loader::compute_variant_digest(stage.path());
  md.provenance.builder = "khub " KHUB_VERSION;
  md.provenance.commit = prov.commit;
  md.provenance.dirty = prov.dirty;
  md.source_digest = source_digest;
  md.repo_id = cfg.repo_id;
  md.manifest = loader::manifest_to_json(manifest);
  write_text(stage.path() / "metadata.json", loader::metadata_to_json(md).dump(2) + "\n");

  // Swap the finished variant into place.
  fs::path old = b.out / (".old-" + out.variant + "-" + suffix);
  if (fs::exists(out.dir, ec)) fs::rename(out.dir, old, ec);
  if (ec)
    fail(ErrorKind::kIo, "cannot move the previous ", out.dir.string(), " aside: ", ec.message());
  fs::rename(stage.path(), out.dir, ec);
  if (ec)
    fail(ErrorKind::kIo, "cannot move the new build into ", out.dir.string(), ": ", ec.message());
  stage.release();
  fs::remove_all(old, ec);
  return out;
}

}  // namespace

fs::path khub_include_dir() {
  if (std::optional<std::string> d = env::get("KHUB_INCLUDE_DIR")) return *d;
  std::error_code ec;
#ifdef KHUB_SOURCE_INCLUDE_DIR
  if (fs::exists(fs::path(KHUB_SOURCE_INCLUDE_DIR) / "khub" / "kernel_abi.h", ec)) {
    return KHUB_SOURCE_INCLUDE_DIR;
  }
#endif
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    fs::path inc = (exe.parent_path() / ".." / "include").lexically_normal();
    if (fs::exists(inc / "khub" / "kernel_abi.h", ec)) return inc;
  }
  fail(ErrorKind::kNotFound, "cannot find khub/kernel_abi.h (set KHUB_INCLUDE_DIR)");
}

BuildResult build_kernel(const fs::path& project, const BuildOptions& options) {
  BuildConfig cfg = parse_build_toml(project);
  BuildResult result;
  result.name = cfg.name;
  result.repo_id = cfg.repo_id;
  std::vector<std::string> backends = options.backends.empty() ? cfg.backends : options.backends;
  for (const auto& be : backends) {
    if (std::find(cfg.backends.begin(), cfg.backends.end(), be) == cfg.backends.end()) {
      fail(ErrorKind::kInvalidArgument, "backend '", be, "' is not in ",
           (project / "build.toml").string(), " general.backends");
    }
  }
  bool want_cuda = std::count(backends.begin(), backends.end(), "cuda") > 0;
  Toolchain tc = detect_toolchain(want_cuda);
  if (want_cuda && tc.nvcc.empty()) {
    if (!options.backends.empty()) {
      fail(ErrorKind::kNotFound,
           "backend cuda was requested but nvcc is not installed (set NVCC or PATH)");
    }
    result.notes.push_back("cuda: skipped, nvcc not found");
    backends.erase(std::remove(backends.begin(), backends.end(), "cuda"), backends.end());
  }
  for (const auto& d : options.defines) {
    if (d.empty() || d[0] == '=' || d.find_first_of(" \t\n") != std::string::npos) {
      fail(ErrorKind::kInvalidArgument, "define '", d,
           "' must be NAME or NAME=VALUE without spaces");
    }
  }
  // Compilers run inside the project folder, so every output path must be absolute.
  fs::path out =
      fs::absolute(options.out.empty() ? project / "build" : options.out).lexically_normal();
  std::error_code ec;
  fs::create_directories(out, ec);
  if (ec) fail(ErrorKind::kIo, out.string(), ": ", ec.message());
  unsigned hw = std::thread::hardware_concurrency();
  BackendBuild b{cfg,
                 options,
                 tc,
                 out,
                 khub_include_dir(),
                 options.jobs > 0 ? options.jobs : static_cast<int>(hw ? hw : 2)};
  std::vector<std::string> files = project_files(project, out);
  // Inputs outside the project (shared code reached with "..") feed the source digest too.
  std::set<std::string> inputs(files.begin(), files.end());
  auto outside = [](const std::string& p) {
    std::string n = fs::path(p).lexically_normal().generic_string();
    return n == ".." || n.rfind("../", 0) == 0 ? n : std::string();
  };
  for (const SourceGroup& g : cfg.kernels) {
    for (const std::string& src : g.src) {
      if (std::string n = outside(src); !n.empty()) inputs.insert(n);
    }
    for (const std::string& inc : g.include) {
      std::string n = outside(inc);
      if (n.empty()) continue;
      std::error_code ec;
      fs::recursive_directory_iterator it(project / n, fs::directory_options::none, ec), end;
      for (; !ec && it != end; it.increment(ec)) {
        std::string fname = it->path().filename().string();
        if (fname.rfind(".", 0) == 0) {
          if (it->is_directory()) it.disable_recursion_pending();
          continue;
        }
        if (it->is_regular_file()) {
          inputs.insert(n + "/" + it->path().lexically_relative(project / n).generic_string());
        }
      }
    }
  }
  files.assign(inputs.begin(), inputs.end());
  for (const auto& be : backends) {
    result.variants.push_back(build_backend(b, be, files, &result.notes));
  }
  return result;
}

}  // namespace khub::builder
