// The repo index page (site.h): one compact row per repo, filtered on the server by ?q= (and by
// site.js as you type), sorted by name or last update.
#include <algorithm>
#include <cctype>
#include <set>

#include "serve/web/html.h"
#include "serve/web/site.h"

namespace khub::serve::web {

namespace {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

std::string variant_badge(const VariantSummary& v) {
  if (v.backend.empty()) return v.family.empty() ? "unknown" : v.family;
  std::string b = v.backend;
  if (!v.backend_version.empty()) b += " " + v.backend_version;
  if (!v.archs.empty()) {
    b += " ";
    for (size_t i = 0; i < v.archs.size(); ++i) b += (i ? "," : "") + v.archs[i];
  }
  return b;
}

void append_signature_badge(std::string& out, const std::string& status, const std::string& text,
                            const std::string& title) {
  if (status.empty()) return;
  std::string cls = status;
  for (char& c : cls) {
    if (c == ' ') c = '-';
  }
  out += "<i class=\"sig ";
  append_escaped(out, cls);
  out += "\"";
  if (!title.empty()) {
    out += " title=\"";
    append_escaped(out, title);
    out += "\"";
  }
  out += ">";
  append_escaped(out, text);
  out += "</i>";
}

std::string render_index_page(Catalog& catalog, const IndexQuery& query, bool with_private) {
  struct Row {
    RepoOverview repo;
    std::string text;  // what the row shows, lowercased: the search haystack
  };
  std::vector<Row> rows;
  std::vector<std::string> ids = catalog.repo_ids(with_private);
  std::string needle = lower(query.q);
  size_t total = ids.size();
  for (const auto& id : ids) {
    Row r{catalog.overview(id), ""};
    const auto* head = r.repo.head.get();
    r.text = id + " " + (head ? head->kind : "repo") + " " + r.repo.latest_tag;
    if (head) {
      for (const auto& v : head->variants) r.text += " " + variant_badge(v);
      for (const auto& l : head->layers) r.text += " " + l;
      r.text += " " + head->signature;
    }
    r.text = lower(r.text);
    if (!needle.empty() && r.text.find(needle) == std::string::npos) continue;
    rows.push_back(std::move(r));
  }
  if (query.sort == "updated") {
    std::stable_sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
      std::string da = a.repo.head ? a.repo.head->last_modified : "";
      std::string db = b.repo.head ? b.repo.head->last_modified : "";
      return da > db;
    });
  }
  std::string out;
  out.reserve(256 + rows.size() * 200);
  page_begin(out, {"khub hub", "Kernels and models on this khub hub"});
  out +=
      "<h1>Repositories</h1><form class=\"search\" role=\"search\" method=\"get\" action=\"/\">"
      "<input type=\"search\" id=\"q\" name=\"q\" placeholder=\"Search kernels, models, "
      "layers, backends\" autocomplete=\"off\" value=\"";
  append_escaped(out, query.q);
  out += "\"><input type=\"hidden\" name=\"sort\" value=\"";
  append_escaped(out, query.sort);
  out += "\"><button type=\"submit\">Search</button></form><p class=\"meta\"><span id=\"count\">" +
         std::to_string(rows.size()) + "</span> of " + std::to_string(total) +
         " repositories · sort: ";
  for (const char* s : {"name", "updated"}) {
    if (query.sort == s) {
      out += std::string("<b>") + s + "</b> ";
    } else {
      out += "<a href=\"/?sort=" + std::string(s) +
             (query.q.empty() ? "" : "&amp;q=" + url_encode(query.q)) + "\">" + s + "</a> ";
    }
  }
  out += "</p><ul class=\"repos\" id=\"repos\">";
  // Rows are terse (a 1,000-repo index stays small): <em> kind, <small> org/version/date,
  // <b> one badge per distinct backend build, <i> the signature status, <code> the layers.
  for (const auto& r : rows) {
    const auto* head = r.repo.head.get();
    out += "<li class=\"repo\"><a href=\"/";
    append_escaped(out, r.repo.id);  // ids are [A-Za-z0-9._-]/..., escaped all the same
    out += "\">";
    append_escaped(out, r.repo.id);
    out += "</a> <em>";
    out += head ? head->kind : "repo";
    out += "</em>";
    if (r.repo.is_private) out += " <em class=\"private\">private</em>";
    out += " <small>";
    append_escaped(out, r.repo.id.substr(0, r.repo.id.find('/')));
    out += " · <span class=\"ver\">";
    append_escaped(out, r.repo.latest_tag.empty() ? r.repo.default_ref : r.repo.latest_tag);
    out += "</span> · <time>";
    if (head) append_escaped(out, format_date(head->last_modified));
    out += "</time></small> ";
    if (head) {
      std::set<std::string> seen;
      for (const auto& v : head->variants) {
        std::string b = variant_badge(v);
        if (!seen.insert(b).second) continue;
        out += "<b class=\"";
        append_escaped(out, v.backend.empty() ? "other" : v.backend);
        out += "\">";
        append_escaped(out, b);
        out += "</b>";
      }
    }
    // The signature status of the head revision (all variants signed by a trusted key, ...).
    if (head) append_signature_badge(out, head->signature, head->signature, "");
    if (!r.repo.problem.empty()) {
      out += " <small class=\"problem\">";
      append_escaped(out, r.repo.problem);
      out += "</small>";
    }
    if (head && !head->layers.empty()) {
      out += " <code>";
      for (size_t i = 0; i < head->layers.size(); ++i) {
        if (i) out += " ";
        append_escaped(out, head->layers[i]);
      }
      out += "</code>";
    }
    out += "</li>";
  }
  out += "</ul>";
  if (rows.empty()) {
    out += "<p class=\"note\" id=\"none\">No repository matches";
    if (!query.q.empty()) out += " \"" + escape(query.q) + "\"";
    out += ".</p>";
  }
  page_end(out);
  return out;
}

}  // namespace khub::serve::web
