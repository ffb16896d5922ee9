// Rendering pieces of the web pages (serve/web): escaping, Markdown in safe mode, SVG charts and
// benchmark parsing.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "serve/web/benchmarks.h"
#include "serve/web/html.h"
#include "serve/web/markdown.h"
#include "serve/web/svg_chart.h"

namespace khub::serve::web {
namespace {

size_t count(const std::string& hay, const std::string& needle) {
  size_t n = 0;
  for (size_t p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + 1)) ++n;
  return n;
}

TEST(WebHtml, EscapesMarkupQuotesAndBadBytes) {
  EXPECT_EQ(escape("<a href=\"x\" title='y'>&</a>"),
            "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;");
  EXPECT_EQ(escape("caf\xc3\xa9 \xe2\x82\xac"), "caf\xc3\xa9 \xe2\x82\xac");  // valid UTF-8 kept
  EXPECT_EQ(escape("a\xff"
                   "b"),
            "a\xef\xbf\xbd"
            "b");                                                             // stray byte
  EXPECT_EQ(escape("\xc0\xbc"), "\xef\xbf\xbd\xef\xbf\xbd");                  // overlong '<'
  EXPECT_EQ(escape("\xed\xa0\x80"), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");  // surrogate
  EXPECT_EQ(escape(std::string("x\0y\x1b", 4)), "x\xef\xbf\xbdy\xef\xbf\xbd");
  EXPECT_EQ(escape("tab\tnl\n"), "tab\tnl\n");
}

TEST(WebHtml, UrlEncodesEverythingButUnreserved) {
  EXPECT_EQ(url_encode("v1.1.0"), "v1.1.0");
  EXPECT_EQ(url_encode("a b/\"<&>"), "a%20b%2F%22%3C%26%3E");
}

TEST(WebHtml, Formats) {
  EXPECT_EQ(format_bytes(512), "512 B");
  EXPECT_EQ(format_bytes(2048), "2.00 KiB");
  EXPECT_EQ(format_bytes(uint64_t(300) << 20), "300 MiB");
  EXPECT_EQ(format_date("2026-12-07T12:57:16.123Z"), "2026-12-07 12:57");
  EXPECT_EQ(format_number(12.345), "12.3");
  EXPECT_EQ(format_number(0.125), "0.125");
}

TEST(WebMarkdown, RendersGfmAndDropsRawHtmlAndScriptUrls) {
  std::string html = render_markdown(
      "# Title\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n~~old~~ <b>bold</b>\n\n"
      "<script>alert(1)</script>\n\n[x](javascript:alert(1)) [y](https://example.org/ok)\n\n"
      "![i](data:text/html;base64,PHNjcmlwdD4=)\n\n<img src=x onerror=alert(1)>\n");
  EXPECT_NE(html.find("<h1>Title</h1>"), std::string::npos) << html;
  EXPECT_NE(html.find("<table>"), std::string::npos) << html;
  EXPECT_NE(html.find("<del>old</del>"), std::string::npos) << html;
  EXPECT_EQ(html.find("<script"), std::string::npos) << html;
  EXPECT_EQ(html.find("<b>"), std::string::npos) << html;
  EXPECT_EQ(html.find("onerror"), std::string::npos) << html;
  EXPECT_EQ(html.find("javascript:"), std::string::npos) << html;
  EXPECT_EQ(html.find("data:text/html"), std::string::npos) << html;
  EXPECT_NE(html.find("href=\"https://example.org/ok\""), std::string::npos) << html;
  EXPECT_NE(html.find("raw HTML omitted"), std::string::npos) << html;
}

TEST(WebMarkdown, InvalidUtf8BecomesReplacementCharacters) {
  std::string html = render_markdown("a\xff\xfe b");
  EXPECT_NE(html.find("\xef\xbf\xbd"), std::string::npos);
  EXPECT_EQ(html.find('\xff'), std::string::npos);
}

TEST(WebChart, NiceTicks) {
  EXPECT_EQ(nice_ticks(0, 44.5), (std::vector<double>{0, 10, 20, 30, 40, 50}));
  auto t = nice_ticks(0, 1.2);
  EXPECT_DOUBLE_EQ(t.front(), 0);
  EXPECT_GE(t.back(), 1.2);
  EXPECT_LE(t.size(), 8u);
  EXPECT_EQ(nice_ticks(5, 5).size() >= 2, true);  // a flat series still gets an axis
}

TEST(WebChart, DrawsEveryFinitePointOnceAndEscapesLabels) {
  LineChart c;
  c.id = "c\"1";
  c.title = "<script>t</script>";
  c.x_label = "bytes";
  c.y_label = "GB/s";
  c.log_x = true;
  c.reference_y = 44.5;
  c.reference_label = "limit";
  c.series = {{"kernel", {{1024, 10}, {4096, 20}, {16384, 30}}},
              {"<b>eager</b>", {{1024, 5}, {4096, std::nan("")}, {0, 3}, {16384, 9}}}};
  EXPECT_EQ(drawn_points(c), 5u);  // NaN and x=0 on a log axis are dropped
  std::string svg = render_chart(c);
  EXPECT_EQ(count(svg, "<circle class=\"pt\""), 5u);
  EXPECT_EQ(count(svg, "<polyline"), 2u);
  EXPECT_EQ(svg.find("<script>"), std::string::npos);
  EXPECT_EQ(svg.find("<b>"), std::string::npos);
  EXPECT_NE(svg.find("&lt;b&gt;eager&lt;/b&gt;"), std::string::npos);
  EXPECT_NE(svg.find("id=\"c&quot;1\""), std::string::npos);
  EXPECT_NE(svg.find("class=\"ref\""), std::string::npos);
  EXPECT_NE(svg.find("viewBox=\"0 0 640.0 360.0\""), std::string::npos);
  // Points are drawn left to right in x order: cx increases within a series.
  std::regex cx("class=\"pt\" r=\"3.5\" cx=\"([0-9.]+)\"");
  std::vector<double> xs;
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), cx); it != std::sregex_iterator();
       ++it) {
    xs.push_back(std::stod((*it)[1]));
  }
  ASSERT_EQ(xs.size(), 5u);
  EXPECT_LT(xs[0], xs[1]);
  EXPECT_LT(xs[1], xs[2]);
}

TEST(WebChart, EmptyChartSaysSo) {
  LineChart c;
  c.title = "nothing";
  std::string svg = render_chart(c);
  EXPECT_NE(svg.find("no data points"), std::string::npos);
  EXPECT_EQ(drawn_points(c), 0u);
}

TEST(WebBench, ChartsPerOpWithPeersAndTheHardwareLimit) {
  std::string text = R"({"benchmark": "b", "date": "2026-12-07", "device": {"cpu": "EPYC"},
    "memory_bandwidth": {"ceiling_gbps": 40},
    "results": [
      {"op": "RMSNorm", "dtype": "f32", "bytes": 100, "kernel_gbps": 10, "eager_gbps": 5},
      {"op": "RMSNorm", "dtype": "f32", "bytes": 200, "kernel_gbps": 20, "eager_gbps": 6},
      {"op": "Rotary", "bytes": 100, "kernel_gbps": 30},
      {"op": "NoSize", "kernel_gbps": 1}]})";
  BenchReport r = bench_report("bench/results/x.json", text);
  EXPECT_EQ(r.problem, "");
  EXPECT_EQ(r.title, "b");
  EXPECT_EQ(r.device, "cpu EPYC");
  ASSERT_EQ(r.charts.size(), 4u);  // RMSNorm and Rotary: throughput + fraction of the limit
  EXPECT_EQ(r.charts[0].title, "RMSNorm f32: throughput vs size");
  ASSERT_EQ(r.charts[0].series.size(), 2u);
  EXPECT_EQ(r.charts[0].series[0].name, "kernel");
  EXPECT_EQ(drawn_points(r.charts[0]), 4u);
  EXPECT_EQ(r.charts[1].title, "RMSNorm f32: fraction of the hardware limit");
  EXPECT_DOUBLE_EQ(r.charts[1].series[0].points[1].y, 0.5);
  EXPECT_DOUBLE_EQ(*r.charts[0].reference_y, 40);
}

TEST(WebBench, BadFilesSayWhy) {
  EXPECT_EQ(bench_report("a.json", "{not json").problem, "not a JSON object");
  EXPECT_NE(bench_report("a.json", "{}").problem.find("no \"results\" array"), std::string::npos);
  EXPECT_NE(bench_report("a.json", R"({"results": [{"op": "x"}]})").problem.find("no record"),
            std::string::npos);
}

}  // namespace
}  // namespace khub::serve::web

namespace khub::serve::web {
namespace {

// The results bench/kernels_cpu committed are in the format the page charts: 18 op x dtype
// groups, each a throughput chart and a fraction-of-the-limit chart, every record drawn.
TEST(WebBench, ChartsTheCommittedCpuKernelResults) {
  std::ifstream in("bench/results/2026-11-24-cpu-kernels.json");
  ASSERT_TRUE(in) << "run from the source folder";
  std::stringstream ss;
  ss << in.rdbuf();
  BenchReport r = bench_report("bench/results/2026-11-24-cpu-kernels.json", ss.str());
  EXPECT_EQ(r.problem, "");
  ASSERT_EQ(r.charts.size(), 36u);
  size_t points = 0;
  for (size_t i = 0; i < r.charts.size(); i += 2) points += drawn_points(r.charts[i]);
  auto records = nlohmann::json::parse(ss.str())["results"].size();
  EXPECT_EQ(points, records * 3);  // kernel, eager and copy for every record
  EXPECT_NEAR(*r.charts[0].reference_y, 44.51, 0.01);
}

}  // namespace
}  // namespace khub::serve::web
