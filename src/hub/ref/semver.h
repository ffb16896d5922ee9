// Versions of kernel tags and the constraints a KernelRef may put on them (docs/design.md §3).
//
// Tags `vX.Y.Z` (or `X.Y.Z`, optionally `-prerelease`) are semantic versions. Constraints are a
// comma-separated conjunction:
//   >=2.0  >2.0  <=2.0  <3  ==2.1.0  !=2.0.1   PEP 440 style: missing components are zero
//                                             (`<=2.0` is `<=2.0.0`), as HF's original
//                                             specifier-over-tags feature did
//   ==2.1.*  !=2.1.*                          prefix match
//   ~=2.1  (>=2.1,<3)   ~=2.1.3  (>=2.1.3,<2.2) PEP 440 compatible release
//   ^2.1   (>=2.1.0,<3.0.0)  ^0.2.3 (>=0.2.3,<0.3.0)   caret, npm/Cargo style
//   ~2.1.3 (>=2.1.3,<2.2.0)  ~2 (>=2.0.0,<3.0.0)       tilde, npm/Cargo style
// Pre-release tags match only when a clause names a pre-release itself.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace khub::hub {

struct SemVer {
  int major = 0;
  int minor = 0;
  int patch = 0;
  std::vector<std::string> pre;  // "rc.1" -> {"rc", "1"}

  bool is_prerelease() const { return !pre.empty(); }
  std::string str() const;  // "2.1.0-rc.1"
  // Semantic-versioning precedence (build metadata is not kept).
  friend bool operator<(const SemVer& a, const SemVer& b);
  friend bool operator==(const SemVer& a, const SemVer& b);
};

// Parses "v2.1.0", "2.1.0", "v2.1.0-rc.1", "2.1.0+build". Partial "2.1" / "2" only when
// `allow_partial` (then *components says how many were given).
std::optional<SemVer> parse_semver(std::string_view text, bool allow_partial = false,
                                   int* components = nullptr);

class VersionConstraint {
 public:
  // Throws Error(kInvalidArgument) naming the offending character/clause.
  static VersionConstraint parse(std::string_view text);
  bool matches(const SemVer& v) const;
  const std::string& text() const { return text_; }

  enum class Op { kGe, kGt, kLe, kLt, kEq, kNe, kPrefixEq, kPrefixNe };
  struct Clause {
    Op op;
    SemVer version;
    int prefix = 3;  // components compared by kPrefixEq/kPrefixNe
  };
  const std::vector<Clause>& clauses() const { return clauses_; }

 private:
  std::string text_;
  std::vector<Clause> clauses_;
  bool allows_prerelease_ = false;
};

// Whether REV text looks like a constraint (starts with an operator: > < = ! ^ ~).
bool looks_like_constraint(std::string_view rev);

}  // namespace khub::hub
