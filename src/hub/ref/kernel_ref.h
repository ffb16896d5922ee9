// Kernel references (docs/design.md §3): `org/repo[@REV][:name]`.
//
//   org/repo  a Hub repo id: letters, digits, '-', '_', '.'; no "--" or ".."; not starting or
//             ending with '-' or '.'; at most 96 characters each
//   REV       v2.1.0             a tag (exact version; `2.1.0` too)
//             >=2.0,<3.0 ^2.1 ~2.1.3 ==2.1.0 !=2.0.1 <=2 >2.0 ~=2.1 ==2.*
//                                a semver constraint over the repo's version tags (semver.h)
//             v2                 the major-version branch v2 (what `version=2` means)
//             main, dev/x        a branch (or, failing that, a tag) by name
//             <40 hex digits>    a revision (commit) id
//             (absent)           the highest vN branch, else main
//   name      a layer or function of the kernel: letters, digits, '_', '.'
#pragma once

#include <string>
#include <string_view>

namespace khub::hub {

enum class RevKind {
  kDefault,     // no @REV
  kVersion,     // v2.1.0: the tag of exactly that version
  kConstraint,  // >=2.0,<3.0 ...
  kMajor,       // v2
  kName,        // a branch or tag name
  kCommit,      // 40 hex digits
};
std::string_view rev_kind_name(RevKind kind);

struct KernelRef {
  std::string org;
  std::string repo;
  RevKind rev_kind = RevKind::kDefault;
  std::string rev;   // as written ("" for kDefault); lower-cased for kCommit
  std::string name;  // "" when absent

  std::string repo_id() const { return org + "/" + repo; }
  std::string str() const;  // canonical text form
};

// Parses a reference. Errors are Error(kInvalidArgument) naming the offending character and its
// position, followed by the grammar.
KernelRef parse_kernel_ref(std::string_view text);

// The grammar as shown in errors and `khub --help` texts.
const char* kernel_ref_grammar();

// Validators shared with the hub sources (repo names from directories and env variables).
// Return "" when valid, else what is wrong.
std::string check_repo_component(std::string_view part, std::string_view what);
std::string check_ref_name(std::string_view name);  // a branch or tag name

}  // namespace khub::hub
