// The benchmarks page (site.h): every bench/results/*.json of a revision as SVG charts.
#include <fstream>
#include <sstream>

#include "serve/web/benchmarks.h"
#include "serve/web/html.h"
#include "serve/web/site.h"

namespace khub::serve::web {

std::string render_bench_page(Catalog& catalog, const RepoOverview& repo,
                              const std::string& rev_arg) {
  std::string rev_name = rev_arg.empty() ? repo.default_ref : rev_arg;
  auto revision = rev_name.empty() ? std::nullopt : catalog.store().resolve(repo.id, rev_name);
  if (!revision) {
    throw StoreError(404, "RevisionNotFound",
                     "revision '" + rev_name + "' not found in " + repo.id);
  }
  auto s = catalog.summary(repo.id, *revision);
  std::string out;
  page_begin(out, {repo.id + " benchmarks · khub hub", "Benchmark results of " + repo.id});
  out += "<nav class=\"crumbs\"><a href=\"/\">hub</a> / <a href=\"" +
         escape("/" + repo.id + "?rev=" + url_encode(rev_name)) + "\">";
  append_escaped(out, repo.id);
  out += "</a></nav><h1>Benchmarks of ";
  append_escaped(out, repo.id);
  out += "</h1><p class=\"meta\">revision <b>";
  append_escaped(out, rev_name);
  out += "</b> = <code>" + escape(s->revision) + "</code></p>";
  if (s->bench_files.empty()) {
    out += "<p class=\"note\" id=\"no-bench\">This revision publishes no bench/results/*.json.</p>";
  }
  fs::path dir = catalog.store().revision_dir(repo.id, s->revision);
  int n = 0;
  for (const auto& file : s->bench_files) {
    std::ifstream in(dir / file, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    BenchReport r = bench_report(file, ss.str());
    out += "<section class=\"bench\" id=\"bench-" + std::to_string(n++) + "\"><h2>";
    append_escaped(out, r.title);
    out += "</h2><p class=\"meta\"><code>";
    append_escaped(out, file);
    out += "</code>";
    if (!r.date.empty()) out += " · " + escape(r.date);
    if (!r.device.empty()) out += " · " + escape(r.device);
    out += "</p>";
    if (!r.problem.empty()) {
      out += "<p class=\"note problem\">Not charted: ";
      append_escaped(out, r.problem);
      out += ".</p>";
    }
    out += "<div class=\"charts\">";
    for (auto& c : r.charts) {
      c.id = "bench-" + std::to_string(n - 1) + "-" + c.id;
      out += render_chart(c);
    }
    out += "</div></section>";
  }
  page_end(out);
  return out;
}

}  // namespace khub::serve::web
