#include "cli/bench_report.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <thread>

#include "core/env.h"
#include "io/atomic_file.h"

namespace khub::cli {
namespace {

std::string command_output(const char* cmd) {
  std::string out;
  if (FILE* p = popen(cmd, "r")) {
    char buf[256];
    while (std::fgets(buf, sizeof buf, p)) out += buf;
    pclose(p);
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

std::string today() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", std::gmtime(&t));
  return buf;
}

}  // namespace

nlohmann::json bench_environment() {
  std::string cpu = "unknown CPU";
  std::ifstream info("/proc/cpuinfo");
  for (std::string line; std::getline(info, line);) {
    if (line.rfind("model name", 0) == 0) {
      cpu = line.substr(line.find(':') + 2);
      break;
    }
  }
  std::time_t t = std::time(nullptr);
  char iso[32];
  std::strftime(iso, sizeof iso, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  std::string commit = command_output("git rev-parse --short HEAD 2>/dev/null");
  // Binaries built in one checkout and run elsewhere (the GPU machine) carry their commit here.
  if (std::optional<std::string> env = env::get("KHUB_GIT_COMMIT"); commit.empty() && env) {
    commit = *env;
  }
  if (!commit.empty() &&
      !command_output("git status --porcelain --untracked-files=no 2>/dev/null").empty()) {
    commit += "-dirty";
  }
  return {{"device", cpu + " (" + std::to_string(std::thread::hardware_concurrency()) + " cores)"},
          {"date", iso},
          {"commit", commit.empty() ? "unknown" : commit}};
}

std::string default_bench_path(const std::string& name) {
  return "bench/results/" + today() + "-" + name + ".json";
}

void write_bench_json(const std::string& path, const nlohmann::json& j) {
  std::filesystem::path p(path);
  if (p.has_parent_path()) std::filesystem::create_directories(p.parent_path());
  write_file_atomic(p, j.dump(2) + "\n");
  std::printf("wrote %s\n", path.c_str());
}

}  // namespace khub::cli
