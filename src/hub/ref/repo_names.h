// Validation of every name that comes from a hub (or a user) and ends up in a path or a URL:
// repository ids, ref names, revision ids and repository-relative file paths. A hub is untrusted
// input: a tree listing that names "../x", "/etc/passwd" or "a\0b" must be refused before anything
// touches the disk.
#pragma once

#include <string>
#include <string_view>

namespace khub::hub::net {

// "org/name": each part [A-Za-z0-9][A-Za-z0-9._-]*, at most 96 characters, not ending in ".", and
// neither part "." or "..". Throws kInvalidArgument naming the offending id.
void check_repo_id(std::string_view repo_id);
bool is_valid_repo_id(std::string_view repo_id);

// A path inside a repository, '/'-separated: non-empty, relative, no empty, "." or ".." segment,
// no backslash, no control character (NUL included), at most 4096 bytes. `what` names the source
// for the error message (e.g. "the tree listing of org/repo@abc").
void check_repo_path(std::string_view path, std::string_view what);
bool is_safe_repo_path(std::string_view path);

// A git ref name as used on the Hub (branches, tags, "refs/pr/1"): like a repo path but also
// without "~^:?*[" and spaces, and never ending in ".lock".
void check_ref_name(std::string_view name, std::string_view what);
bool is_safe_ref_name(std::string_view name);

// A revision id (commit): 7 to 64 lowercase hex digits, or a safe single path segment
// [A-Za-z0-9._-]+ of at most 128 characters for hubs that use other id forms.
void check_revision_id(std::string_view rev, std::string_view what);
bool is_safe_revision_id(std::string_view rev);
// 40 lowercase hex digits (a git commit id, what huggingface_hub treats as a commit).
bool is_commit_hash(std::string_view rev);

// Percent-encoding for one URL path segment (everything but unreserved characters) and for a
// path (keeps '/').
std::string url_encode_segment(std::string_view s);
std::string url_encode_path(std::string_view s);
// Decodes %XX; returns false on a malformed escape.
bool url_decode(std::string_view s, std::string& out);

}  // namespace khub::hub::net
