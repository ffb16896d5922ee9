// khub build <kernel dir> [--out DIR] [--backend cpu|cuda] [--define A=1,B] [--force] [--jobs N]
//            [--json]
#include <cstdio>

#include <nlohmann/json.hpp>

#include "builder/kernel_builder.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "core/error.h"

namespace khub::cli {

namespace {
std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t c = s.find(',', start);
    std::string item = s.substr(start, c == std::string::npos ? std::string::npos : c - start);
    if (!item.empty()) out.push_back(item);
    if (c == std::string::npos) break;
    start = c + 1;
  }
  return out;
}
}  // namespace

int cmd_build(int argc, char** argv) {
  Args args(argc, argv, {"json", "force", "help"});
  args.reject_unknown({"out", "backend", "define", "force", "jobs", "json", "help"});
  if (args.has("help") || args.positionals().size() != 1) {
    std::fprintf(stderr,
                 "usage: khub build <kernel dir> [--out DIR] [--backend cpu|cuda] [--define "
                 "A=1,B=2] [--force] [--jobs N] [--json]\n"
                 "  compiles the project's build.toml into <out>/khub<ABI>-<backend>-<cpu>-<os>/ "
                 "(default out: <kernel dir>/build)\n");
    return args.has("help") ? 0 : 2;
  }
  builder::BuildOptions o;
  o.out = args.get_or("out", "");
  o.backends = split_commas(args.get_or("backend", ""));
  o.defines = split_commas(args.get_or("define", ""));
  o.force = args.has("force");
  o.jobs = static_cast<int>(args.get_int_or("jobs", 0));
  builder::BuildResult r = builder::build_kernel(args.positionals()[0], o);
  if (args.has("json")) {
    nlohmann::json j;
    j["name"] = r.name;
    j["repo-id"] = r.repo_id.empty() ? "khub-community/" + r.name : r.repo_id;
    j["variants"] = nlohmann::json::array();
    for (const auto& v : r.variants) {
      j["variants"].push_back({{"variant", v.variant},
                               {"dir", v.dir.string()},
                               {"id", v.id},
                               {"backend", v.backend},
                               {"archs", v.archs},
                               {"up-to-date", v.up_to_date}});
    }
    j["notes"] = r.notes;
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  for (const auto& n : r.notes) std::printf("note: %s\n", n.c_str());
  for (const auto& v : r.variants) {
    std::string archs;
    for (const auto& a : v.archs) archs += (archs.empty() ? " archs " : ",") + a;
    std::printf("%-10s %s  %s (id %s%s)\n", v.up_to_date ? "up-to-date" : "built",
                v.variant.c_str(), v.dir.string().c_str(), v.id.c_str(), archs.c_str());
  }
  return 0;
}

}  // namespace khub::cli
