// Tokenizer throughput: encode MB/s on one thread and encode_batch MB/s on all cores, on a
// reproducible >= 5 MB mixed corpus built from tests/tokenizer/data/corpus.jsonl by the same
// generator as scripts/golden/tokenizer_golden.py (which measures HF `tokenizers` on the same text;
// equal token counts show both encoded the same corpus the same way).
//
//   tokenizer_bench --tok qwen3=DIR [--tok NAME=DIR ...] [--corpus FILE] [--mb 6]
//                   [--threads N] [--out bench/results/FILE.json] [--hf hf_bench.json]
//                   [--commit SHA]
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "cli/bench_report.h"
#include "tokenizer/tokenizer.h"

namespace {

std::vector<std::string> bench_corpus(const std::vector<std::string>& texts, size_t min_bytes,
                                      size_t* total) {
  uint64_t state = 0x2545F4914F6CDD1DULL;
  auto next = [&] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return state >> 33;
  };
  std::vector<std::string> docs;
  *total = 0;
  while (*total < min_bytes) {
    std::string doc;
    uint64_t parts = next() % 24 + 1;
    for (uint64_t p = 0; p < parts; ++p) {
      if (p) doc += " ";
      uint64_t r = next() % 5;
      if (r == 0) {
        doc += std::to_string(next());
      } else if (r == 1) {
        uint64_t n = next() % 10 + 1;
        for (uint64_t k = 0; k < n; ++k) doc.push_back(static_cast<char>('a' + next() % 26));
      } else {
        doc += texts[next() % texts.size()];
      }
    }
    *total += doc.size();
    docs.push_back(std::move(doc));
  }
  return docs;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::pair<std::string, std::string>> toks;
  std::string corpus_path = "tests/tokenizer/data/corpus.jsonl", out_path, hf_path, commit;
  double mb = 6;
  int threads = static_cast<int>(std::thread::hardware_concurrency());
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--tok") {
      auto eq = v.find('=');
      if (eq == std::string::npos) {
        std::fprintf(stderr, "--tok expects NAME=DIR\n");
        return 2;
      }
      toks.emplace_back(v.substr(0, eq), v.substr(eq + 1));
    } else if (k == "--corpus") {
      corpus_path = v;
    } else if (k == "--mb") {
      mb = std::stod(v);
    } else if (k == "--threads") {
      threads = std::stoi(v);
    } else if (k == "--out") {
      out_path = v;
    } else if (k == "--commit") {  // when the binary runs outside its checkout
      commit = v;
    } else if (k == "--hf") {
      hf_path = v;
    } else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return 2;
    }
  }
  if (toks.empty()) {
    std::fprintf(stderr, "usage: tokenizer_bench --tok NAME=DIR [...] [--mb 6] [--out FILE]\n");
    return 2;
  }
  std::vector<std::string> texts;
  {
    std::ifstream in(corpus_path);
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) texts.push_back(nlohmann::json::parse(line).get<std::string>());
  }
  if (texts.empty()) {
    std::fprintf(stderr, "empty corpus %s\n", corpus_path.c_str());
    return 1;
  }
  size_t total = 0;
  auto docs = bench_corpus(texts, static_cast<size_t>(mb * 1e6), &total);
  nlohmann::json hf;
  if (!hf_path.empty()) hf = nlohmann::json::parse(std::ifstream(hf_path));

  nlohmann::json result = khub::cli::bench_environment();
  result["benchmark"] = "tokenizer encode throughput";
  if (!commit.empty()) result["commit"] = commit;
  result["corpus_bytes"] = total;
  result["docs"] = docs.size();
  result["threads"] = threads;
  for (const auto& [name, dir] : toks) {
    std::string file = std::filesystem::is_directory(dir) ? dir + "/tokenizer.json" : dir;
    auto tok = khub::Tokenizer::from_file(file);
    for (size_t i = 0; i < 200 && i < docs.size(); ++i) tok->encode(docs[i], false);  // warm up
    auto t0 = std::chrono::steady_clock::now();
    size_t n_single = 0;
    for (const auto& d : docs) n_single += tok->encode(d, false).size();
    double single_s = seconds_since(t0);
    t0 = std::chrono::steady_clock::now();
    auto batch = tok->encode_batch(docs, false, threads);
    double batch_s = seconds_since(t0);
    size_t n_batch = 0;
    for (const auto& b : batch) n_batch += b.size();
    nlohmann::json r = {{"single_mb_s", total / 1e6 / single_s},
                        {"batch_mb_s", total / 1e6 / batch_s},
                        {"tokens", n_single},
                        {"batch_tokens", n_batch}};
    if (hf.contains("results") && hf["results"].contains(name)) {
      const auto& h = hf["results"][name];
      r["hf_single_mb_s"] = h["single_mb_s"];
      r["hf_batch_mb_s"] = h["batch_mb_s"];
      r["hf_tokens"] = h["tokens"];
      r["single_speedup_vs_hf"] = r["single_mb_s"].get<double>() / h["single_mb_s"].get<double>();
      r["batch_speedup_vs_hf"] = r["batch_mb_s"].get<double>() / h["batch_mb_s"].get<double>();
      r["same_token_count_as_hf"] = h["tokens"].get<size_t>() == n_single;
    }
    std::printf("%-8s single %.2f MB/s, batch(%d threads) %.2f MB/s, %zu tokens\n", name.c_str(),
                r["single_mb_s"].get<double>(), threads, r["batch_mb_s"].get<double>(), n_single);
    result["results"][name] = r;
  }
  if (!hf.is_null()) result["hf"] = {{"tokenizers_version", hf.value("tokenizers_version", "")}};
  std::string s = result.dump(1);
  if (!out_path.empty()) {
    std::filesystem::path p(out_path);
    if (p.has_parent_path()) std::filesystem::create_directories(p.parent_path());
    std::ofstream(out_path) << s << "\n";
    std::printf("wrote %s\n", out_path.c_str());
  } else {
    std::printf("%s\n", s.c_str());
  }
  return 0;
}
