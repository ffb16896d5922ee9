#include "hub/ref/semver.h"

#include <cctype>

#include "core/error.h"

namespace khub::hub {
namespace {

bool parse_number(std::string_view s, size_t* pos, int* out) {
  size_t start = *pos;
  long v = 0;
  while (*pos < s.size() && std::isdigit(static_cast<unsigned char>(s[*pos]))) {
    v = v * 10 + (s[*pos] - '0');
    if (v > 1000000000) return false;
    ++*pos;
  }
  if (*pos == start) return false;
  if (*pos - start > 1 && s[start] == '0') return false;  // no leading zeros
  *out = static_cast<int>(v);
  return true;
}

bool is_numeric(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

std::string grammar() {
  return "constraints are comma-separated clauses: >=X.Y, >X.Y, <=X.Y, <X.Y, ==X.Y.Z, !=X.Y.Z, "
         "==X.Y.*, ~=X.Y, ^X.Y, ~X.Y.Z";
}

}  // namespace

std::string SemVer::str() const {
  std::string s = std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch);
  for (size_t i = 0; i < pre.size(); ++i) s += (i == 0 ? "-" : ".") + pre[i];
  return s;
}

bool operator==(const SemVer& a, const SemVer& b) {
  return a.major == b.major && a.minor == b.minor && a.patch == b.patch && a.pre == b.pre;
}

bool operator<(const SemVer& a, const SemVer& b) {
  if (a.major != b.major) return a.major < b.major;
  if (a.minor != b.minor) return a.minor < b.minor;
  if (a.patch != b.patch) return a.patch < b.patch;
  if (a.pre.empty() != b.pre.empty()) return !a.pre.empty();  // a pre-release sorts first
  for (size_t i = 0; i < a.pre.size() && i < b.pre.size(); ++i) {
    const std::string& x = a.pre[i];
    const std::string& y = b.pre[i];
    if (x == y) continue;
    bool xn = is_numeric(x), yn = is_numeric(y);
    if (xn && yn) return x.size() != y.size() ? x.size() < y.size() : x < y;
    if (xn != yn) return xn;  // numeric identifiers sort before alphanumeric ones
    return x < y;
  }
  return a.pre.size() < b.pre.size();
}

std::optional<SemVer> parse_semver(std::string_view text, bool allow_partial, int* components) {
  size_t pos = 0;
  if (!text.empty() && text[0] == 'v') pos = 1;
  SemVer v;
  int n = 0;
  int* parts[3] = {&v.major, &v.minor, &v.patch};
  while (n < 3) {
    if (!parse_number(text, &pos, parts[n])) return std::nullopt;
    ++n;
    if (pos < text.size() && text[pos] == '.' && n < 3) {
      ++pos;
      continue;
    }
    break;
  }
  if (n < 3 && !allow_partial) return std::nullopt;
  if (pos < text.size() && text[pos] == '-') {
    if (n < 3) return std::nullopt;
    ++pos;
    size_t start = pos;
    while (pos < text.size() && text[pos] != '+') {
      char c = text[pos];
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-') return std::nullopt;
      ++pos;
    }
    std::string_view pre = text.substr(start, pos - start);
    size_t s = 0;
    while (true) {
      size_t dot = pre.find('.', s);
      std::string id(
          pre.substr(s, dot == std::string_view::npos ? std::string_view::npos : dot - s));
      if (id.empty()) return std::nullopt;
      v.pre.push_back(id);
      if (dot == std::string_view::npos) break;
      s = dot + 1;
    }
  }
  if (pos < text.size() && text[pos] == '+') {
    ++pos;
    if (pos == text.size()) return std::nullopt;
    for (; pos < text.size(); ++pos) {
      char c = text[pos];
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-') return std::nullopt;
    }
  }
  if (pos != text.size()) return std::nullopt;
  if (components) *components = n;
  return v;
}

bool looks_like_constraint(std::string_view rev) {
  return !rev.empty() && std::string_view("><=!^~").find(rev[0]) != std::string_view::npos;
}

VersionConstraint VersionConstraint::parse(std::string_view text) {
  VersionConstraint c;
  c.text_ = std::string(text);
  if (text.empty()) fail(ErrorKind::kInvalidArgument, "empty version constraint; ", grammar());
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    std::string_view raw = text.substr(
        start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    size_t offset = start;
    // Spaces around clauses are allowed: ">= 2.0, < 3".
    while (!raw.empty() && raw.front() == ' ') raw.remove_prefix(1), ++offset;
    while (!raw.empty() && raw.back() == ' ') raw.remove_suffix(1);
    if (raw.empty()) {
      fail(ErrorKind::kInvalidArgument, "empty clause at position ", offset, " in constraint '",
           text, "'; ", grammar());
    }
    static const std::pair<std::string_view, int> kOps[] = {
        {">=", 0}, {"<=", 1}, {"==", 2}, {"!=", 3}, {"~=", 4},
        {">", 5},  {"<", 6},  {"=", 2},  {"^", 7},  {"~", 8}};
    int op = -1;
    size_t oplen = 0;
    for (const auto& [s, id] : kOps) {
      if (raw.substr(0, s.size()) == s) {
        op = id;
        oplen = s.size();
        break;
      }
    }
    if (op < 0) {
      fail(ErrorKind::kInvalidArgument, "constraint '", text, "': character '", raw[0],
           "' at position ", offset, " does not start an operator; ", grammar());
    }
    std::string_view ver = raw.substr(oplen);
    while (!ver.empty() && ver.front() == ' ') ver.remove_prefix(1);
    bool wildcard = false;
    if (ver.size() >= 2 && ver.substr(ver.size() - 2) == ".*") {
      if (op != 2 && op != 3) {
        fail(ErrorKind::kInvalidArgument, "constraint '", text,
             "': the wildcard '.*' is only allowed after == and !=");
      }
      wildcard = true;
      ver.remove_suffix(2);
    }
    int comps = 0;
    auto v = parse_semver(ver, true, &comps);
    if (!v) {
      size_t bad = 0;
      while (bad < ver.size() && (std::isdigit(static_cast<unsigned char>(ver[bad])) ||
                                  ver[bad] == '.' || (bad == 0 && ver[bad] == 'v'))) {
        ++bad;
      }
      std::string where =
          bad < ver.size() ? std::string("character '") + ver[bad] + "'" : std::string("the end");
      fail(ErrorKind::kInvalidArgument, "constraint '", text, "': '", ver, "' is not a version (",
           where, " is unexpected); versions look like 2, 2.1 or 2.1.0");
    }
    if (v->is_prerelease()) c.allows_prerelease_ = true;
    SemVer lo = *v, hi = *v;
    auto clause = [&](Op o, const SemVer& x, int prefix = 3) {
      c.clauses_.push_back({o, x, prefix});
    };
    switch (op) {
      case 0:
        clause(Op::kGe, lo);
        break;
      case 1:
        clause(Op::kLe, lo);
        break;
      case 5:
        clause(Op::kGt, lo);
        break;
      case 6:
        clause(Op::kLt, lo);
        break;
      case 2:
        if (wildcard)
          clause(Op::kPrefixEq, lo, comps);
        else
          clause(Op::kEq, lo);
        break;
      case 3:
        if (wildcard)
          clause(Op::kPrefixNe, lo, comps);
        else
          clause(Op::kNe, lo);
        break;
      case 4:  // ~=X.Y -> >=X.Y,<X+1 ; ~=X.Y.Z -> >=X.Y.Z,<X.Y+1
        if (comps < 2) {
          fail(ErrorKind::kInvalidArgument, "constraint '", text, "': ~= needs at least X.Y");
        }
        hi = SemVer{comps == 2 ? lo.major + 1 : lo.major, comps == 2 ? 0 : lo.minor + 1, 0, {}};
        clause(Op::kGe, lo);
        clause(Op::kLt, hi);
        break;
      case 7:  // caret: the leftmost non-zero component given stays fixed
        if (lo.major > 0 || comps == 1)
          hi = SemVer{lo.major + 1, 0, 0, {}};
        else if (lo.minor > 0 || comps == 2)
          hi = SemVer{0, lo.minor + 1, 0, {}};
        else
          hi = SemVer{0, 0, lo.patch + 1, {}};
        clause(Op::kGe, lo);
        clause(Op::kLt, hi);
        break;
      case 8:  // tilde: patch-level changes when a minor is given, else minor-level
        hi = comps == 1 ? SemVer{lo.major + 1, 0, 0, {}} : SemVer{lo.major, lo.minor + 1, 0, {}};
        clause(Op::kGe, lo);
        clause(Op::kLt, hi);
        break;
    }
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return c;
}

bool VersionConstraint::matches(const SemVer& v) const {
  if (v.is_prerelease() && !allows_prerelease_) return false;
  for (const Clause& c : clauses_) {
    bool ok = true;
    auto prefix_eq = [&] {
      if (v.major != c.version.major) return false;
      if (c.prefix >= 2 && v.minor != c.version.minor) return false;
      if (c.prefix >= 3 && v.patch != c.version.patch) return false;
      return true;
    };
    switch (c.op) {
      case Op::kGe:
        ok = !(v < c.version);
        break;
      case Op::kGt:
        ok = c.version < v;
        break;
      case Op::kLe:
        ok = !(c.version < v);
        break;
      case Op::kLt:
        ok = v < c.version;
        break;
      case Op::kEq:
        ok = v == c.version;
        break;
      case Op::kNe:
        ok = !(v == c.version);
        break;
      case Op::kPrefixEq:
        ok = prefix_eq();
        break;
      case Op::kPrefixNe:
        ok = !prefix_eq();
        break;
    }
    if (!ok) return false;
  }
  return true;
}

}  // namespace khub::hub
