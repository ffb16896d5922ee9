// HTML building blocks of the `khub serve` web pages (docs/design.md §6.3): escaping of everything
// that comes from the hub (repo names, refs, file paths, README text, benchmark labels), URL
// encoding of path segments and query values, number and size formatting, and the page shell with
// its stylesheet and script links. Pages are plain strings built by appending; no template engine
// and no inline script or style, so that the Content-Security-Policy below can forbid both.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace khub::serve::web {

// The policy every page is served with: nothing but this origin's stylesheet and script, no
// plugins, no framing, no <base>, forms only to this origin.
inline constexpr const char* kContentSecurityPolicy =
    "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; "
    "connect-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

// Text content and attribute values: & < > " ' escaped; bytes that are not valid UTF-8 and
// control characters other than tab and newline become U+FFFD, so no input can end an element or
// an attribute early or smuggle a raw byte into the page.
std::string escape(std::string_view text);
void append_escaped(std::string& out, std::string_view text);

// Percent-encodes everything but unreserved characters (a path segment or a query value).
std::string url_encode(std::string_view text);

// "1.2 MiB", "512 B".
std::string format_bytes(uint64_t bytes);
// "2026-12-07 12:57" from an ISO 8601 time ("" stays "").
std::string format_date(std::string_view iso);
// A number with up to 3 significant decimals ("12.5", "0.125", "1.2e+06").
std::string format_number(double v);

struct PageShell {
  std::string title;        // escaped by page_begin
  std::string description;  // meta description, escaped
};
// <!doctype html> ... <body><header>...</header><main>; close with page_end.
void page_begin(std::string& out, const PageShell& shell);
void page_end(std::string& out);

}  // namespace khub::serve::web
