// khub build <kernel dir> [--out DIR] [--backend cpu|cuda] [--define A=1,B] [--force] [--jobs N]
//            [--json]
#include <cstdio>

#include <nlohmann/json.hpp>

#include "builder/kernel_builder.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/progress.h"
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

int cmd_build(const Args& args) {
  if (args.positionals().size() != 1) {
    std::fprintf(stderr,
                 "usage: khub build <kernel dir> [--out DIR] [--backend cpu|cuda] [--define "
                 "A=1,B=2] [--force] [--jobs N] [--json]\n"
                 "  compiles the project's build.toml into <out>/khub<ABI>-<backend>-<cpu>-<os>/ "
                 "(default out: <kernel dir>/build)\n");
    return 2;
  }
  builder::BuildOptions o;
  o.out = args.get_or("out", "");
  o.backends = split_commas(args.get_or("backend", ""));
  o.defines = split_commas(args.get_or("define", ""));
  o.force = args.has("force");
  o.jobs = static_cast<int>(args.get_int("jobs"));
  ProgressLine progress(progress_enabled(args));
  if (progress.enabled()) {
    o.on_progress = [&](const std::string& backend, const std::string& step, size_t done,
                        size_t total) {
      progress.show("build " + backend + ": " + std::to_string(done) + "/" + std::to_string(total) +
                        " compiled (" + step + ")",
                    done == total);
    };
  }
  builder::BuildResult r = builder::build_kernel(args.positionals()[0], o);
  progress.end();
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

const CommandSpec& build_spec() {
  static const CommandSpec s{
      .name = "build",
      .summary = "compile a kernel project (build.toml) into variant folders",
      .synopsis =
          "DIR [--out DIR] [--backend cpu|cuda] [--define A=1,B] [--force] [--jobs N] [--json]",
      .details = "Compiles DIR/build.toml into OUT/khub<ABI>-<backend>-<cpu>-<os>/.",
      .positionals = {{"DIR", "the kernel project (holds build.toml)"}},
      .options = {opt("out", OptType::kPath, "DIR", "where the variant folders go")
                      .default_doc("DIR/build")
                      .eg("/tmp/rmsnorm-build"),
                  opt("backend", OptType::kList, "B[,B]", "build only these backends")
                      .default_doc("every backend build.toml lists that this machine can build")
                      .eg("cpu"),
                  opt("define", OptType::kList, "A=1,B", "preprocessor definitions for the kernel")
                      .eg("KHUB_FAST=1"),
                  flag("force", "rebuild variants that are up to date"),
                  opt("jobs", OptType::kInt, "N", "parallel compile jobs (0: one per core)")
                      .with_default("0")
                      .eg("4"),
                  flag("json", "print the built variants as JSON")},
      .run = cmd_build};
  return s;
}

}  // namespace khub::cli
