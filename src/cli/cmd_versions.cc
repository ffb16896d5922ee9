// khub versions REF [--json]: one line per version (vN branches, version tags, other branches and
// tags): the ref, its revision, and each variant with whether it fits this machine.
#include <cstdio>
#include <map>

#include <nlohmann/json.hpp>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/kernel_cli.h"
#include "core/error.h"
#include "hub/get_kernel.h"
#include "loader/metadata.h"

namespace khub::cli {
namespace {

struct VariantFit {
  std::string name;
  bool fits = false;
  std::string how;  // "cpu" / "cuda" when it fits, else the reason
};

std::vector<VariantFit> fits_for(hub::RepoSource& src, const std::string& repo,
                                 const std::string& rev,
                                 const std::vector<loader::SystemInfo>& systems) {
  std::vector<std::string> variants = src.list_variants(repo, rev);
  std::vector<loader::Selection> sels;
  for (const auto& sys : systems) {
    sels.push_back(loader::select_variant(variants, sys, [&](const std::string& v) {
      return loader::parse_metadata(
          src.read_file(repo, rev, "build/" + v + "/metadata.json"),
          repo + "@" + rev.substr(0, 12) + ":build/" + v + "/metadata.json");
    }));
  }
  std::vector<VariantFit> out;
  for (const std::string& v : variants) {
    VariantFit f{v, false, ""};
    std::string reason;
    for (const auto& sel : sels) {
      for (const auto& d : sel.decisions) {
        if (d.name != v) continue;
        if (d.accepted) {
          f.fits = true;
          f.how += (f.how.empty() ? "" : ",") + std::string(device_type_name(sel.system.device));
        } else if (d.reason != loader::RejectReason::kBackendFamily || reason.empty()) {
          if (d.reason != loader::RejectReason::kBackendFamily)
            reason = d.detail;
          else if (reason.empty())
            reason = "no " +
                     (d.parsed ? std::string(loader::backend_kind_name(d.parsed->backend.kind))
                               : "matching") +
                     " device on this machine";
        }
      }
    }
    if (!f.fits) f.how = reason;
    out.push_back(f);
  }
  return out;
}

}  // namespace

int cmd_versions(const Args& args) {
  if (args.positionals().size() != 1) {
    std::fprintf(stderr, "usage: khub versions org/repo [--json]\n");
    return 2;
  }
  hub::KernelRef ref = hub::parse_kernel_ref(args.positionals()[0]);
  hub::HubSources sources = hub::HubSources::from_environment();
  auto src = sources.find_repo(ref.repo_id());
  if (!src) {
    std::string list;
    for (const auto& s : sources.sources()) list += "\n  " + s->description();
    fail(ErrorKind::kNotFound, "no source has ", ref.repo_id(),
         "; searched:", list.empty() ? " (no sources)" : list);
  }
  auto systems = machine_systems();
  struct Line {
    std::string name, kind, revision;
  };
  std::vector<Line> lines;
  if (!src->versioned()) {
    lines.push_back({"local", "folder", "local"});
  } else {
    hub::RefList refs = src->list_refs(ref.repo_id());
    std::map<std::string, bool> shown;
    for (const auto& [n, name] : hub::major_branches(refs)) {
      lines.push_back({name, "branch", refs.branches.at(name)});
      shown["b:" + name] = true;
    }
    for (const auto& [v, name] : hub::version_tags(refs)) {
      lines.push_back({name, "tag", refs.tags.at(name)});
      shown["t:" + name] = true;
    }
    for (const auto& [name, rev] : refs.branches) {
      if (!shown.count("b:" + name)) lines.push_back({name, "branch", rev});
    }
    for (const auto& [name, rev] : refs.tags) {
      if (!shown.count("t:" + name)) lines.push_back({name, "tag", rev});
    }
  }
  std::map<std::string, std::vector<VariantFit>> by_rev;
  for (const Line& l : lines) {
    if (!by_rev.count(l.revision))
      by_rev[l.revision] = fits_for(*src, ref.repo_id(), l.revision, systems);
  }
  if (args.has("json")) {
    nlohmann::json j;
    j["repo"] = ref.repo_id();
    j["source"] = src->description();
    j["versions"] = nlohmann::json::array();
    for (const Line& l : lines) {
      nlohmann::json vs = nlohmann::json::array();
      for (const auto& f : by_rev[l.revision]) {
        vs.push_back({{"name", f.name}, {"fits", f.fits}, {"detail", f.how}});
      }
      j["versions"].push_back(
          {{"ref", l.name}, {"kind", l.kind}, {"revision", l.revision}, {"variants", vs}});
    }
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  std::printf("%s (%s)\n", ref.repo_id().c_str(), src->description().c_str());
  size_t w = 4;
  for (const Line& l : lines) w = std::max(w, l.name.size());
  for (const Line& l : lines) {
    std::string vs;
    for (const auto& f : by_rev[l.revision]) {
      vs += (vs.empty() ? "" : "; ") + f.name +
            (f.fits ? " [fits " + f.how + "]" : " [no: " + f.how + "]");
    }
    std::printf("  %-*s  %-6s  %s  %s\n", static_cast<int>(w), l.name.c_str(), l.kind.c_str(),
                l.revision.c_str(), vs.empty() ? "(no variants)" : vs.c_str());
  }
  return 0;
}

const CommandSpec& versions_spec() {
  static const CommandSpec s{.name = "versions",
                             .summary = "list a kernel repo's versions and which variants fit here",
                             .synopsis = "REF [--json]",
                             .positionals = {{"REF", "org/name"}},
                             .options = {flag("json", "print the versions as JSON")},
                             .run = cmd_versions};
  return s;
}

}  // namespace khub::cli
