// Benchmark results published with a kernel (bench/results/*.json in a revision) turned into the
// charts of the benchmarks page (docs/design.md §13). The format (docs/hub-http.md, "Web pages") is
// the one bench/kernels_cpu writes: a "results" array of records, each with an "op", optionally a
// "dtype", a size ("bytes", else "size", "elements" or "tokens") and throughputs named
// "<series>_gbps" (or "<series>_tflops"): "kernel" is the kernel, the others are its peers
// (eager reference, copy). A hardware limit — "memory_bandwidth.ceiling_gbps", "peak_gbps" or
// "peak_tflops" — adds a reference line and a fraction-of-the-limit chart.
#pragma once

#include <string>
#include <vector>

#include "serve/web/svg_chart.h"

namespace khub::serve::web {

struct BenchReport {
  std::string file;
  std::string title;  // "benchmark", else the file name
  std::string date;
  std::string device;   // one line
  std::string problem;  // why the file yields no chart ("" when it does)
  std::vector<LineChart> charts;
};

// Parses one results file; never throws (a bad file gives a report with `problem` set).
BenchReport bench_report(const std::string& file, const std::string& text);

}  // namespace khub::serve::web
