// Benchmark results -> charts (benchmarks.h).
#include "serve/web/benchmarks.h"

#include <map>
#include <nlohmann/json.hpp>

namespace khub::serve::web {

namespace {

using json = nlohmann::json;

std::string one_line(const json& j) {
  if (j.is_string()) return j.get<std::string>();
  if (j.is_object()) {
    std::string out;
    for (const char* k : {"name", "gpu", "cpu", "device", "kernel_isa", "cores"}) {
      auto it = j.find(k);
      if (it == j.end()) continue;
      if (!out.empty()) out += ", ";
      out += std::string(k) + " " + (it->is_string() ? it->get<std::string>() : it->dump());
    }
    return out.empty() ? j.dump() : out;
  }
  return j.is_null() ? "" : j.dump();
}

double number_at(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : 0;
}

}  // namespace

BenchReport bench_report(const std::string& file, const std::string& text) {
  BenchReport r;
  r.file = file;
  r.title = file.substr(file.rfind('/') + 1);
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    r.problem = "not a JSON object";
    return r;
  }
  if (j.contains("benchmark") && j["benchmark"].is_string()) r.title = j["benchmark"];
  if (j.contains("date")) r.date = one_line(j["date"]);
  if (j.contains("device")) r.device = one_line(j["device"]);
  auto results = j.find("results");
  if (results == j.end() || !results->is_array()) {
    r.problem = "no \"results\" array (expected records with op, a size and <series>_gbps)";
    return r;
  }
  double ceiling_gbps = j.contains("memory_bandwidth") && j["memory_bandwidth"].is_object()
                            ? number_at(j["memory_bandwidth"], "ceiling_gbps")
                            : 0;
  if (ceiling_gbps <= 0) ceiling_gbps = number_at(j, "peak_gbps");
  double ceiling_tflops = number_at(j, "peak_tflops");

  struct Group {
    std::string unit;  // "gbps" or "tflops"
    std::string x_key;
    std::map<std::string, std::vector<ChartPoint>> series;  // name -> points
  };
  std::map<std::string, Group> groups;  // "op dtype" -> group
  std::vector<std::string> order;
  for (const auto& rec : *results) {
    if (!rec.is_object()) continue;
    std::string op =
        rec.contains("op") && rec["op"].is_string() ? rec["op"].get<std::string>() : "results";
    std::string dtype =
        rec.contains("dtype") && rec["dtype"].is_string() ? rec["dtype"].get<std::string>() : "";
    std::string x_key;
    for (const char* k : {"bytes", "size", "elements", "tokens"}) {
      if (rec.contains(k) && rec[k].is_number()) {
        x_key = k;
        break;
      }
    }
    if (x_key.empty()) continue;
    double x = rec[x_key].get<double>();
    for (const auto& [key, value] : rec.items()) {
      if (!value.is_number()) continue;
      for (std::string unit : {"gbps", "tflops"}) {
        std::string suffix = "_" + unit;
        if (key.size() <= suffix.size() ||
            key.compare(key.size() - suffix.size(), suffix.size(), suffix) != 0) {
          continue;
        }
        std::string gkey = op + (dtype.empty() ? "" : " " + dtype) + " (" + unit + ")";
        auto [it, fresh] = groups.try_emplace(gkey);
        if (fresh) {
          order.push_back(gkey);
          it->second.unit = unit;
          it->second.x_key = x_key;
        }
        if (it->second.x_key != x_key) continue;
        it->second.series[key.substr(0, key.size() - suffix.size())].push_back(
            {x, value.get<double>()});
      }
    }
  }
  if (order.empty()) {
    r.problem =
        "no record has a size (bytes, size, elements, tokens) and a <series>_gbps or "
        "<series>_tflops number";
    return r;
  }
  int n = 0;
  for (const auto& gkey : order) {
    const Group& g = groups[gkey];
    std::string label = gkey.substr(0, gkey.rfind(" ("));
    bool gb = g.unit == "gbps";
    double ceiling = gb ? ceiling_gbps : ceiling_tflops;
    LineChart c;
    c.id = "chart-" + std::to_string(n++);
    c.title = label + ": throughput vs size";
    c.x_label = g.x_key;
    c.y_label = gb ? "GB/s" : "TFLOP/s";
    c.log_x = true;
    c.x_is_bytes = g.x_key == "bytes";
    // The kernel first, so that it always gets the first colour.
    if (auto k = g.series.find("kernel"); k != g.series.end())
      c.series.push_back({"kernel", k->second});
    for (const auto& [name, pts] : g.series) {
      if (name != "kernel") c.series.push_back({name, pts});
    }
    if (ceiling > 0) {
      c.reference_y = ceiling;
      c.reference_label = "hardware limit " + std::to_string(static_cast<int>(ceiling + 0.5)) +
                          (gb ? " GB/s" : " TFLOP/s");
      LineChart f = c;
      f.id = "chart-" + std::to_string(n++);
      f.title = label + ": fraction of the hardware limit";
      f.y_label = "fraction of " + std::string(gb ? "memory bandwidth" : "peak compute");
      f.reference_y = 1.0;
      f.reference_label = "limit";
      for (auto& s : f.series) {
        for (auto& p : s.points) p.y /= ceiling;
      }
      r.charts.push_back(std::move(c));
      r.charts.push_back(std::move(f));
    } else {
      r.charts.push_back(std::move(c));
    }
  }
  return r;
}

}  // namespace khub::serve::web
