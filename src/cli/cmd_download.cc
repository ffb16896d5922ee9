// khub download REF [--variant V[,V...]] [--all-variants] [--json]
// khub download --lock FILE [--variant V[,V...]] [--json]
// Pre-fetches kernels into the cache (KERNELS_CACHE / HF_HUB_CACHE / $HF_HOME/hub) from the hub
// at HF_ENDPOINT, verified, so that later loads need no network. REF is org/name[@REV][:layer];
// REV is a major version branch (v1), a tag, a branch or a commit; without REV the highest vN
// branch, else main. With --lock, every kernel of a kernels.lock is fetched at its locked commit
// and checked against the lock.
#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/args.h"
#include "cli/commands.h"
#include "core/error.h"
#include "hub/net/lockfile.h"
#include "hub/net/repo_names.h"
#include "hub/net/snapshot.h"

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

int cmd_download(int argc, char** argv) {
  Args args(argc, argv, {"json", "all-variants"});
  args.reject_unknown({"json", "all-variants", "variant", "lock", "endpoint", "repo-type"});
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
    std::string ref = args.positionals()[0];
    if (auto colon = ref.find(':'); colon != std::string::npos) ref = ref.substr(0, colon);
    std::string rev;
    if (auto at = ref.find('@'); at != std::string::npos) {
      rev = ref.substr(at + 1);
      ref = ref.substr(0, at);
    }
    RepoType type = parse_repo_type(args.get_or("repo-type", "kernel"));
    RemoteRepo repo(config, RepoRef::parse(ref, type));
    if (!is_commit_hash(rev)) rev = default_revision_resolver(repo.list_refs(), rev);
    SnapshotRequest req;
    req.revision = rev;
    if (!args.has("all-variants")) {
      if (variants.empty()) {
        std::fprintf(
            stderr, "khub download: no --variant given: fetching every variant (--all-variants)\n");
      }
      for (const auto& v : variants) req.allow_prefixes.push_back("build/" + v);
    }
    SnapshotResult snap = snapshot_download(repo, req);
    report.push_back({{"repo", repo.repo().id},
                      {"revision", rev},
                      {"commit", snap.commit},
                      {"path", snap.dir.string()},
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

}  // namespace khub::cli
