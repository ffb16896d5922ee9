#include "hub/ref/version_resolve.h"

#include <algorithm>

#include "core/error.h"

namespace khub::hub {
namespace {

bool major_branch_number(const std::string& name, int* n) {
  if (name.size() < 2 || name[0] != 'v') return false;
  int comps = 0;
  auto v = parse_semver(name, true, &comps);
  if (!v || comps != 1 || name.find_first_of("-+") != std::string::npos) return false;
  *n = v->major;
  return true;
}

std::string join(const std::vector<std::string>& items) {
  std::string s;
  for (const std::string& i : items) s += (s.empty() ? "" : ", ") + i;
  return s.empty() ? "none" : s;
}

}  // namespace

std::vector<std::pair<int, std::string>> major_branches(const RefList& refs) {
  std::vector<std::pair<int, std::string>> out;
  for (const auto& [name, rev] : refs.branches) {
    int n = 0;
    if (major_branch_number(name, &n)) out.emplace_back(n, name);
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  return out;
}

std::vector<std::pair<SemVer, std::string>> version_tags(const RefList& refs) {
  std::vector<std::pair<SemVer, std::string>> out;
  for (const auto& [name, rev] : refs.tags) {
    if (auto v = parse_semver(name, false)) out.emplace_back(*v, name);
  }
  // Highest first; equal versions ("v1.0.0" and "1.0.0") by name for a total order.
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    if (a.first == b.first) return a.second < b.second;
    return b.first < a.first;
  });
  return out;
}

std::string describe_refs(const RefList& refs) {
  std::vector<std::string> majors, others, tags;
  for (const auto& [n, name] : major_branches(refs)) majors.push_back(name);
  for (const auto& [name, rev] : refs.branches) {
    if (std::find(majors.begin(), majors.end(), name) == majors.end()) others.push_back(name);
  }
  for (const auto& [v, name] : version_tags(refs)) tags.push_back(name);
  for (const auto& [name, rev] : refs.tags) {
    if (!parse_semver(name, false)) tags.push_back(name);
  }
  return "version branches: " + join(majors) + "; other branches: " + join(others) +
         "; tags: " + join(tags);
}

Resolution resolve_revision(const KernelRef& ref, const RefList& refs,
                            const std::function<bool(const std::string&)>& revision_exists) {
  const std::string repo = ref.repo_id();
  auto not_found = [&](const std::string& what) {
    fail(ErrorKind::kNotFound, repo, ": ", what, " (", describe_refs(refs), ")");
  };
  Resolution r;
  auto majors = major_branches(refs);
  switch (ref.rev_kind) {
    case RevKind::kDefault: {
      if (!majors.empty()) {
        r.ref = majors.front().second;
        r.how = "branch " + r.ref + " (the highest version branch; no revision was given)";
      } else if (refs.branches.count("main")) {
        r.ref = "main";
        r.how = "branch main (no version branches; no revision was given)";
      } else {
        not_found("no version branch and no main branch to default to");
      }
      r.revision = refs.branches.at(r.ref);
      break;
    }
    case RevKind::kMajor: {
      auto it = refs.branches.find(ref.rev);
      if (it == refs.branches.end()) {
        std::vector<std::string> names;
        for (const auto& [n, name] : majors) names.push_back(name);
        not_found("no version branch " + ref.rev + " (versions: " + join(names) + ")");
      }
      r.ref = ref.rev;
      r.revision = it->second;
      r.how = "branch " + ref.rev;
      int n = 0;
      major_branch_number(ref.rev, &n);
      if (!majors.empty() && majors.front().first > n) {
        r.notes.push_back("a newer major version " + majors.front().second + " exists");
      }
      break;
    }
    case RevKind::kVersion: {
      SemVer want = *parse_semver(ref.rev, false);
      // The tag as written first, then any tag naming the same version ("2.1.0" vs "v2.1.0").
      auto it = refs.tags.find(ref.rev);
      if (it == refs.tags.end()) {
        for (const auto& [v, name] : version_tags(refs)) {
          if (v == want) {
            it = refs.tags.find(name);
            break;
          }
        }
      }
      if (it == refs.tags.end()) not_found("no tag " + ref.rev);
      r.ref = it->first;
      r.revision = it->second;
      r.how = "tag " + it->first;
      break;
    }
    case RevKind::kConstraint: {
      VersionConstraint c = VersionConstraint::parse(ref.rev);
      auto tags = version_tags(refs);
      std::vector<std::string> matching;
      for (const auto& [v, name] : tags) {
        if (c.matches(v)) matching.push_back(name);
      }
      if (matching.empty()) not_found("no version tag matches " + ref.rev);
      r.ref = matching.front();
      r.revision = refs.tags.at(r.ref);
      r.how = "tag " + r.ref + " (highest of " + std::to_string(matching.size()) +
              " version tags matching " + ref.rev + ")";
      break;
    }
    case RevKind::kName: {
      if (auto b = refs.branches.find(ref.rev); b != refs.branches.end()) {
        r.ref = ref.rev;
        r.revision = b->second;
        r.how = "branch " + ref.rev;
      } else if (auto t = refs.tags.find(ref.rev); t != refs.tags.end()) {
        r.ref = ref.rev;
        r.revision = t->second;
        r.how = "tag " + ref.rev;
      } else {
        not_found("no branch or tag named " + ref.rev);
      }
      break;
    }
    case RevKind::kCommit: {
      if (!revision_exists(ref.rev)) not_found("no revision " + ref.rev);
      r.revision = ref.rev;
      r.how = "revision " + ref.rev;
      break;
    }
  }
  return r;
}

}  // namespace khub::hub
