#include "builder/build_toml.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>

#include <toml++/toml.h>

#include "core/error.h"
#include "core/toml_ascii.h"
#include "hub/ref/kernel_ref.h"
#include "loader/device_arch.h"
#include "loader/metadata.h"
#include "loader/safe_path.h"

namespace khub::builder {
namespace {

struct Ctx {
  std::string file;
  [[noreturn]] void bad(const toml::node* node, const std::string& what) const {
    std::string at;
    if (node && node->source().begin) at = ":" + std::to_string(node->source().begin.line);
    fail(ErrorKind::kFormat, file, at, ": ", what);
  }
};

void check_keys(const Ctx& c, const toml::table& t, const std::string& section,
                const std::set<std::string>& allowed) {
  for (const auto& [k, v] : t) {
    std::string key(k.str());
    if (allowed.count(key)) continue;
    std::string list;
    for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
    std::string hint;
    if (key == "torch" || key == "tvm-ffi" || key == "torch-noarch") {
      hint = " ([" + key + "] belongs to HF kernel-builder; khub builds khub-ABI libraries)";
    }
    c.bad(&v, "unknown key '" + key + "' in " + section + hint + " (allowed: " + list + ")");
  }
}

std::string get_str(const Ctx& c, const toml::table& t, const char* key, const std::string& section,
                    bool required) {
  const toml::node* n = t.get(key);
  if (!n) {
    if (required) c.bad(&t, std::string("missing ") + section + "." + key + " (a string)");
    return "";
  }
  if (!n->is_string()) c.bad(n, section + "." + key + " must be a string");
  return n->as_string()->get();
}

std::vector<std::string> get_str_list(const Ctx& c, const toml::table& t, const char* key,
                                      const std::string& section, bool required) {
  const toml::node* n = t.get(key);
  std::vector<std::string> out;
  if (!n) {
    if (required) c.bad(&t, std::string("missing ") + section + "." + key + " (a list of strings)");
    return out;
  }
  const toml::array* a = n->as_array();
  if (!a) c.bad(n, section + "." + key + " must be a list of strings");
  for (const toml::node& e : *a) {
    if (!e.is_string()) c.bad(&e, section + "." + key + " must be a list of strings");
    out.push_back(e.as_string()->get());
  }
  return out;
}

// Paths in build.toml are relative to the project. They may climb out of it with ".." (shared
// code beside the project, e.g. kernels/common) but may not be absolute: an absolute path would
// tie the build, and its digests, to one machine.
void check_build_path(const Ctx& c, const toml::node* n, const std::string& what,
                      const std::string& path) {
  std::string why;
  if (path.empty())
    why = "empty path";
  else if (path.front() == '/')
    why = "absolute path";
  for (char ch : path) {
    unsigned char u = static_cast<unsigned char>(ch);
    if (ch == '\\' || u < 0x20 || u == 0x7f) why = "backslash or control character";
  }
  if (why.empty() && path.find("//") != std::string::npos) why = "empty path component";
  if (!why.empty())
    c.bad(n, what + " \"" + path + "\" must be a path relative to the project (" + why + ")");
}

// The first key of `names` present in t (aliases: HF's kebab-case and the short forms).
const char* pick(const toml::table& t, std::initializer_list<const char*> names) {
  for (const char* n : names) {
    if (t.get(n)) return n;
  }
  return *names.begin();
}

void parse_group(const Ctx& c, const toml::table& t, const std::string& section, SourceGroup* g,
                 const BuildConfig& cfg) {
  std::string& backend = g->backend;
  if (std::find(cfg.backends.begin(), cfg.backends.end(), backend) == cfg.backends.end()) {
    c.bad(t.get("backend") ? t.get("backend") : &t,
          section + " has backend '" + backend + "', which general.backends does not list");
  }
  g->src = get_str_list(c, t, "src", section, true);
  if (g->src.empty()) c.bad(t.get("src"), section + ".src is empty");
  for (const std::string& s : g->src) {
    check_build_path(c, t.get("src"), section + ".src", s);
    std::string ext = std::filesystem::path(s).extension().string();
    bool ok = ext == ".cc" || ext == ".cpp" || ext == ".cxx" || ext == ".c" ||
              (backend == "cuda" && ext == ".cu") || ext == ".h" || ext == ".hpp" || ext == ".cuh";
    if (!ok) {
      c.bad(t.get("src"),
            section + ".src \"" + s + "\": unsupported file type for backend " + backend);
    }
  }
  g->include = get_str_list(c, t, "include", section, false);
  for (const std::string& s : g->include)
    check_build_path(c, t.get("include"), section + ".include", s);
  g->cxx_flags = get_str_list(c, t, pick(t, {"cxx-flags", "cxxflags"}), section, false);
  g->cuda_flags = get_str_list(c, t, pick(t, {"cuda-flags", "cudaflags"}), section, false);
  g->ld_flags = get_str_list(c, t, pick(t, {"ld-flags", "ldflags"}), section, false);
  g->cuda_capabilities = get_str_list(c, t, "cuda-capabilities", section, false);
  if (backend != "cuda" && (!g->cuda_flags.empty() || !g->cuda_capabilities.empty())) {
    c.bad(&t, section + " sets cuda-flags/cuda-capabilities but its backend is " + backend);
  }
  for (const std::string& cap : g->cuda_capabilities) {
    std::string why = loader::check_arch_string(loader::BackendKind::kCuda, cap);
    if (!why.empty()) c.bad(t.get("cuda-capabilities"), section + ".cuda-capabilities: " + why);
  }
}

void check_repo_id(const Ctx& c, const toml::node* n, const std::string& key,
                   const std::string& repo_id) {
  size_t slash = repo_id.find('/');
  std::string why = slash == std::string::npos
                        ? "must be org/repo"
                        : hub::check_repo_component(repo_id.substr(0, slash), "the org");
  if (why.empty()) why = hub::check_repo_component(repo_id.substr(slash + 1), "the repo");
  if (!why.empty()) c.bad(n, key + " '" + repo_id + "': " + why);
}

// Tables of `parent` in file order (toml++ iterates by key; the order is the link order).
std::vector<std::pair<std::string, const toml::node*>> in_file_order(const toml::table& parent) {
  std::vector<std::pair<std::string, const toml::node*>> out;
  for (const auto& [k, node] : parent) out.emplace_back(std::string(k.str()), &node);
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return a.second->source().begin.line < b.second->source().begin.line;
  });
  return out;
}

}  // namespace

const std::vector<std::string>& default_cuda_capabilities() {
  static const std::vector<std::string> kDefault = {"8.0", "8.9", "9.0a", "9.0+PTX"};
  return kDefault;
}

std::vector<const SourceGroup*> BuildConfig::groups_for(const std::string& backend) const {
  std::vector<const SourceGroup*> out;
  for (const SourceGroup& g : kernels) {
    if (g.backend == backend) out.push_back(&g);
  }
  return out;
}

BuildConfig parse_build_toml_text(const std::string& text, const std::filesystem::path& project) {
  Ctx c{(project / "build.toml").string()};
  const std::string ascii = toml_ascii(text, c.file);
  toml::table root;
  try {
    root = toml::parse(ascii, c.file);
  } catch (const toml::parse_error& e) {
    fail(ErrorKind::kFormat, c.file, ":", e.source().begin.line, ":", e.source().begin.column, ": ",
         e.description());
  }
  check_keys(c, root, "build.toml", {"general", "kernel", "backend"});
  BuildConfig cfg;
  cfg.project = project;
  const toml::table* general = root["general"].as_table();
  if (!general) c.bad(&root, "missing [general] section");
  check_keys(c, *general, "[general]",
             {"name", "version", "license", "backends", "hub", "repo-id", "edition"});
  cfg.name = get_str(c, *general, "name", "general", true);
  if (!loader::is_valid_kernel_name(cfg.name)) {
    c.bad(general->get("name"),
          "general.name '" + cfg.name + "' must match ^[a-z][-a-z0-9]*[a-z0-9]$");
  }
  const toml::node* v = general->get("version");
  if (!v || !v->is_integer() || v->as_integer()->get() < 0 || v->as_integer()->get() > 100000) {
    c.bad(v ? v : general, "general.version must be a non-negative integer (the major version)");
  }
  cfg.version = static_cast<int>(v->as_integer()->get());
  cfg.license = get_str(c, *general, "license", "general", true);
  cfg.backends = get_str_list(c, *general, "backends", "general", true);
  if (cfg.backends.empty()) c.bad(general->get("backends"), "general.backends is empty");
  for (const std::string& b : cfg.backends) {
    if (b != "cpu" && b != "cuda") {
      c.bad(general->get("backends"),
            "backend '" + b + "' cannot be built here (khub build supports cpu and cuda)");
    }
  }
  cfg.repo_id = get_str(c, *general, "repo-id", "general", false);
  if (!cfg.repo_id.empty())
    check_repo_id(c, general->get("repo-id"), "general.repo-id", cfg.repo_id);
  if (const toml::node* h = general->get("hub")) {
    const toml::table* hub = h->as_table();
    if (!hub) c.bad(h, "general.hub must be a table");
    check_keys(c, *hub, "[general.hub]", {"repo-id"});
    if (!cfg.repo_id.empty() && hub->get("repo-id")) {
      c.bad(h, "repo-id is given twice (general.repo-id and general.hub.repo-id)");
    }
    if (hub->get("repo-id")) {
      cfg.repo_id = get_str(c, *hub, "repo-id", "general.hub", false);
      check_repo_id(c, h, "general.hub.repo-id", cfg.repo_id);
    }
  }

  const std::set<std::string> group_keys = {"src",      "include",    "cxx-flags",
                                            "cxxflags", "cuda-flags", "cudaflags",
                                            "ld-flags", "ldflags",    "cuda-capabilities"};
  // [kernel.<name>]: source groups naming their backend (HF's shape).
  if (const toml::table* kernels = root["kernel"].as_table()) {
    for (const auto& [k, nodep] : in_file_order(*kernels)) {
      const toml::table* t = nodep->as_table();
      std::string section = "[kernel." + k + "]";
      if (!t) c.bad(nodep, section + " must be a table");
      std::set<std::string> keys = group_keys;
      keys.insert("backend");
      check_keys(c, *t, section, keys);
      SourceGroup g;
      g.name = k;
      g.backend = get_str(c, *t, "backend", section, true);
      parse_group(c, *t, section, &g, cfg);
      cfg.kernels.push_back(std::move(g));
    }
  }
  // [backend.<backend>]: one source group per backend.
  if (const toml::table* backends = root["backend"].as_table()) {
    for (const auto& [k, nodep] : in_file_order(*backends)) {
      const toml::table* t = nodep->as_table();
      std::string section = "[backend." + k + "]";
      if (!t) c.bad(nodep, section + " must be a table");
      check_keys(c, *t, section, group_keys);
      SourceGroup g;
      g.name = k;
      g.backend = k;
      parse_group(c, *t, section, &g, cfg);
      cfg.kernels.push_back(std::move(g));
    }
  }
  if (cfg.kernels.empty()) {
    c.bad(&root, "no source groups: add [kernel.<name>] (with backend = ...) or [backend.<name>]");
  }
  for (const std::string& b : cfg.backends) {
    if (cfg.groups_for(b).empty()) {
      c.bad(general->get("backends"), "backend '" + b + "' has no source group ([backend." + b +
                                          "] or [kernel.<name>] with backend = \"" + b + "\")");
    }
  }
  return cfg;
}

BuildConfig parse_build_toml(const std::filesystem::path& project) {
  std::filesystem::path file = project / "build.toml";
  std::ifstream in(file, std::ios::binary);
  if (!in) fail(ErrorKind::kNotFound, file.string(), ": no build.toml (is this a kernel project?)");
  std::ostringstream os;
  os << in.rdbuf();
  return parse_build_toml_text(os.str(), project);
}

}  // namespace khub::builder
