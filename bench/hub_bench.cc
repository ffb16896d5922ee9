// khub_bench_hub: the hub's network path on loopback, against an in-process `khub serve`.
//   - download throughput: one large LFS-style file, and many files in parallel (cold cache);
//   - snapshot resolution for a model using four kernels: cold (refs + info + tree + files),
//     warm by branch (one info request each), warm pinned to commits, and a locked load
//     (locked_variant: zero requests, lock hash + sizes + metadata digest checked).
// Prints a table and writes JSON to bench/results/hub_<date>.json (device, date, git commit).
// Usage: khub_bench_hub [--large-mb N] [--files N] [--file-mb N] [--repeats N] [--out DIR]
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <thread>

#include "hub/get_kernel.h"
#include "hub/http/lockfile.h"
#include "hub/http/snapshot.h"
#include "hub/store/content_hash.h"
#include "serve/hub_server.h"

namespace fs = std::filesystem;
using namespace khub::hub::net;
using Clock = std::chrono::steady_clock;

namespace {

std::string arg(int argc, char** argv, const std::string& name, const std::string& def) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (argv[i] == "--" + name) return argv[i + 1];
  }
  return def;
}

void write_random(const fs::path& p, size_t n, uint32_t seed) {
  fs::create_directories(p.parent_path());
  std::ofstream out(p, std::ios::binary);
  std::mt19937_64 rng(seed);
  std::vector<uint64_t> buf(1 << 17);
  for (size_t done = 0; done < n;) {
    for (auto& x : buf) x = rng();
    size_t k = std::min(n - done, buf.size() * 8);
    out.write(reinterpret_cast<const char*>(buf.data()), k);
    done += k;
  }
}

// Moves a built tree into <hub>/<repo>/revisions/<git tree id> and points `branch` at it.
std::string publish(const fs::path& hub, const std::string& repo, const fs::path& tree,
                    const std::string& branch) {
  std::string rev = git_tree_id(tree);
  fs::create_directories(hub / repo / "revisions");
  fs::create_directories(hub / repo / "refs" / "heads");
  fs::rename(tree, hub / repo / "revisions" / rev);
  std::ofstream(hub / repo / "refs" / "heads" / branch) << rev << "\n";
  return rev;
}

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

std::string shell(const std::string& cmd) {
  std::string out;
  if (FILE* p = popen(cmd.c_str(), "r")) {
    char buf[256];
    while (fgets(buf, sizeof buf, p)) out += buf;
    pclose(p);
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

std::string cpu_name() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  }
  return "unknown";
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Child mode (a fresh process, so the kernel registry is empty): loads each REF with get_kernel
// through the sources of the environment and prints {"total_ms", "per_kernel_ms"}.
int load_kernels_child(const std::string& refs) {
  nlohmann::json per = nlohmann::json::array();
  auto t_all = Clock::now();
  std::stringstream ss(refs);
  std::string ref;
  while (std::getline(ss, ref, ',')) {
    auto t0 = Clock::now();
    khub::hub::get_kernel(ref);
    per.push_back(ms_since(t0));
  }
  std::printf(
      "%s\n",
      nlohmann::json({{"total_ms", ms_since(t_all)}, {"per_kernel_ms", per}}).dump().c_str());
  return 0;
}

// Runs this binary in child mode with `env` and returns the child's JSON.
nlohmann::json run_child(const std::string& env, const std::string& refs) {
  std::string exe = fs::read_symlink("/proc/self/exe").string();
  std::string out = shell("env " + env + " '" + exe + "' --load-kernels " + refs);
  auto j = nlohmann::json::parse(out, nullptr, false);
  if (j.is_discarded()) throw std::runtime_error("load child failed: " + out);
  return j;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::string(argv[1]) == "--load-kernels") {
    try {
      return load_kernels_child(argv[2]);
    } catch (const std::exception& e) {
      std::printf("error: %s\n", e.what());
      return 1;
    }
  }
  size_t large_mb = std::stoul(arg(argc, argv, "large-mb", "256"));
  int n_files = std::stoi(arg(argc, argv, "files", "64"));
  size_t file_mb = std::stoul(arg(argc, argv, "file-mb", "4"));
  int repeats = std::stoi(arg(argc, argv, "repeats", "3"));
  fs::path out_dir = arg(argc, argv, "out", "bench/results");

  fs::path work = fs::temp_directory_path() / ("khub-bench-hub-" + std::to_string(getpid()));
  fs::path hub = work / "hub";
  std::printf("preparing the hub in %s ...\n", work.c_str());
  write_random(work / "t1" / "build" / "v" / "big.so", large_mb << 20, 1);
  publish(hub, "bench/large", work / "t1", "main");
  for (int i = 0; i < n_files; ++i) {
    write_random(work / "t2" / "build" / "v" / ("part" + std::to_string(i) + ".bin"), file_mb << 20,
                 100 + i);
  }
  publish(hub, "bench/many", work / "t2", "main");
  const char* kernels[] = {"rmsnorm", "activation", "rotary", "attention"};
  const std::string variant = "khub1-cpu-x86_64-linux";
  for (int k = 0; k < 4; ++k) {
    fs::path t = work / ("k" + std::to_string(k));
    fs::path v = t / "build" / variant;
    write_random(v / ("lib" + std::string(kernels[k]) + ".so"), 300 << 10, 1000 + k);
    std::ofstream(v / "layers.json") << "{\"layers\": [\"" << kernels[k] << "\"]}";
    nlohmann::json digest = nlohmann::json::object();
    for (const auto& f : fs::directory_iterator(v)) {
      Hasher h(HashAlgo::kSha256);
      std::ifstream in(f.path(), std::ios::binary);
      std::string s((std::istreambuf_iterator<char>(in)), {});
      h.update(s);
      digest[f.path().filename().string()] = base64_encode(h.finish_raw());
    }
    std::ofstream(v / "metadata.json")
        << nlohmann::json(
               {{"name", kernels[k]}, {"digest", {{"algorithm", "sha256"}, {"files", digest}}}})
               .dump();
    std::ofstream(t / "README.md") << "# " << kernels[k] << "\n";
    publish(hub, std::string("khub-community/") + kernels[k], t, "v1");
  }

  khub::serve::ServeOptions so;
  so.root = hub;
  so.threads = 32;
  so.log = [](const std::string&) {};
  khub::serve::HubServer server(so);
  server.start();
  auto config_for = [&](const fs::path& cache) {
    HubConfig c;
    c.endpoint = server.url();
    c.cache_root = cache;
    c.user_agent = "khub-bench";
    c.max_workers = 8;
    c.progress = false;
    return c;
  };
  auto fresh_cache = [&](int i) {
    fs::path c = work / ("cache" + std::to_string(i));
    fs::remove_all(c);
    return c;
  };

  nlohmann::json results = nlohmann::json::object();
  std::vector<std::string> table;
  auto throughput = [&](const std::string& name, const std::string& repo_id, double total_mb,
                        bool durable) {
    std::vector<double> mbps;
    for (int r = 0; r < repeats; ++r) {
      HubConfig cfg = config_for(fresh_cache(r));
      cfg.durable = durable;
      RemoteRepo repo(cfg, RepoRef{RepoType::kKernel, repo_id});
      SnapshotRequest req;
      req.revision = "main";
      auto t0 = Clock::now();
      snapshot_download(repo, req);
      mbps.push_back(total_mb / (ms_since(t0) / 1000.0));
    }
    double best = *std::max_element(mbps.begin(), mbps.end());
    results[name] = {{"mb", total_mb},
                     {"mb_per_s_best", best},
                     {"mb_per_s_median", median(mbps)},
                     {"repeats", repeats}};
    char line[200];
    std::snprintf(line, sizeof line, "%-44s %10.0f MB/s (median %.0f)", name.c_str(), best,
                  median(mbps));
    table.push_back(line);
  };
  double large_total = double(large_mb << 20) / 1e6;
  double many_total = double(size_t(n_files) * (file_mb << 20)) / 1e6;
  throughput("download_one_large_file", "bench/large", large_total, true);
  throughput("download_many_files_8_workers", "bench/many", many_total, true);
  throughput("download_one_large_file_no_fsync", "bench/large", large_total, false);
  throughput("download_many_files_8_workers_no_fsync", "bench/many", many_total, false);

  // A model using four kernels.
  std::vector<double> cold, warm_branch, warm_commit, locked;
  std::vector<KernelLock> locks;
  for (int r = 0; r < repeats; ++r) {
    fs::path cache = fresh_cache(100 + r);
    HubConfig cfg = config_for(cache);
    std::vector<std::string> commits;
    auto t0 = Clock::now();
    for (const char* k : kernels) {
      RemoteRepo repo(cfg, RepoRef{RepoType::kKernel, std::string("khub-community/") + k});
      SnapshotRequest req;
      req.revision = "v1";
      req.allow_prefixes = {"build/" + variant};
      commits.push_back(snapshot_download(repo, req).commit);
    }
    cold.push_back(ms_since(t0));
    t0 = Clock::now();
    for (const char* k : kernels) {
      RemoteRepo repo(cfg, RepoRef{RepoType::kKernel, std::string("khub-community/") + k});
      SnapshotRequest req;
      req.revision = "v1";
      req.allow_prefixes = {"build/" + variant};
      snapshot_download(repo, req);
    }
    warm_branch.push_back(ms_since(t0));
    t0 = Clock::now();
    for (int i = 0; i < 4; ++i) {
      RemoteRepo repo(cfg, RepoRef{RepoType::kKernel, std::string("khub-community/") + kernels[i]});
      SnapshotRequest req;
      req.revision = commits[i];
      req.allow_prefixes = {"build/" + variant};
      snapshot_download(repo, req);
    }
    warm_commit.push_back(ms_since(t0));
    if (locks.empty()) {
      for (const char* k : kernels) {
        RemoteRepo repo(cfg, RepoRef{RepoType::kKernel, std::string("khub-community/") + k});
        KernelDependency dep;
        dep.repo = repo.repo();
        dep.spec = "1";
        locks.push_back(lock_kernel(repo, dep));
      }
    }
    HubConfig offline = cfg;
    offline.offline = true;
    offline.endpoint = "http://127.0.0.1:9";  // a request would fail: locked loads make none
    t0 = Clock::now();
    for (const auto& l : locks) locked_variant(offline, l, variant);
    locked.push_back(ms_since(t0));
  }
  auto add = [&](const std::string& name, const std::vector<double>& v, const char* what) {
    results[name] = {{"ms_median", median(v)},
                     {"ms_min", *std::min_element(v.begin(), v.end())},
                     {"what", what}};
    char line[200];
    std::snprintf(line, sizeof line, "%-44s %10.2f ms (min %.2f)", name.c_str(), median(v),
                  *std::min_element(v.begin(), v.end()));
    table.push_back(line);
  };
  add("four_kernels_cold_snapshot", cold, "info+tree+3 files per kernel, fresh cache");
  add("four_kernels_warm_by_branch", warm_branch, "one info request per kernel");
  add("four_kernels_warm_by_commit", warm_commit, "no request");
  add("four_kernels_locked_load", locked,
      "locked_variant x4: lock hash, sizes, metadata digest; no request");

  // A model using four kernels, loaded for real (resolve, select, download, verify, dlopen) in
  // fresh processes: cold (empty cache), warm (cache filled, refs checked online), and locked
  // (pinned commits with HF_HUB_OFFLINE=1: no request). Needs the khub binary next to this one
  // to build and publish the test kernel.
  fs::path khub_bin = fs::read_symlink("/proc/self/exe").parent_path() / "khub";
  if (fs::exists(khub_bin) && fs::exists("tests/loader/fixtures/scale/build.toml")) {
    std::string kb = "'" + khub_bin.string() + "'";
    shell(kb + " build tests/loader/fixtures/scale --out '" + (work / "scale-built").string() +
          "' 2>&1");
    std::string refs_v, refs_c;
    for (int k = 0; k < 4; ++k) {
      std::string repo = "khub-test/kernel" + std::to_string(k);
      std::string out = shell(kb + " publish '" + (work / "scale-built").string() + "' --hub '" +
                              hub.string() + "' --repo " + repo + " --tag v1.0.0 --json");
      auto pj = nlohmann::json::parse(out, nullptr, false);
      if (pj.is_discarded() || !pj.contains("revision")) {
        std::printf("skipping kernel loads: publish failed: %s\n", out.c_str());
        refs_v.clear();
        break;
      }
      refs_v += (k ? "," : "") + repo + "@v1.0.0";
      refs_c += (k ? "," : "") + repo + "@" + pj["revision"].get<std::string>();
    }
    if (!refs_v.empty()) {
      std::vector<double> cold_load, warm_load, locked_load;
      for (int r = 0; r < repeats; ++r) {
        fs::path cache = fresh_cache(200 + r);
        std::string env = "HF_ENDPOINT=" + server.url() + " KERNELS_CACHE='" + cache.string() +
                          "' KHUB_HUB_PATH= LOCAL_KERNELS= HF_TOKEN= KHUB_LOG_LEVEL=error";
        cold_load.push_back(run_child(env, refs_v)["total_ms"].get<double>());
        warm_load.push_back(run_child(env, refs_v)["total_ms"].get<double>());
        locked_load.push_back(
            run_child(env + " HF_HUB_OFFLINE=1", refs_c)["total_ms"].get<double>());
      }
      add("four_kernels_load_cold", cold_load,
          "get_kernel x4 in a fresh process, empty cache: resolve, select, download, verify, "
          "dlopen");
      add("four_kernels_load_warm", warm_load,
          "get_kernel x4 in a fresh process, cache filled: refs online, receipt, dlopen");
      add("four_kernels_load_locked_offline", locked_load,
          "get_kernel x4 at pinned commits, HF_HUB_OFFLINE=1: no request, receipt, dlopen");
    }
  }
  server.stop();
  fs::remove_all(work);

  struct utsname u;
  uname(&u);
  char date[32];
  std::time_t now = std::time(nullptr);
  std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  nlohmann::json doc = {
      {"benchmark", "hub_http"},
      {"device",
       {{"cpu", cpu_name()},
        {"cores", std::thread::hardware_concurrency()},
        {"os", std::string(u.sysname) + " " + u.release}}},
      {"date", date},
      {"git_commit", shell("git rev-parse HEAD 2>/dev/null")},
      {"transport", "loopback HTTP/1.1, in-process khub serve (" + std::to_string(so.threads) +
                        " threads), libcurl client, sha256/git-sha1 verified while writing"},
      {"results", results}};
  fs::create_directories(out_dir);
  std::string day(date, 10);
  fs::path out = out_dir / ("hub_" + day + ".json");
  std::ofstream(out) << doc.dump(2) << "\n";
  for (const auto& l : table) std::printf("%s\n", l.c_str());
  std::printf("wrote %s\n", out.c_str());
  return 0;
}
