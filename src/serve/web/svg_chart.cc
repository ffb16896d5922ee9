// SVG line charts (svg_chart.h).
#include "serve/web/svg_chart.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <map>

#include "serve/web/html.h"

namespace khub::serve::web {

namespace {

constexpr double kWidth = 640, kHeight = 360;
constexpr double kLeft = 64, kRight = 16, kTop = 36, kBottom = 52;

bool drawable(const LineChart& c, const ChartPoint& p) {
  return std::isfinite(p.x) && std::isfinite(p.y) && (!c.log_x || p.x > 0);
}

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

// Log-axis ticks: powers of two when the range spans few decades (sizes in bytes or elements
// usually double), else powers of ten.
std::vector<double> log_ticks(double lo, double hi) {
  std::vector<double> t;
  double base = std::log10(hi / lo) > 4 ? 10 : 2;
  double step = base;
  double start = std::pow(base, std::floor(std::log(lo) / std::log(base)));
  while (true) {
    t.clear();
    for (double v = start; v <= hi * 1.0001; v *= step) {
      if (v >= lo / 1.0001) t.push_back(v);
    }
    if (t.size() <= 8) break;
    step *= base;
  }
  if (t.empty()) t.push_back(lo);
  return t;
}

}  // namespace

std::vector<double> nice_ticks(double lo, double hi) {
  if (!(hi > lo)) {
    double pad = lo == 0 ? 1 : std::fabs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
  double raw = (hi - lo) / 5;
  double mag = std::pow(10, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    step = m * mag;
    if ((hi - lo) / step <= 7) break;
  }
  std::vector<double> t;
  // From the step at or below lo to the step at or above hi, so the ticks cover the data.
  long first = static_cast<long>(std::floor(lo / step + 1e-9));
  long last = static_cast<long>(std::ceil(hi / step - 1e-9));
  for (long k = first; k <= last; ++k) t.push_back(k == 0 ? 0 : k * step);
  return t;
}

std::vector<int> series_colours(const std::vector<std::string>& names) {
  constexpr int kColours = 8;
  std::vector<size_t> order(names.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return names[a] < names[b]; });
  std::vector<int> out(names.size(), 0);
  std::map<std::string, int> given;
  bool taken[kColours] = {};
  int used = 0;
  for (size_t i : order) {
    if (auto it = given.find(names[i]); it != given.end()) {  // the same name twice
      out[i] = it->second;
      continue;
    }
    uint32_t h = 2166136261u;  // FNV-1a, 32 bit
    for (unsigned char c : names[i]) h = (h ^ c) * 16777619u;
    int c = static_cast<int>(h % kColours);
    if (used < kColours) {
      while (taken[c]) c = (c + 1) % kColours;
      taken[c] = true;
      ++used;
    }
    out[i] = given[names[i]] = c;
  }
  return out;
}

size_t drawn_points(const LineChart& chart) {
  size_t n = 0;
  for (const auto& s : chart.series) {
    for (const auto& p : s.points) n += drawable(chart, p);
  }
  return n;
}

std::string render_chart(const LineChart& chart) {
  double xlo = std::numeric_limits<double>::infinity(), xhi = -xlo;
  double ylo = 0, yhi = -std::numeric_limits<double>::infinity();
  for (const auto& s : chart.series) {
    for (const auto& p : s.points) {
      if (!drawable(chart, p)) continue;
      xlo = std::min(xlo, p.x);
      xhi = std::max(xhi, p.x);
      ylo = std::min(ylo, p.y);
      yhi = std::max(yhi, p.y);
    }
  }
  if (chart.reference_y) yhi = std::max(yhi, *chart.reference_y);
  std::string out = "<figure class=\"chart\" id=\"" + escape(chart.id) + "\">";
  out += "<svg viewBox=\"0 0 " + num(kWidth) + " " + num(kHeight) +
         "\" role=\"img\" preserveAspectRatio=\"xMidYMid meet\" aria-label=\"" +
         escape(chart.title) + "\">";
  out +=
      "<text class=\"title\" x=\"" + num(kLeft) + "\" y=\"22\">" + escape(chart.title) + "</text>";
  if (!std::isfinite(xlo)) {
    out += "<text class=\"empty\" x=\"" + num(kWidth / 2) + "\" y=\"" + num(kHeight / 2) +
           "\" text-anchor=\"middle\">no data points</text></svg></figure>";
    return out;
  }
  std::vector<double> yt = nice_ticks(ylo, yhi);
  double y0 = yt.front(), y1 = yt.back();
  std::vector<double> xt;
  double x0, x1;
  if (chart.log_x) {
    if (xhi <= xlo) xhi = xlo * 2, xlo = xlo / 2;
    xt = log_ticks(xlo, xhi);
    x0 = std::log(xlo);
    x1 = std::log(xhi);
  } else {
    xt = nice_ticks(xlo, xhi);
    x0 = xt.front();
    x1 = xt.back();
  }
  const double pw = kWidth - kLeft - kRight, ph = kHeight - kTop - kBottom;
  auto px = [&](double x) {
    double v = chart.log_x ? std::log(x) : x;
    return kLeft + (x1 > x0 ? (v - x0) / (x1 - x0) : 0.5) * pw;
  };
  auto py = [&](double y) { return kTop + ph - (y1 > y0 ? (y - y0) / (y1 - y0) : 0.5) * ph; };
  for (double v : yt) {
    std::string y = num(py(v));
    out += "<line class=\"grid\" x1=\"" + num(kLeft) + "\" x2=\"" + num(kLeft + pw) + "\" y1=\"" +
           y + "\" y2=\"" + y + "\"/><text class=\"tick\" x=\"" + num(kLeft - 6) + "\" y=\"" + y +
           "\" text-anchor=\"end\" dominant-baseline=\"middle\">" + format_number(v) + "</text>";
  }
  for (double v : xt) {
    std::string x = num(px(v));
    out +=
        "<line class=\"grid\" x1=\"" + x + "\" x2=\"" + x + "\" y1=\"" + num(kTop) + "\" y2=\"" +
        num(kTop + ph) + "\"/><text class=\"tick\" x=\"" + x + "\" y=\"" + num(kTop + ph + 16) +
        "\" text-anchor=\"middle\">" +
        (chart.x_is_bytes && v >= 1 ? format_bytes(static_cast<uint64_t>(v)) : format_number(v)) +
        "</text>";
  }
  out += "<rect class=\"axis\" x=\"" + num(kLeft) + "\" y=\"" + num(kTop) + "\" width=\"" +
         num(pw) + "\" height=\"" + num(ph) + "\" fill=\"none\"/>";
  out += "<text class=\"label\" x=\"" + num(kLeft + pw / 2) + "\" y=\"" + num(kHeight - 10) +
         "\" text-anchor=\"middle\">" + escape(chart.x_label) + "</text>";
  out += "<text class=\"label\" transform=\"translate(14 " + num(kTop + ph / 2) +
         ") rotate(-90)\" text-anchor=\"middle\">" + escape(chart.y_label) + "</text>";
  if (chart.reference_y && *chart.reference_y >= y0 && *chart.reference_y <= y1) {
    std::string y = num(py(*chart.reference_y));
    out += "<line class=\"ref\" x1=\"" + num(kLeft) + "\" x2=\"" + num(kLeft + pw) + "\" y1=\"" +
           y + "\" y2=\"" + y + "\"/><text class=\"reflabel\" x=\"" + num(kLeft + pw - 4) +
           "\" y=\"" + num(py(*chart.reference_y) - 4) + "\" text-anchor=\"end\">" +
           escape(chart.reference_label) + "</text>";
  }
  std::vector<std::string> names;
  for (const auto& se : chart.series) names.push_back(se.name);
  const std::vector<int> colours = series_colours(names);
  for (size_t si = 0; si < chart.series.size(); ++si) {
    std::vector<ChartPoint> pts;
    for (const auto& p : chart.series[si].points) {
      if (drawable(chart, p)) pts.push_back(p);
    }
    std::sort(pts.begin(), pts.end(),
              [](const ChartPoint& a, const ChartPoint& b) { return a.x < b.x; });
    std::string cls = "s" + std::to_string(colours[si]);
    std::string name = escape(chart.series[si].name);
    out += "<g class=\"series " + cls + "\" data-series=\"" + name + "\"><polyline points=\"";
    for (const auto& p : pts) out += num(px(p.x)) + "," + num(py(p.y)) + " ";
    out += "\"/>";
    for (const auto& p : pts) {
      out += "<circle class=\"pt\" r=\"3.5\" cx=\"" + num(px(p.x)) + "\" cy=\"" + num(py(p.y)) +
             "\" data-x=\"" + format_number(p.x) + "\" data-y=\"" + format_number(p.y) +
             "\"><title>" + name + ": " + format_number(p.x) + " → " + format_number(p.y) +
             "</title></circle>";
    }
    out += "</g>";
  }
  out += "</svg><figcaption class=\"legend\">";
  for (size_t si = 0; si < chart.series.size(); ++si) {
    out += "<span class=\"key s" + std::to_string(colours[si]) + "\">" +
           escape(chart.series[si].name) + "</span>";
  }
  out += "</figcaption></figure>";
  return out;
}

}  // namespace khub::serve::web
