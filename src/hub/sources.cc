#include "hub/sources.h"

#include <unistd.h>

#include <cstdlib>
#include <mutex>
#include <set>

#include "core/env.h"
#include "core/error.h"
#include "hub/local_hub.h"
#include "hub/local_kernels.h"

namespace khub::hub {
namespace fs = std::filesystem;

namespace {

std::mutex& providers_mu() {
  static std::mutex mu;
  return mu;
}
std::vector<SourceProvider>& providers() {
  static std::vector<SourceProvider> p;
  return p;
}

fs::path executable_dir() {
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return {};
  return exe.parent_path();
}

}  // namespace

std::vector<std::string> RepoSource::list_variants(const std::string& repo_id,
                                                   const std::string& revision) {
  std::set<std::string> names;
  for (const TreeEntry& e : list_files(repo_id, revision)) {
    if (e.path.rfind("build/", 0) != 0) continue;
    size_t slash = e.path.find('/', 6);
    if (slash == std::string::npos) continue;  // a file directly under build/
    names.insert(e.path.substr(6, slash - 6));
  }
  return {names.begin(), names.end()};
}

void register_source_provider(SourceProvider provider) {
  std::lock_guard<std::mutex> lock(providers_mu());
  providers().push_back(std::move(provider));
}

std::vector<fs::path> bundled_hub_candidates() {
  fs::path dir = executable_dir();
  if (dir.empty()) return {};
  return {(dir / ".." / "hub").lexically_normal(),
          (dir / ".." / "share" / "khub" / "hub").lexically_normal()};
}

std::vector<fs::path> hub_search_path() {
  std::vector<fs::path> out;
  if (std::optional<std::string> env = env::raw("KHUB_HUB_PATH")) {
    const std::string& s = *env;
    size_t start = 0;
    while (start <= s.size()) {
      size_t colon = s.find(':', start);
      std::string item =
          s.substr(start, colon == std::string::npos ? std::string::npos : colon - start);
      if (!item.empty()) out.emplace_back(item);
      if (colon == std::string::npos) break;
      start = colon + 1;
    }
    return out;
  }
  for (const fs::path& p : bundled_hub_candidates()) {
    std::error_code ec;
    if (fs::is_directory(p, ec)) out.push_back(p);
  }
  return out;
}

HubSources HubSources::from_environment() {
  HubSources s;
  if (std::optional<std::string> lk = env::get("LOCAL_KERNELS")) {
    s.add(std::make_shared<LocalKernelsSource>(LocalKernelsSource::parse(*lk)));
  }
  for (const fs::path& dir : hub_search_path()) s.add(std::make_shared<LocalHubSource>(dir));
  std::vector<SourceProvider> ps;
  {
    std::lock_guard<std::mutex> lock(providers_mu());
    ps = providers();
  }
  for (const SourceProvider& p : ps) p(s);
  return s;
}

std::shared_ptr<RepoSource> HubSources::find_repo(const std::string& repo_id) const {
  for (const auto& src : sources_) {
    if (src->has_repo(repo_id)) return src;
  }
  return nullptr;
}

HubSources::Resolved HubSources::resolve(const KernelRef& ref) const {
  std::string tried;
  for (const auto& src : sources_) {
    if (!src->has_repo(ref.repo_id())) {
      tried += "\n  " + src->description() + ": no repo " + ref.repo_id();
      continue;
    }
    if (!src->versioned()) {
      Resolution r;
      r.revision = "local";
      r.how = "local folder from " + src->description();
      if (ref.rev_kind != RevKind::kDefault) {
        r.notes.push_back("@" + ref.rev + " ignored: " + src->description() +
                          " overrides this repo with a local folder");
      }
      return {src, r};
    }
    try {
      RefList refs = src->list_refs(ref.repo_id());
      Resolution r = resolve_revision(
          ref, refs, [&](const std::string& rev) { return src->has_revision(ref.repo_id(), rev); });
      return {src, r};
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::kNotFound) throw;
      tried += "\n  " + src->description() + ": " + e.what();
    }
  }
  if (sources_.empty()) {
    fail(ErrorKind::kNotFound, "cannot resolve ", ref.str(),
         ": no kernel sources (LOCAL_KERNELS unset, KHUB_HUB_PATH names no hub and no bundled hub "
         "was found next to the executable)");
  }
  fail(ErrorKind::kNotFound, "cannot resolve ", ref.str(), ":", tried);
}

}  // namespace khub::hub
