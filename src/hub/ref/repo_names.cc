#include "hub/ref/repo_names.h"

#include <algorithm>

#include "core/error.h"
#include "hub/ref/hex.h"

namespace khub::hub::net {
namespace {

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

bool is_valid_name_part(std::string_view p) {
  if (p.empty() || p.size() > 96 || p == "." || p == "..") return false;
  if (!std::all_of(p.begin(), p.end(), is_name_char)) return false;
  return p.front() != '.' && p.front() != '-' && p.back() != '.';
}

// Printable escape of hostile input for error messages (NULs and control characters shown).
std::string printable(std::string_view s) {
  std::string out;
  for (unsigned char c : s.substr(0, 200)) {
    if (c < 0x20 || c == 0x7f) {
      static const char* d = "0123456789abcdef";
      out += "\\x";
      out += d[c >> 4];
      out += d[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (s.size() > 200) out += "...";
  return out;
}

const char* path_problem(std::string_view path) {
  if (path.empty()) return "it is empty";
  if (path.size() > 4096) return "it is longer than 4096 bytes";
  if (path.front() == '/') return "it is absolute";
  for (unsigned char c : path) {
    if (c < 0x20 || c == 0x7f) return "it contains a control character";
    if (c == '\\') return "it contains a backslash";
  }
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    std::string_view seg = path.substr(start, end - start);
    if (seg.empty()) return "it has an empty segment";
    if (seg == "." || seg == "..") return "it has a '.' or '..' segment";
    if (seg.size() > 255) return "a segment is longer than 255 bytes";
    start = end + 1;
  }
  return nullptr;
}

}  // namespace

bool is_valid_repo_id(std::string_view repo_id) {
  size_t slash = repo_id.find('/');
  if (slash == std::string_view::npos || repo_id.find('/', slash + 1) != std::string_view::npos) {
    return false;
  }
  return is_valid_name_part(repo_id.substr(0, slash)) &&
         is_valid_name_part(repo_id.substr(slash + 1));
}

void check_repo_id(std::string_view repo_id) {
  if (!is_valid_repo_id(repo_id)) {
    fail(ErrorKind::kInvalidArgument, "'", printable(repo_id),
         "' is not a repository id (expected org/name, each part of letters, digits, '.', '_', "
         "'-', starting with a letter or digit)");
  }
}

bool is_safe_repo_path(std::string_view path) { return path_problem(path) == nullptr; }

void check_repo_path(std::string_view path, std::string_view what) {
  if (const char* why = path_problem(path)) {
    fail(ErrorKind::kFormat, "unsafe file path '", printable(path), "' in ", what, ": ", why);
  }
}

bool is_safe_ref_name(std::string_view name) {
  if (path_problem(name)) return false;
  if (name.size() >= 5 && name.substr(name.size() - 5) == ".lock") return false;
  for (char c : name) {
    if (c == ' ' || c == '~' || c == '^' || c == ':' || c == '?' || c == '*' || c == '[') {
      return false;
    }
  }
  return name.find("..") == std::string_view::npos;
}

void check_ref_name(std::string_view name, std::string_view what) {
  if (!is_safe_ref_name(name)) {
    fail(ErrorKind::kFormat, "'", printable(name), "' in ", what, " is not a valid ref name");
  }
}

bool is_safe_revision_id(std::string_view rev) {
  if (rev.empty() || rev.size() > 128 || rev == "." || rev == "..") return false;
  return std::all_of(rev.begin(), rev.end(), is_name_char) && rev.front() != '.';
}

void check_revision_id(std::string_view rev, std::string_view what) {
  if (!is_safe_revision_id(rev)) {
    fail(ErrorKind::kFormat, "'", printable(rev), "' in ", what, " is not a revision id");
  }
}

bool is_commit_hash(std::string_view rev) {
  return rev.size() == 40 && std::all_of(rev.begin(), rev.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

namespace {
std::string encode(std::string_view s, bool keep_slash) {
  static const char* d = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    bool unreserved = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '.' || c == '_' || c == '~' || (keep_slash && c == '/');
    if (unreserved) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += d[c >> 4];
      out += d[c & 15];
    }
  }
  return out;
}
}  // namespace

std::string url_encode_segment(std::string_view s) { return encode(s, false); }
std::string url_encode_path(std::string_view s) { return encode(s, true); }

bool url_decode(std::string_view s, std::string& out) {
  out.clear();
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    if (i + 2 >= s.size() || !is_hex(s.substr(i + 1, 2), 2)) return false;
    out += from_hex(s.substr(i + 1, 2));
    i += 2;
  }
  return true;
}

}  // namespace khub::hub::net
