// README rendering for the `khub serve` repo pages (docs/design.md §6.3): GitHub-flavoured
// Markdown through Debian's cmark-gfm (tables, strikethrough, autolinks, task lists) in its safe
// mode — raw HTML in the source is dropped (cmark writes "<!-- raw HTML omitted -->"), links and
// images with javascript:, vbscript:, file: and non-image data: URLs lose their URL, and the
// tagfilter extension neutralizes <script>, <iframe> and the other tags GitHub filters.
#pragma once

#include <string>
#include <string_view>

namespace khub::serve::web {

// Markdown text -> an HTML fragment safe to put inside <article>. Thread-safe.
std::string render_markdown(std::string_view markdown);

}  // namespace khub::serve::web
