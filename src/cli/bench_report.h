// Shared by benchmark commands: the facts every bench/results JSON carries (device, date, commit).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace khub::cli {

// {"device": CPU model and core count, "date": UTC ISO date, "commit": git HEAD (+ "-dirty")}.
nlohmann::json bench_environment();
// Writes j to path (creating parent folders) and prints where.
void write_bench_json(const std::string& path, const nlohmann::json& j);
// bench/results/<date>-<name>.json
std::string default_bench_path(const std::string& name);

}  // namespace khub::cli
