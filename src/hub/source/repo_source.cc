#include "hub/source/repo_source.h"

#include <set>

#include "core/error.h"

namespace khub::hub {

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

std::string RepoSource::current_revision(const std::string& repo_id) {
  fail(ErrorKind::kUnsupported, description(), " is versioned: resolve a revision of ", repo_id);
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
      r.revision = src->current_revision(ref.repo_id());
      r.how = "local folder from " + src->description() + " (revision: its content address)";
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
