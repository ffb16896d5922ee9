// Line charts drawn on the server as inline SVG for the benchmarks page (docs/design.md §13):
// axes with "nice" ticks (linear, or powers of two / ten on a log x axis), one polyline per series
// and a circle per point (class "pt", with data-x/data-y and a <title> tooltip), an optional
// horizontal reference line (the hardware limit) and a legend. Colours come from classes
// (s0..s7, grid, axis) that the stylesheet sets for light and dark schemes; a series' colour
// follows its name (series_colours), so "torch" has the same colour in every chart whatever the
// order or the other series; the SVG has a viewBox
// and no fixed width, so it scales with the page from a phone to a wide screen. Every label is
// escaped.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace khub::serve::web {

struct ChartPoint {
  double x = 0;
  double y = 0;
};

struct ChartSeries {
  std::string name;
  std::vector<ChartPoint> points;  // drawn in x order
};

struct LineChart {
  std::string id;  // element id (escaped)
  std::string title;
  std::string x_label;
  std::string y_label;
  bool log_x = false;       // points with x <= 0 are then dropped
  bool x_is_bytes = false;  // x ticks as "16.0 KiB"
  std::optional<double> reference_y;
  std::string reference_label;
  std::vector<ChartSeries> series;
};

// Number of points that render_chart draws (those with finite coordinates, and x > 0 on a log
// axis).
size_t drawn_points(const LineChart& chart);

// <figure class="chart"><svg ...>...</svg><figcaption>...</figcaption></figure>
std::string render_chart(const LineChart& chart);

// The colour class index (0..7) of each series, by name: FNV-1a of the name modulo 8; names that
// collide in one chart take the next free index, the names handled in sorted order, so the result
// depends on the set of names only. (Up to 8 distinct colours; a 9th series repeats one.)
std::vector<int> series_colours(const std::vector<std::string>& names);

// Ticks covering [lo, hi]: 4-8 values at 1/2/5 x 10^k steps.
std::vector<double> nice_ticks(double lo, double hi);

}  // namespace khub::serve::web
