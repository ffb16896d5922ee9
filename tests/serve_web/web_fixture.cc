// Hub directories for the web tests (web_fixture.h).
#include "web_fixture.h"

#include <fstream>
#include <nlohmann/json.hpp>

#include "hub/store/content_hash.h"
#include "serve/hub_store.h"

namespace khub::test {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

std::string bytes_of(size_t n, unsigned seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + seed * 7919) & 0xff);
  return s;
}

json rmsnorm_manifest(const std::string& backend, const std::string& layer_name) {
  json fwd_args = json::array({
      {{"name", "x"},
       {"role", "input"},
       {"dtypes", "f32,bf16,f16"},
       {"ndim", -1},
       {"flags", json::array({"contiguous"})}},
      {{"name", "weight"},
       {"role", "input"},
       {"dtypes", "same:x"},
       {"ndim", 1},
       {"flags", json::array()}},
      {{"name", "out"},
       {"role", "output"},
       {"dtypes", "same:x"},
       {"ndim", -1},
       {"flags", json::array()}},
  });
  return {
      {"abi-major", 1},
      {"abi-minor", 0},
      {"kernel-name", "rmsnorm"},
      {"backend", backend},
      {"functions",
       json::array(
           {{{"name", "rms_norm_fwd"},
             {"symbol", "khub_rmsnorm_fwd"},
             {"args", fwd_args},
             {"attrs",
              json::array(
                  {{{"name", "eps"}, {"kind", "float"}, {"required", false}, {"default", 1e-6}}})},
             {"dtypes", "f32,bf16,f16"},
             {"flags", json::array({"can-capture", "deterministic"})},
             {"workspace", false},
             {"constraints", {{"hidden", {{"multiple-of", 8}, {"max", 65536}}}}}},
            {{"name", "rms_norm_bwd"},
             {"symbol", "khub_rmsnorm_bwd"},
             {"args", json::array()},
             {"attrs", json::array()},
             {"dtypes", "f32,bf16"},
             {"flags", json::array()},
             {"workspace", true},
             {"constraints", json::object()}}})},
      {"layers", json::array({{{"name", layer_name},
                               {"forward", "rms_norm_fwd"},
                               {"backward", "rms_norm_bwd"},
                               {"has-backward", true},
                               {"can-capture", true}},
                              {{"name", "FusedAddRMSNorm"},
                               {"forward", "rms_norm_fwd"},
                               {"backward", nullptr},
                               {"has-backward", false},
                               {"can-capture", false}}})}};
}

// A variant folder: the library, a JSON file and a metadata.json whose digest lists them.
void add_variant(std::vector<FixtureFile>& files, const std::string& kernel,
                 const std::string& variant, const std::string& backend, const json& archs,
                 const json& manifest, unsigned seed, const std::string& license = "Apache-2.0") {
  std::string dir = "build/" + variant + "/";
  std::vector<FixtureFile> mine = {
      {dir + "libkhub_" + kernel + ".so", bytes_of(2048 + seed * 64, seed)},
      {dir + "layers.json", json({{"seed", seed}}).dump()}};
  json digest = json::object();
  for (const auto& f : mine) {
    hub::net::Hasher h(hub::net::HashAlgo::kSha256);
    h.update(f.content);
    digest[f.path.substr(dir.size())] = hub::net::base64_encode(h.finish_raw());
  }
  json backend_json = {{"type", backend}};
  if (!archs.is_null()) backend_json["archs"] = archs;
  json meta = {{"name", kernel},
               {"version", 1},
               {"license", license},
               {"backend", backend_json},
               {"digest", {{"algorithm", "sha256"}, {"files", digest}}},
               {"library", "libkhub_" + kernel + ".so"}};
  if (!manifest.is_null()) meta["manifest"] = manifest;
  mine.push_back({dir + "metadata.json", meta.dump(1)});
  files.insert(files.end(), mine.begin(), mine.end());
}

// bench/results in the format bench/kernels_cpu writes: 3 sizes x (kernel, eager, copy) for
// RMSNorm f32 (9 points on the throughput chart) and 2 sizes for SiluAndMul.
std::string bench_json(const std::string& op_name, const std::string& title) {
  json results = json::array();
  double sizes[] = {12288, 196608, 3145728};
  for (int i = 0; i < 3; ++i) {
    results.push_back({{"op", op_name},
                       {"dtype", "f32"},
                       {"bytes", sizes[i]},
                       {"kernel_gbps", 20.0 + 8 * i},
                       {"eager_gbps", 10.0 + 3 * i},
                       {"copy_gbps", 30.0 + 4 * i},
                       {"tokens", 1 << (2 * i)}});
  }
  for (int i = 0; i < 2; ++i) {
    results.push_back({{"op", "SiluAndMul"},
                       {"dtype", "bf16"},
                       {"bytes", sizes[i]},
                       {"kernel_gbps", 15.0 + 5 * i},
                       {"eager_gbps", 9.0 + 2 * i}});
  }
  return json({{"benchmark", title},
               {"date", "2026-12-07"},
               {"device", {{"cpu", "AMD EPYC"}, {"cores", 2}}},
               {"memory_bandwidth", {{"ceiling_gbps", 44.5}}},
               {"results", results}})
      .dump(1);
}

}  // namespace

std::string write_revision(const fs::path& root, const std::string& repo_id,
                           const std::vector<FixtureFile>& files,
                           const std::vector<std::string>& branches,
                           const std::vector<std::string>& tags) {
  fs::path repo = root / repo_id;
  fs::path tmp = repo / "revisions" / ".tmp-fixture";
  fs::remove_all(tmp);
  for (const auto& f : files) {
    fs::create_directories((tmp / f.path).parent_path());
    std::ofstream(tmp / f.path, std::ios::binary) << f.content;
  }
  std::string rev = serve::content_revision_id(tmp);
  fs::path final_dir = repo / "revisions" / rev;
  if (fs::exists(final_dir)) {
    fs::remove_all(tmp);
  } else {
    fs::rename(tmp, final_dir);
  }
  auto write_ref = [&](const std::string& kind, const std::string& name) {
    fs::path p = repo / "refs" / kind / name;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << rev << "\n";
  };
  for (const auto& b : branches) write_ref("heads", b);
  for (const auto& t : tags) write_ref("tags", t);
  return rev;
}

void write_demo_hub(const fs::path& root, bool hostile) {
  const std::string readme =
      "# rmsnorm\n\nRMS normalization for khub, in **CPU** and CUDA builds.\n\n"
      "| dtype | supported |\n|---|---|\n| f32 | yes |\n| bf16 | yes |\n\n"
      "```cpp\nauto k = khub::hub::get_kernel(\"khub-community/rmsnorm@v1:RMSNorm\");\n```\n";
  std::vector<FixtureFile> v100 = {{"README.md", readme}};
  add_variant(v100, "rmsnorm", "khub1-cpu-x86_64-linux", "cpu", nullptr,
              rmsnorm_manifest("cpu", "RMSNorm"), 1);
  add_variant(v100, "rmsnorm", "khub1-cu128-x86_64-linux", "cuda", json::array({"8.0", "9.0a"}),
              rmsnorm_manifest("cuda", "RMSNorm"), 2);
  write_revision(root, "khub-community/rmsnorm", v100, {}, {"v1.0.0"});
  std::vector<FixtureFile> v110 = {
      {"README.md", readme + "\nVersion 1.1 adds CUDA 13.\n"},
      {"bench/results/2026-12-07-cpu.json", bench_json("RMSNorm", "rmsnorm on the CPU")}};
  add_variant(v110, "rmsnorm", "khub1-cpu-x86_64-linux", "cpu", nullptr,
              rmsnorm_manifest("cpu", "RMSNorm"), 3);
  add_variant(v110, "rmsnorm", "khub1-cu128-x86_64-linux", "cuda", json::array({"8.0", "9.0a"}),
              rmsnorm_manifest("cuda", "RMSNorm"), 4);
  add_variant(v110, "rmsnorm", "khub1-cu130-x86_64-linux", "cuda",
              json::array({"9.0", "10.0f", "12.0+PTX"}), rmsnorm_manifest("cuda", "RMSNorm"), 5);
  write_revision(root, "khub-community/rmsnorm", v110, {"v1", "main"}, {"v1.1.0"});

  std::vector<FixtureFile> act;
  add_variant(act, "activation", "khub1-cpu-aarch64-linux", "cpu", nullptr, nullptr, 6);
  add_variant(act, "activation", "khub1-rocm64-x86_64-linux", "rocm", json::array({"gfx942"}),
              nullptr, 7);
  write_revision(root, "khub-community/activation", act, {"v1"}, {"v1.0.0"});

  write_revision(root, "acme/tiny-model",
                 {{"config.json", R"({"architectures": ["Qwen3ForCausalLM"], "hidden_size": 64})"},
                  {"model.safetensors", bytes_of(4096, 9)},
                  {"README.md", "# tiny-model\n\nA 64-wide Qwen3 for tests.\n"}},
                 {"main"}, {});

  std::vector<FixtureFile> secret;
  add_variant(secret, "secret", "khub1-cpu-x86_64-linux", "cpu", nullptr, nullptr, 8);
  write_revision(root, "acme/secret-kernel", secret, {"main"}, {});
  std::ofstream(root / "acme/secret-kernel/private");

  if (!hostile) return;
  std::string m = kHostileMarker;
  std::string evil_readme = "# Evil\n\n<script>" + m + "</script>\n\n<img src=x onerror=\"" + m +
                            "\">\n\n[click me](javascript:" + m +
                            ")\n\n<iframe src=\"/\"></iframe>\n";
  std::vector<FixtureFile> evil = {
      {"README.md", evil_readme},
      {"<img src=x onerror=" + m + ">.txt", "hostile file name"},
      {"bench/results/evil.json",
       bench_json("<script>" + m + "</script>", "</title><script>" + m + "</script>")}};
  add_variant(evil, "evil", "khub1-cpu-x86_64-linux", "cpu", nullptr,
              rmsnorm_manifest("cpu", "<img src=x onerror=" + m + ">"), 10,
              "</td><script>" + m + "</script>");
  add_variant(evil, "evil", "<svg onload=" + m + ">", "cpu", nullptr, nullptr, 11);
  write_revision(root, "evil_org/_x-y", evil, {"main", "<svg/onload=" + m + ">"},
                 {"\"><script>" + m + "<"});
  // A folder whose name is no repo id: never listed nor served.
  fs::create_directories(root / "<script>x" / "y" / "refs" / "heads");
}

void write_bulk_repos(const fs::path& root, int n) {
  for (int i = 0; i < n; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "kernel-%04d", i);
    std::vector<FixtureFile> files;
    add_variant(files, "bulk", "khub1-cpu-x86_64-linux", "cpu", nullptr,
                rmsnorm_manifest("cpu", "RMSNorm"), i % 50);
    add_variant(files, "bulk", "khub1-cu130-x86_64-linux", "cuda", json::array({"9.0", "10.0"}),
                rmsnorm_manifest("cuda", "RMSNorm"), i % 50 + 1);
    files.push_back({"README.md", "# kernel " + std::to_string(i) + "\n"});
    write_revision(root, std::string("bulk/") + name, files, {"v1", "main"},
                   {"v1.0." + std::to_string(i % 7)});
  }
}

}  // namespace khub::test
