// khub lock [kernels.toml | pyproject.toml | DIR] [--output kernels.lock] [--json]
// Resolves every kernel the project lists (format in hub/http/lockfile.h) on the hub at
// HF_ENDPOINT and writes kernels.lock (HF's format plus khub's digests) next to the list.
#include <cstdio>

#include "cli/args.h"
#include "cli/commands.h"
#include "core/error.h"
#include "hub/http/lockfile.h"
#include "hub/ref/kernel_ref.h"
#include "hub/ref/version_resolve.h"

namespace khub::cli {

namespace {

// A kernels.toml spec resolved with the hub's resolver (every form of docs/design.md §3): an
// integer N is the major-version branch vN, anything else is a REV of the kernel reference grammar.
std::string resolve_spec(const std::string& repo_id, const hub::net::RefList& refs,
                         const std::string& spec) {
  bool major = !spec.empty() && spec.find_first_not_of("0123456789") == std::string::npos;
  std::string text = repo_id + (spec.empty() ? "" : "@" + (major ? "v" + spec : spec));
  hub::KernelRef ref = hub::parse_kernel_ref(text);
  hub::RefList maps;
  for (const auto& b : refs.branches) maps.branches[b.name] = b.commit;
  for (const auto& t : refs.tags) maps.tags[t.name] = t.commit;
  hub::Resolution r = hub::resolve_revision(ref, maps, [&](const std::string& rev) {
    for (const auto* list : {&refs.branches, &refs.tags}) {
      for (const auto& g : *list) {
        if (g.commit == rev) return true;
      }
    }
    return false;
  });
  return r.ref.empty() ? r.revision : r.ref;
}

}  // namespace

int cmd_lock(const Args& args) {
  using namespace khub::hub::net;
  if (args.positionals().size() > 1) {
    fail(ErrorKind::kInvalidArgument, "usage: khub lock [kernels.toml|pyproject.toml|DIR]");
  }
  fs::path input = args.positionals().empty() ? fs::path(".") : fs::path(args.positionals()[0]);
  if (fs::is_directory(input)) {
    if (fs::exists(input / "kernels.toml")) {
      input /= "kernels.toml";
    } else if (fs::exists(input / "pyproject.toml")) {
      input /= "pyproject.toml";
    } else {
      fail(ErrorKind::kNotFound, "no kernels.toml or pyproject.toml in ", input.string());
    }
  }
  fs::path output = args.get_or("output", (input.parent_path() / "kernels.lock").string());
  HubConfig config = HubConfig::from_env();
  if (args.has("endpoint")) config.endpoint = args.get("endpoint");
  std::vector<KernelLock> locks;
  for (const auto& dep : read_kernel_list(input)) {
    RemoteRepo repo(config, dep.repo);
    locks.push_back(lock_kernel(repo, dep, [&](const RefList& refs, const std::string& spec) {
      return resolve_spec(dep.repo.id, refs, spec);
    }));
    const auto& l = locks.back();
    if (!args.has("json")) {
      std::printf("%s %s -> %s (%zu variants)\n", l.repo.id.c_str(),
                  l.requested.empty() ? "(default)" : l.requested.c_str(), l.sha.c_str(),
                  l.variants.size());
    }
  }
  write_lockfile(output, locks);
  if (args.has("json")) {
    std::printf("%s", lockfile_json(locks).c_str());
  } else {
    std::printf("wrote %s\n", output.c_str());
  }
  return 0;
}

const CommandSpec& lock_spec() {
  static const CommandSpec s{
      .name = "lock",
      .summary = "resolve the project's kernels.toml into kernels.lock",
      .synopsis = "[kernels.toml|pyproject.toml|DIR] [--output FILE] [--json]",
      .positionals = {{"PROJECT", "kernels.toml, pyproject.toml or their directory (default .)",
                       true}},
      .options = {opt("output", OptType::kPath, "FILE", "the lockfile to write")
                      .default_doc("kernels.lock next to the project file")
                      .eg("kernels.lock"),
                  opt("endpoint", OptType::kText, "URL", "the hub")
                      .default_doc("$HF_ENDPOINT or https://huggingface.co")
                      .eg("http://127.0.0.1:8080"),
                  flag("json", "print the locked kernels as JSON")},
      .run = cmd_lock};
  return s;
}

}  // namespace khub::cli
