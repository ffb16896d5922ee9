// khub download REF [--device cpu|cuda[:N]] [--variant V[,V...] | --all-variants] [--json]
// khub download --lock FILE [--variant V[,V...]] [--json]
// Pre-fetches kernels into the cache (KERNELS_CACHE / HF_HUB_CACHE / $HF_HOME/hub) from the hub
// at HF_ENDPOINT, verified, so that later loads need no network. REF is the full grammar of
// docs/design.md §3 (org/name[@REV][:name]: tags, semver constraints, vN branches, branches,
// commits). By default only the variant selected for the device is fetched (with the selection
// trace on failure); --variant names variants, --all-variants takes them all. With --lock, every
// kernel of a kernels.lock is fetched at its locked commit and checked against the lock.
#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/kernel_cli.h"
#include "core/error.h"
#include "hub/get_kernel.h"
#include "hub/http/http_source.h"
#include "hub/http/lockfile.h"
#include "hub/http/snapshot.h"
#include "hub/ref/kernel_ref.h"
#include "hub/ref/repo_names.h"

namespace khub::cli {
namespace {

using namespace khub::hub::net;

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

}  // namespace

int cmd_download(const Args& args) {
  HubConfig config = HubConfig::from_env();
  if (args.has("endpoint")) config.endpoint = args.get("endpoint");
  bool as_json = args.has("json");
  std::vector<std::string> variants = split_list(args.get_or("variant", ""));
  nlohmann::json report = nlohmann::json::array();

  if (args.has("lock")) {
    if (!args.positionals().empty()) {
      fail(ErrorKind::kInvalidArgument, "give either REF or --lock FILE, not both");
    }
    auto locks = read_lockfile(args.get("lock"));
    for (const auto& lock : locks) {
      std::vector<std::string> chosen;
      for (const auto& v : variants) {
        if (lock.variants.count(v)) chosen.push_back(v);
      }
      if (!variants.empty() && chosen.empty()) continue;
      fs::path dir = fetch_locked(config, lock, chosen);
      nlohmann::json entry = {{"repo", lock.repo.id}, {"commit", lock.sha}, {"path", dir.string()}};
      entry["variants"] = chosen.empty() ? nlohmann::json::array() : nlohmann::json(chosen);
      if (chosen.empty()) {
        for (const auto& [n, v] : lock.variants) entry["variants"].push_back(n);
      }
      report.push_back(entry);
      if (!as_json) {
        std::printf("%s@%s -> %s (locked, verified)\n", lock.repo.id.c_str(), lock.sha.c_str(),
                    dir.c_str());
      }
    }
  } else {
    if (args.positionals().size() != 1) {
      fail(ErrorKind::kInvalidArgument,
           "usage: khub download org/name[@REV] [--variant V] | --lock kernels.lock");
    }
    hub::KernelRef kref = hub::parse_kernel_ref(args.positionals()[0]);
    RepoType type = parse_repo_type(args.get("repo-type"));
    // Only the HTTP hub: downloading is about filling the cache, not about local hubs.
    auto http = std::make_shared<HttpHubSource>(config);
    auto sources = std::make_shared<hub::HubSources>();
    sources->add(http);
    std::string commit, resolved_ref;
    std::vector<std::string> chosen = variants;
    if (type == RepoType::kKernel) {
      hub::HubSources::Resolved res = sources->resolve(kref);
      commit = res.resolution.revision;
      resolved_ref = res.resolution.ref;
      if (!res.resolution.how.empty() && !as_json) {
        std::fprintf(stderr, "%s: %s\n", kref.str().c_str(), res.resolution.how.c_str());
      }
      if (chosen.empty() && !args.has("all-variants")) {
        hub::KernelOptions opts = options_for_device(args.get("device"));
        opts.sources = sources;
        hub::KernelLookup look = hub::lookup_kernel(kref.str(), opts, false);
        const auto* pick = look.selection.chosen();
        if (!pick) {
          fail(ErrorKind::kNotFound, "no variant of ", kref.repo_id(), "@", commit,
               " fits this machine (", look.selection.system.describe(), "):\n",
               look.selection.trace());
        }
        chosen = {pick->name};
      }
    } else {
      RemoteRepo r(config, RepoRef{type, kref.repo_id()});
      std::string rev = kref.rev;
      if (!is_commit_hash(rev)) rev = default_revision_resolver(r.list_refs(), rev);
      commit = r.resolve_commit(rev);
      if (rev != commit) resolved_ref = rev;
    }
    RemoteRepo repo(config, RepoRef{type, kref.repo_id()});
    SnapshotRequest req;
    req.revision = commit;
    for (const auto& v : chosen) req.allow_prefixes.push_back("build/" + v);
    SnapshotResult snap = snapshot_download(repo, req);
    if (!resolved_ref.empty() && is_safe_ref_name(resolved_ref) && !config.offline) {
      // refs/<branch or tag>, as huggingface_hub records it: offline lookups read it back.
      repo.cache().write_ref(repo.repo(), resolved_ref, commit);
    }
    report.push_back({{"repo", repo.repo().id},
                      {"revision", kref.rev},
                      {"ref", resolved_ref},
                      {"commit", snap.commit},
                      {"path", snap.dir.string()},
                      {"variants", chosen},
                      {"files", snap.files.size()},
                      {"downloaded", snap.downloaded},
                      {"bytes_downloaded", snap.bytes_downloaded}});
    if (!as_json) {
      std::printf("%s@%s -> %s (%zu files, %d downloaded)\n", repo.repo().id.c_str(),
                  snap.commit.c_str(), snap.dir.c_str(), snap.files.size(), snap.downloaded);
    }
  }
  if (as_json) std::printf("%s\n", report.dump(2).c_str());
  return 0;
}

const CommandSpec& download_spec() {
  static const CommandSpec s{
      .name = "download",
      .summary = "pre-fetch kernels (REF or --lock FILE) into the cache",
      .synopsis = "REF [--variant V[,V]|--all-variants] | --lock FILE  [--json]",
      .details =
          "REF: org/name[@REV][:layer] (docs/design.md §3). The cache: KERNELS_CACHE, "
          "HF_HUB_CACHE or $HF_HOME/hub; the hub: HF_ENDPOINT.",
      .positionals = {{"REF", "the kernel (or, with --repo-type, model/dataset) to fetch", true}},
      .options = {opt("variant", OptType::kList, "V[,V]", "fetch these variants")
                      .default_doc("the variant selected for --device")
                      .eg("khub1-cpu-x86_64-linux"),
                  flag("all-variants", "fetch every variant of the revision"),
                  opt("lock", OptType::kPath, "FILE", "fetch every kernel of a kernels.lock")
                      .eg("kernels.lock"),
                  opt("endpoint", OptType::kText, "URL", "the hub")
                      .default_doc("$HF_ENDPOINT or https://huggingface.co")
                      .eg("http://127.0.0.1:8080"),
                  opt("repo-type", OptType::kChoice, "TYPE", "what REF names")
                      .with_default("kernel")
                      .one_of({"kernel", "model", "dataset"})
                      .eg("model"),
                  opt("device", OptType::kText, "DEV", "the device the variant is selected for")
                      .with_default("cpu")
                      .eg("cuda"),
                  flag("json", "print what was fetched as JSON")},
      .run = cmd_download};
  return s;
}

}  // namespace khub::cli
