// khub_bench_web: how fast `khub serve` renders the repo index (src/serve/web, docs/design.md
// §6.3). Writes N generated kernel repos (tests/serve_web/web_fixture.h) into a temporary hub,
// then measures (a) render_index_page in-process: cold (first render: revision summaries built),
// warm (median of the repeats within the catalog's revalidation interval: no file system access)
// and revalidating (the clock stepped past the interval before each render: every listing, refs
// and signature stamp checked, as the first request after an idle interval pays), and (b) GET /
// over loopback from an in-process server with Accept-Encoding: gzip (time to the last byte,
// bytes on the wire), back to back and spaced past the interval, and (c) the first GET / of a
// server started 1.5 s before, without and with the catalog's prewarm. The budget for
// N = 1000: < 50 ms on the server, < 200 KB over the wire.
// --signed signs every variant with a key the process's trust policy trusts, so the index shows
// "signed" badges and each revalidation re-checks the signature folders
// (HubStore::signature_stamp). --out FILE writes the results as JSON (cli/bench_report.h: device,
// date, commit; --device TEXT names the machine instead of its CPU model).
// Usage: khub_bench_web [--repos N] [--repeats N] [--signed] [--out FILE] [--device TEXT]
#include <httplib.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "cli/bench_report.h"
#include "loader/signature.h"
#include "loader/trust_policy.h"
#include "serve/hub_server.h"
#include "serve/web/site.h"
#include "web_fixture.h"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  int repos = 1000, repeats = 21;
  bool sign = false;
  std::string out_path, device;
  for (int i = 1; i < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--signed") {
      sign = true;
      --i;
    } else if (i + 1 >= argc) {
      std::fprintf(stderr, "%s needs a value\n", argv[i]);
      return 2;
    } else if (a == "--repos") {
      repos = std::atoi(argv[i + 1]);
    } else if (a == "--repeats") {
      repeats = std::max(1, std::atoi(argv[i + 1]));
    } else if (a == "--out") {
      out_path = argv[i + 1];
    } else if (a == "--device") {
      device = argv[i + 1];
    } else {
      std::fprintf(stderr,
                   "unknown argument %s (expected --repos N, --repeats N, --signed, --out FILE, "
                   "--device TEXT)\n",
                   argv[i]);
      return 2;
    }
  }
  std::string tmpl = (fs::temp_directory_path() / "khub-webbench-XXXXXX").string();
  fs::path root = ::mkdtemp(tmpl.data());
  khub::test::write_bulk_repos(root, repos);
  if (sign) {
    auto key = khub::loader::SigningKey::generate();
    std::ofstream(root / ".policy.toml")
        << "[[keys]]\npublic-key = \"" << key.public_key().text() << "\"\nrepos = [\"bulk/*\"]\n";
    khub::loader::set_trust_overrides({{root / ".policy.toml"}, false});
    for (const auto& org : fs::directory_iterator(root / "bulk")) {
      for (const auto& rev : fs::directory_iterator(org.path() / "revisions")) {
        for (const auto& v : fs::directory_iterator(rev.path() / "build")) {
          std::string repo = "bulk/" + org.path().filename().string();
          khub::loader::write_signature(
              v.path(), key,
              khub::loader::statement_for_folder(v.path(), repo, rev.path().filename().string(),
                                                 v.path().filename().string()));
        }
      }
    }
  }

  khub::serve::HubStore store(root);
  khub::serve::web::Catalog catalog(store);
  // The catalog's clock, stepped by hand: still (warm) or past the interval (revalidating).
  auto clock = khub::serve::web::Catalog::Clock::now();
  catalog.set_clock([&clock] { return clock; });
  auto t0 = Clock::now();
  std::string page = khub::serve::web::render_index_page(catalog, {}, false);
  double cold = ms_since(t0);
  std::vector<double> warm, revalidating;
  for (int i = 0; i < repeats; ++i) {
    t0 = Clock::now();
    page = khub::serve::web::render_index_page(catalog, {}, false);
    warm.push_back(ms_since(t0));
    clock += khub::serve::web::Catalog::kRevalidateAfter;
    t0 = Clock::now();
    page = khub::serve::web::render_index_page(catalog, {}, false);
    revalidating.push_back(ms_since(t0));
  }

  khub::serve::ServeOptions o;
  o.root = root;
  o.log = [](const std::string&) {};
  // (c) The first GET / of a freshly started server, 1.5 s after start (a user arriving after
  // `khub serve` came up): without the catalog's prewarm (every summary built by that request) and
  // with it (ServeOptions::web_prewarm, the default).
  double first_get[2] = {0, 0};
  for (int warm = 0; warm < 2; ++warm) {
    khub::serve::ServeOptions q = o;
    q.web_prewarm = warm == 1;
    khub::serve::HubServer s(q);
    s.start();
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    httplib::Client cc("127.0.0.1", s.port());
    t0 = Clock::now();
    auto r = cc.Get("/");
    first_get[warm] = ms_since(t0);
    if (!r || r->status != 200) {
      std::fprintf(stderr, "first GET / failed\n");
      return 1;
    }
    s.stop();
  }
  khub::serve::HubServer server(o);
  server.start();
  httplib::Client c("127.0.0.1", server.port());
  c.set_decompress(false);
  c.Get("/");  // summaries built
  std::vector<double> http, http_spaced;
  size_t wire = 0;
  std::string encoding;
  for (int spaced = 0; spaced < 2; ++spaced) {
    for (int i = 0; i < repeats; ++i) {
      if (spaced) std::this_thread::sleep_for(o.web_revalidate + std::chrono::milliseconds(20));
      t0 = Clock::now();
      auto r = c.Get("/", {{"Accept-Encoding", "gzip"}});
      (spaced ? http_spaced : http).push_back(ms_since(t0));
      if (!r || r->status != 200) {
        std::fprintf(stderr, "GET / failed\n");
        return 1;
      }
      wire = r->body.size();
      encoding = r->get_header_value("Content-Encoding");
    }
  }
  server.stop();
  fs::remove_all(root);
  if (sign && page.find("sig signed") == std::string::npos) {
    std::fprintf(stderr, "--signed: the index shows no signed badge\n");
    return 1;
  }
  std::printf("index of %d%s repos: %zu bytes of HTML, %zu bytes over the wire (%s)\n", repos,
              sign ? " signed" : "", page.size(), wire,
              encoding.empty() ? "identity" : encoding.c_str());
  std::printf(
      "render in-process: cold %.1f ms, warm median %.2f ms, revalidating (past the %lld ms "
      "interval) median %.2f ms\n",
      cold, median(warm), static_cast<long long>(o.web_revalidate.count()), median(revalidating));
  std::printf("GET / over loopback with gzip: back to back median %.2f ms, spaced median %.2f ms\n",
              median(http), median(http_spaced));
  std::printf("first GET / 1.5 s after the server started: %.1f ms without prewarm, %.1f ms with\n",
              first_get[0], first_get[1]);
  if (!out_path.empty()) {
    nlohmann::json j = khub::cli::bench_environment();
    if (!device.empty()) j["device"] = device;
    j["benchmark"] = "khub_bench_web: the index page of khub serve";
    j["repos"] = repos;
    j["signed"] = sign;
    j["repeats"] = repeats;
    j["revalidate_ms"] = o.web_revalidate.count();
    j["results"] = {
        {"html_bytes", page.size()},
        {"wire_bytes", wire},
        {"wire_encoding", encoding.empty() ? "identity" : encoding},
        {"render_cold_ms", cold},
        {"render_warm_ms_median", median(warm)},
        {"render_revalidating_ms_median", median(revalidating)},
        {"http_back_to_back_ms_median", median(http)},
        {"http_spaced_ms_median", median(http_spaced)},
        {"first_get_no_prewarm_ms", first_get[0]},
        {"first_get_prewarm_ms", first_get[1]},
    };
    khub::cli::write_bench_json(out_path, j);
  }
  return 0;
}
