#include "hub/ref/kernel_ref.h"

#include <cctype>

#include "core/error.h"
#include "hub/ref/semver.h"

namespace khub::hub {
namespace {

[[noreturn]] void ref_error(std::string_view text, size_t pos, const std::string& what) {
  std::string shown;
  if (pos < text.size()) {
    unsigned char c = static_cast<unsigned char>(text[pos]);
    shown =
        c < 0x20 || c >= 0x7f ? "byte 0x" + std::to_string(c) : std::string("'") + text[pos] + "'";
    shown = "character " + shown + " at position " + std::to_string(pos) + ": ";
  }
  fail(ErrorKind::kInvalidArgument, "invalid kernel reference '", text, "': ", shown, what, "\n",
       kernel_ref_grammar());
}

bool is_hex40(std::string_view s) {
  if (s.size() != 40) return false;
  for (char c : s) {
    if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

bool repo_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
}

// Index of the first bad character of a repo component, or npos.
size_t bad_repo_char(std::string_view part) {
  for (size_t i = 0; i < part.size(); ++i) {
    if (!repo_char(part[i])) return i;
  }
  return std::string_view::npos;
}

}  // namespace

const char* kernel_ref_grammar() {
  return "  grammar: org/repo[@REV][:name]\n"
         "    org, repo  letters, digits, '-', '_', '.' (e.g. khub-community/rmsnorm)\n"
         "    REV        v2.1.0 (tag) | >=2.0,<3.0  ^2.1  ~2.1.3  ==2.1.0 (semver over tags) |\n"
         "               v2 (major branch) | main (branch or tag name) | 40 hex digits (revision)\n"
         "    name       a layer or function, e.g. RMSNorm";
}

std::string_view rev_kind_name(RevKind kind) {
  switch (kind) {
    case RevKind::kDefault:
      return "default";
    case RevKind::kVersion:
      return "version";
    case RevKind::kConstraint:
      return "constraint";
    case RevKind::kMajor:
      return "major";
    case RevKind::kName:
      return "name";
    case RevKind::kCommit:
      return "commit";
  }
  return "?";
}

std::string check_repo_component(std::string_view part, std::string_view what) {
  std::string w(what);
  if (part.empty()) return "empty " + w;
  if (part.size() > 96) return w + " longer than 96 characters";
  size_t bad = bad_repo_char(part);
  if (bad != std::string_view::npos) {
    return std::string("character '") + part[bad] + "' is not allowed in " + w;
  }
  if (part.front() == '-' || part.front() == '.' || part.back() == '-' || part.back() == '.') {
    return w + " may not start or end with '-' or '.'";
  }
  if (part.find("--") != std::string_view::npos || part.find("..") != std::string_view::npos) {
    return w + " may not contain \"--\" or \"..\"";
  }
  return "";
}

std::string check_ref_name(std::string_view name) {
  if (name.empty()) return "empty name";
  if (name.size() > 200) return "name longer than 200 characters";
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.' &&
        c != '/') {
      return std::string("character '") + c + "' is not allowed in a branch or tag name";
    }
  }
  if (name.front() == '-' || name.front() == '/' || name.front() == '.' || name.back() == '/' ||
      name.back() == '.') {
    return "a branch or tag name may not start with '-', '/' or '.', nor end with '/' or '.'";
  }
  if (name.find("..") != std::string_view::npos || name.find("//") != std::string_view::npos ||
      name.find("/.") != std::string_view::npos) {
    return "a branch or tag name may not contain \"..\", \"//\" or \"/.\"";
  }
  if (name.size() >= 5 && name.substr(name.size() - 5) == ".lock") {
    return "a branch or tag name may not end with \".lock\"";
  }
  return "";
}

std::string KernelRef::str() const {
  std::string s = repo_id();
  if (rev_kind != RevKind::kDefault) s += "@" + rev;
  if (!name.empty()) s += ":" + name;
  return s;
}

KernelRef parse_kernel_ref(std::string_view text) {
  if (text.empty()) ref_error(text, std::string_view::npos, "empty reference");
  KernelRef ref;
  size_t slash = text.find('/');
  if (slash == std::string_view::npos) {
    ref_error(text, std::string_view::npos, "missing '/' between org and repo");
  }
  // org
  std::string_view org = text.substr(0, slash);
  if (size_t b = bad_repo_char(org); b != std::string_view::npos) {
    ref_error(text, b, "not allowed in an org name");
  }
  if (std::string why = check_repo_component(org, "the org name"); !why.empty()) {
    ref_error(text, std::string_view::npos, why);
  }
  ref.org = std::string(org);
  // repo: up to '@' or ':'
  size_t i = slash + 1;
  size_t repo_end = i;
  while (repo_end < text.size() && text[repo_end] != '@' && text[repo_end] != ':') {
    if (!repo_char(text[repo_end])) {
      ref_error(
          text, repo_end,
          text[repo_end] == '/' ? "a repo id has exactly one '/'" : "not allowed in a repo name");
    }
    ++repo_end;
  }
  std::string_view repo = text.substr(i, repo_end - i);
  if (std::string why = check_repo_component(repo, "the repo name"); !why.empty()) {
    ref_error(text, std::string_view::npos, why);
  }
  ref.repo = std::string(repo);
  i = repo_end;
  // @REV: up to the last ':' (revisions never contain ':').
  if (i < text.size() && text[i] == '@') {
    size_t colon = text.find(':', i + 1);
    std::string_view rev = text.substr(
        i + 1, colon == std::string_view::npos ? std::string_view::npos : colon - i - 1);
    if (rev.empty()) ref_error(text, i, "'@' must be followed by a revision");
    ref.rev = std::string(rev);
    int comps = 0;
    if (is_hex40(rev)) {
      ref.rev_kind = RevKind::kCommit;
      for (char& c : ref.rev) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    } else if (looks_like_constraint(rev)) {
      try {
        VersionConstraint::parse(rev);
      } catch (const Error& e) {
        ref_error(text, std::string_view::npos, e.what());
      }
      ref.rev_kind = RevKind::kConstraint;
    } else if (parse_semver(rev, false)) {
      ref.rev_kind = RevKind::kVersion;
    } else if (rev.size() >= 2 && rev[0] == 'v' && parse_semver(rev, true, &comps) && comps == 1 &&
               rev.find('-') == std::string_view::npos && rev.find('+') == std::string_view::npos) {
      ref.rev_kind = RevKind::kMajor;
    } else {
      for (size_t k = 0; k < rev.size(); ++k) {
        char c = rev[k];
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.' &&
            c != '/') {
          ref_error(text, i + 1 + k, "not allowed in a branch or tag name");
        }
      }
      if (std::string why = check_ref_name(rev); !why.empty()) {
        ref_error(text, std::string_view::npos, why);
      }
      ref.rev_kind = RevKind::kName;
    }
    i = colon == std::string_view::npos ? text.size() : colon;
  }
  // :name
  if (i < text.size()) {
    // text[i] == ':'
    std::string_view name = text.substr(i + 1);
    if (name.empty()) ref_error(text, i, "':' must be followed by a layer or function name");
    for (size_t k = 0; k < name.size(); ++k) {
      char c = name[k];
      bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.';
      if (!ok || (k == 0 && std::isdigit(static_cast<unsigned char>(c)))) {
        ref_error(text, i + 1 + k, "not allowed in a layer or function name");
      }
    }
    ref.name = std::string(name);
  }
  return ref;
}

}  // namespace khub::hub
