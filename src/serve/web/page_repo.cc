// The repo page (site.h): README, versions, the variants of one revision with their manifest and
// files, and how to use the kernel (kernel_mapping line, khub download, kernels.lock entry).
#include <map>
#include <nlohmann/json.hpp>

#include "hub/http/lockfile.h"
#include "serve/web/html.h"
#include "serve/web/site.h"

namespace khub::serve::web {

namespace {

using json = nlohmann::json;

// A field of untrusted manifest JSON as text: strings as they are, arrays of strings joined,
// anything else as JSON; "" when absent.
std::string field(const json& j, const char* key) {
  if (!j.is_object()) return "";
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return "";
  if (it->is_string()) return it->get<std::string>();
  if (it->is_array()) {
    std::string out;
    for (const auto& e : *it)
      out += (out.empty() ? "" : ", ") + (e.is_string() ? e.get<std::string>() : e.dump());
    return out;
  }
  return it->dump();
}

bool flag(const json& j, const char* key) {
  return j.is_object() && j.contains(key) && j[key].is_boolean() && j[key].get<bool>();
}

std::string repo_link(const std::string& repo, const std::string& rev, const std::string& variant) {
  std::string out = "/" + repo;
  if (!rev.empty()) out += "?rev=" + url_encode(rev);
  if (!variant.empty())
    out += std::string(rev.empty() ? "?" : "&") + "variant=" + url_encode(variant);
  return escape(out);
}

void cell(std::string& out, const std::string& text, const char* cls = nullptr) {
  out += cls ? std::string("<td class=\"") + cls + "\">" : "<td>";
  append_escaped(out, text);
  out += "</td>";
}

void snippet(std::string& out, const std::string& id, const std::string& label,
             const std::string& text) {
  out += "<div class=\"snippet\"><div class=\"snippet-head\">";
  append_escaped(out, label);
  out += "<button type=\"button\" class=\"copy\" hidden data-copy=\"" + id +
         "\">Copy</button></div><pre><code id=\"" + id + "\">";
  append_escaped(out, text);
  out += "</code></pre></div>";
}

void files_table(std::string& out, const std::vector<FileRow>& files, const std::string& id) {
  out += "<div class=\"scroll\"><table class=\"files\" id=\"" + id +
         "\"><thead><tr><th>file</th><th>size</th><th>SHA-256</th></tr></thead><tbody>";
  for (const auto& f : files) {
    out += "<tr>";
    cell(out, f.path, "path");
    out += "<td class=\"num\" data-bytes=\"" + std::to_string(f.size) + "\">" +
           format_bytes(f.size) + "</td>";
    cell(out, f.sha256, "hash");
    out += "</tr>";
  }
  out += "</tbody></table></div>";
}

void manifest_tables(std::string& out, const json& m) {
  if (!m.is_object()) {
    out += "<p class=\"note\">metadata.json has no manifest.</p>";
    return;
  }
  out +=
      "<h4>Layers</h4><div class=\"scroll\"><table class=\"layers\"><thead><tr><th>layer</th>"
      "<th>forward</th><th>backward</th><th>has backward</th><th>graph capture</th></tr>"
      "</thead><tbody>";
  if (m.contains("layers") && m["layers"].is_array()) {
    for (const auto& l : m["layers"]) {
      out += "<tr>";
      cell(out, field(l, "name"), "name");
      cell(out, field(l, "forward"));
      cell(out, field(l, "backward").empty() ? "—" : field(l, "backward"));
      cell(out, flag(l, "has-backward") ? "yes" : "no", "flag-backward");
      cell(out, flag(l, "can-capture") ? "yes" : "no", "flag-capture");
      out += "</tr>";
    }
  }
  out +=
      "</tbody></table></div><h4>Functions</h4><div class=\"scroll\"><table "
      "class=\"functions\"><thead><tr><th>function</th><th>dtypes</th><th>arguments</th>"
      "<th>attributes</th><th>flags</th><th>constraints</th></tr></thead><tbody>";
  if (m.contains("functions") && m["functions"].is_array()) {
    for (const auto& f : m["functions"]) {
      out += "<tr>";
      cell(out, field(f, "name"), "name");
      cell(out, field(f, "dtypes"), "dtypes");
      std::string args;
      if (f.is_object() && f.contains("args") && f["args"].is_array()) {
        for (const auto& a : f["args"]) {
          std::string flags = field(a, "flags");
          args += (args.empty() ? "" : "; ") + field(a, "name") + " (" + field(a, "role") + " " +
                  field(a, "dtypes") + (flags.empty() ? "" : ", " + flags) + ")";
        }
      }
      cell(out, args);
      std::string attrs;
      if (f.is_object() && f.contains("attrs") && f["attrs"].is_array()) {
        for (const auto& a : f["attrs"]) {
          std::string def = field(a, "default");
          attrs += (attrs.empty() ? "" : "; ") + field(a, "name") + ": " + field(a, "kind") +
                   (flag(a, "required") ? " (required)"
                    : def.empty()       ? ""
                                        : " = " + def);
        }
      }
      cell(out, attrs);
      cell(out, field(f, "flags"), "fn-flags");
      std::string constraints =
          f.is_object() && f.contains("constraints") && !f["constraints"].empty()
              ? f["constraints"].dump()
              : "";
      cell(out, constraints, "constraints");
      out += "</tr>";
    }
  }
  out += "</tbody></table></div>";
}

// "signed · acme release key", "unsigned", "untrusted key 3f2a1b09c4d2e5f6", ...
std::string signature_text(const VariantSummary& v) {
  if (v.signature == "signed") {
    return "signed · " + (v.signer_name.empty() ? "key " + v.signer : v.signer_name);
  }
  if (v.signature == "untrusted" && !v.signature_keys.empty()) {
    std::string keys;
    for (const auto& k : v.signature_keys) keys += (keys.empty() ? "" : ", ") + k;
    return "untrusted key " + keys;
  }
  return v.signature;
}

void signatures_section(std::string& out, const VariantSummary& v) {
  out += "<h4>Signature</h4><p class=\"signature-detail\">";
  append_signature_badge(out, v.signature, signature_text(v), "");
  out += " ";
  if (v.signature == "unsigned") {
    out += "No signature file (build/" + escape(v.name) + "/signatures/). ";
  } else {
    append_escaped(out, v.signature_why);
    if (!v.signer.empty()) out += " · key <code class=\"signer\">" + escape(v.signer) + "</code>";
  }
  out += "</p>";
}

void versions_section(std::string& out, Catalog& catalog, const RepoOverview& repo,
                      const std::string& shown) {
  std::map<std::string, std::string> dates;
  auto revs = catalog.revisions(repo.id);
  for (const auto& [rev, date] : revs) dates[rev] = date;
  auto ref_rows = [&](const std::vector<GitRef>& refs, const char* cls) {
    out += std::string("<table class=\"refs ") + cls +
           "\"><thead><tr><th>name</th><th>revision</th><th>date</th></tr></thead><tbody>";
    for (const auto& g : refs) {
      out += std::string("<tr") + (g.commit == shown ? " class=\"current\"" : "") +
             "><td><a class=\"ref\" href=\"" + repo_link(repo.id, g.name, "") + "\">";
      append_escaped(out, g.name);
      out += "</a></td>";
      cell(out, g.commit.substr(0, 12), "hash");
      cell(out, format_date(dates[g.commit]));
      out += "</tr>";
    }
    out += "</tbody></table>";
  };
  out += "<section id=\"versions\"><h2>Versions</h2><div class=\"cols\"><div><h3>Tags</h3>";
  ref_rows(repo.refs.tags, "tags");
  out += "</div><div><h3>Branches</h3>";
  ref_rows(repo.refs.branches, "branches");
  out +=
      "</div></div><h3>Revisions</h3><table class=\"refs commits\"><thead><tr><th>revision</th>"
      "<th>date</th><th>refs</th></tr></thead><tbody>";
  for (const auto& [rev, date] : revs) {
    std::string names;
    for (const auto* list : {&repo.refs.tags, &repo.refs.branches}) {
      for (const auto& g : *list) {
        if (g.commit == rev) names += (names.empty() ? "" : ", ") + g.name;
      }
    }
    out += std::string("<tr") + (rev == shown ? " class=\"current\"" : "") +
           "><td class=\"hash\"><a href=\"" + repo_link(repo.id, rev, "") + "\">" +
           escape(rev.substr(0, 12)) + "</a></td>";
    cell(out, format_date(date));
    cell(out, names);
    out += "</tr>";
  }
  out += "</tbody></table></section>";
}

void usage_section(std::string& out, const RepoOverview& repo, const RevisionSummary& s,
                   const std::string& rev_name, const std::string& host) {
  std::string ref = repo.id + (rev_name.empty() ? "" : "@" + rev_name);
  out += "<section id=\"usage\"><h2>Use it</h2>";
  std::string mapping = "{\"kernel_mapping\": {";
  for (size_t i = 0; i < s.layers.size(); ++i) {
    mapping +=
        (i ? ", " : "") + json(s.layers[i]).dump() + ": " + json(ref + ":" + s.layers[i]).dump();
  }
  mapping += "}}";
  snippet(out, "use-mapping", "kernel_mapping (--kernel-config cfg.json)", mapping);
  snippet(out, "use-download", "khub download",
          "HF_ENDPOINT=http://" + (host.empty() ? std::string("HOST:PORT") : host) +
              " khub download " + ref + " --all-variants");
  hub::net::KernelLock lock;
  lock.repo = hub::net::RepoRef{hub::net::RepoType::kKernel, repo.id};
  lock.sha = s.revision;
  lock.requested = rev_name;
  lock.ref = rev_name == s.revision ? "" : rev_name;
  for (const auto& v : s.variants) {
    hub::net::VariantLock vl;
    vl.hash = v.lock_hash;
    if (!v.metadata_sha256.empty()) vl.metadata_digest = "sha256-" + v.metadata_sha256;
    vl.files = v.files.size();
    vl.bytes = v.bytes;
    lock.variants[v.name] = vl;
  }
  snippet(out, "use-lock", "kernels.lock entry", hub::net::lockfile_json({lock}));
  out += "</section>";
}

}  // namespace

std::string render_repo_page(Catalog& catalog, const RepoOverview& repo, const std::string& rev_arg,
                             const std::string& variant, const std::string& host) {
  std::string rev_name = rev_arg.empty() ? repo.default_ref : rev_arg;
  std::optional<std::string> revision =
      rev_name.empty() ? std::nullopt : catalog.store().resolve(repo.id, rev_name);
  if (!revision && rev_arg.empty()) {
    auto revs = catalog.revisions(repo.id);  // no main or vN branch: the newest revision
    if (!revs.empty()) revision = rev_name = revs.front().first;
  }
  if (!revision) {
    throw StoreError(404, "RevisionNotFound",
                     "revision '" + rev_name + "' not found in " + repo.id);
  }
  auto s = catalog.summary(repo.id, *revision);
  std::string out;
  out.reserve(32 << 10);
  page_begin(out, {repo.id + " · khub hub", repo.id + ": versions, variants, files and usage"});
  out += "<nav class=\"crumbs\"><a href=\"/\">hub</a> / <span>";
  append_escaped(out, repo.id.substr(0, repo.id.find('/')));
  out += "</span></nav><h1 id=\"repo-name\">";
  append_escaped(out, repo.id);
  out += " <span class=\"kind\">" + escape(s->kind) + "</span>";
  if (repo.is_private) out += " <span class=\"private\">private</span>";
  out += "</h1><p class=\"meta\">revision <b id=\"rev-name\">";
  append_escaped(out, rev_name);
  out += "</b> = <code id=\"rev-id\">" + escape(s->revision) + "</code> · " +
         escape(format_date(s->last_modified)) + " · " + std::to_string(s->files.size()) +
         " files, " + format_bytes(s->bytes);
  if (!s->bench_files.empty()) {
    out += " · <a id=\"bench-link\" href=\"" +
           escape("/" + repo.id + "/benchmarks?rev=" + url_encode(rev_name)) + "\">benchmarks</a>";
  }
  out += "</p>";
  if (s->kind == "kernel") {
    out +=
        "<section id=\"variants\"><h2>Variants</h2><div class=\"scroll\"><table "
        "class=\"variants\"><thead><tr><th>variant</th><th>backend</th><th>ABI</th>"
        "<th>compute capabilities / archs</th><th>min runtime</th><th>signature</th><th>files</th>"
        "<th>size</th></tr></thead><tbody>";
    for (const auto& v : s->variants) {
      out += std::string("<tr") + (v.name == variant ? " class=\"current\"" : "") +
             "><td><a class=\"variant\" href=\"" + repo_link(repo.id, rev_name, v.name) +
             "#variant-detail\">";
      append_escaped(out, v.name);
      out += "</a></td>";
      cell(out, v.backend + (v.backend_version.empty() ? "" : " " + v.backend_version));
      cell(out, v.abi, "abi");
      std::string archs;
      for (const auto& a : v.archs) archs += (archs.empty() ? "" : " ") + a;
      cell(out, archs.empty() ? "—" : archs, "archs");
      cell(out, v.min_runtime.empty() ? "—" : v.min_runtime);
      out += "<td class=\"signature\">";
      append_signature_badge(out, v.signature, signature_text(v), v.signature_why);
      out += "</td><td class=\"num\">" + std::to_string(v.files.size()) +
             "</td><td class=\"num\">" + format_bytes(v.bytes) + "</td></tr>";
      if (!v.name_problem.empty() || !v.metadata_problem.empty()) {
        out += "<tr class=\"problem\"><td colspan=\"8\">";
        append_escaped(out, v.name_problem.empty() ? v.metadata_problem : v.name_problem);
        out += "</td></tr>";
      }
    }
    out += "</tbody></table></div>";
    const VariantSummary* chosen = variant.empty() ? nullptr : s->variant(variant);
    if (!variant.empty() && !chosen) {
      out += "<p class=\"note\" id=\"variant-detail\">This revision has no variant ";
      append_escaped(out, variant);
      out += ".</p>";
    }
    if (!chosen && variant.empty() && !s->variants.empty()) chosen = &s->variants.front();
    if (chosen) {
      out += "<article class=\"variant-detail\" id=\"variant-detail\" data-variant=\"";
      append_escaped(out, chosen->name);
      out += "\"><h3>";
      append_escaped(out, chosen->name);
      out += "</h3><p class=\"meta\">";
      append_escaped(
          out, chosen->abi + (chosen->license.empty() ? "" : " · license " + chosen->license));
      out += "</p>";
      signatures_section(out, *chosen);
      manifest_tables(out, chosen->manifest);
      out += "<h4>Files</h4>";
      files_table(out, chosen->files, "variant-files");
      out += "</article>";
    }
    out += "</section>";
    usage_section(out, repo, *s, rev_name, host);
  }
  if (s->readme_html) {
    out += "<section id=\"readme\"><h2>README</h2><article class=\"markdown\">" + *s->readme_html +
           "</article></section>";
  }
  versions_section(out, catalog, repo, s->revision);
  out += "<section id=\"all-files\"><details><summary>All files of this revision (" +
         std::to_string(s->files.size()) + ")</summary>";
  files_table(out, s->files, "files");
  out += "</details></section>";
  page_end(out);
  return out;
}

}  // namespace khub::serve::web
