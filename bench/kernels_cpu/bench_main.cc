// bench_kernels_cpu: the khub-community CPU kernels (the shipped .so files, called through the
// kernel ABI) against the eager per-op reference of eager_ops.h, on hidden 1024-4096 and 1-4096
// tokens, in f32 and bf16; GB/s of the minimal traffic of each op, speedup, and the fraction of
// the machine's measured memory bandwidth. Writes bench/results/<date>-cpu-kernels.json.
//
//   bench_kernels_cpu [--threads N] [--out FILE] [--lib-dir DIR] [--min-time SECONDS] [--quick]
//                     [--only OP_PREFIX] [--shape TOKENSxHIDDEN] [--target-repeats N]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "core/tensor.h"
#include "eager_ops.h"
#include "kernel_library.h"
#include "khub_cpu/isa.h"
#include "khub_cpu/parallel.h"
#include "memory_bandwidth.h"
#include "thread_pool.h"

#ifndef KHUB_KERNEL_LIB_DIR
#define KHUB_KERNEL_LIB_DIR "build/kernels"
#endif

namespace khub_bench {
namespace {

using khub::DType;
using khub::Tensor;
using nlohmann::json;

struct Options {
  int threads = 0;
  std::string out;
  std::string lib_dir = KHUB_KERNEL_LIB_DIR;
  double min_time = 0.1;
  bool quick = false;
  std::string only;                            // run only ops whose name starts with this
  int64_t shape_tokens = 0, shape_hidden = 0;  // --shape TxH: only this shape
  int target_repeats = 5;                      // --target-repeats N (0: skip)
};

std::string shell_line(const char* cmd) {
  std::string out;
  if (FILE* p = popen(cmd, "r")) {
    char buf[256];
    while (fgets(buf, sizeof(buf), p)) out += buf;
    pclose(p);
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown";
}

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

struct Timing {
  double min_us, median_us;
};

// Times fns[0], fns[1], ... interleaved: each round runs a batch of every function, so all of
// them see the same disturbances from other processes. Per function: the best and the median
// mean time of one call, in microseconds. On a shared machine the best is the estimate least
// disturbed; the median shows the spread.
std::vector<Timing> time_interleaved(const std::vector<std::function<void()>>& fns,
                                     double min_time) {
  auto now = [] { return std::chrono::steady_clock::now(); };
  std::vector<int> batch(fns.size());
  for (size_t f = 0; f < fns.size(); ++f) {
    fns[f]();
    auto t0 = now();
    fns[f]();
    double one = std::chrono::duration<double>(now() - t0).count();
    batch[f] = std::max(1, static_cast<int>(50e-6 / std::max(one, 1e-9)));
  }
  std::vector<std::vector<double>> samples(fns.size());
  auto start = now();
  while (samples[0].size() < 5 ||
         std::chrono::duration<double>(now() - start).count() < min_time * fns.size()) {
    for (size_t f = 0; f < fns.size(); ++f) {
      auto b0 = now();
      for (int i = 0; i < batch[f]; ++i) fns[f]();
      samples[f].push_back(std::chrono::duration<double>(now() - b0).count() / batch[f] * 1e6);
    }
    if (samples[0].size() > 2000) break;
  }
  std::vector<Timing> out;
  for (auto& v : samples) {
    std::sort(v.begin(), v.end());
    out.push_back({v.front(), v[v.size() / 2]});
  }
  return out;
}

// A plain parallel copy of `bytes` bytes (half read, half written: the same traffic as an op of
// `bytes` minimal bytes), over the threads a kernel of that size would use.
class CopyProbe {
 public:
  explicit CopyProbe(int64_t max_bytes) : src_(max_bytes / 8 + 1, 1.0f), dst_(max_bytes / 8 + 1) {}
  void run(double bytes, int threads) {
    const int64_t n = std::min<int64_t>(static_cast<int64_t>(bytes / 8), src_.size());
    const int t = khub_cpu::parallel_threads(n, 2, threads);
    khub_cpu::parallel_for(n, t, [&](int64_t b, int64_t e) {
      std::memcpy(dst_.data() + b, src_.data() + b, (e - b) * sizeof(float));
    });
  }

 private:
  std::vector<float> src_, dst_;
};

Tensor random_tensor(khub::Shape shape, DType dtype, std::mt19937& gen, double mean = 0.0) {
  std::normal_distribution<float> dist(static_cast<float>(mean), 1.0f);
  std::vector<float> v(khub::shape_numel(shape));
  for (float& x : v) x = dist(gen);
  Tensor t = Tensor::empty(shape, dtype);
  t.copy_from(Tensor::from_vector(v, shape, DType::kF32));
  return t;
}

template <typename T>
T* ptr(const Tensor& t) {
  return static_cast<T*>(t.data());
}

struct Measured {
  std::string op;
  DType dtype;
  int64_t tokens, hidden;
  double bytes;
  Timing kernel, eager, copy;
};

class Bench {
 public:
  Bench(const Options& o, const Bandwidth& bw)
      : opt_(o),
        bw_(bw),
        rmsnorm_(o.lib_dir + "/rmsnorm/libkhub_rmsnorm.so"),
        activation_(o.lib_dir + "/activation/libkhub_activation.so"),
        rotary_(o.lib_dir + "/rotary/libkhub_rotary.so"),
        copy_(int64_t{6} * 4096 * 4096 * 4) {  // the largest op: SiluAndMul.backward, 5 T H f32
    scratch_.reserve(int64_t{2} * 4096 * 4096, 4096, 4096);
  }

  template <typename T>
  void run_shape(DType dtype, int64_t tokens, int64_t hidden);
  const std::vector<Measured>& results() const { return results_; }

  // The 70 % target at 4096 x 4096: `repeats` separate interleaved measurements of the kernel
  // and a copy of the same bytes (contention on a shared machine comes in bursts of seconds, so
  // one measurement can land in one). Returns one JSON entry per op and dtype.
  json target_check(int repeats) {
    json out = json::object();
    const int64_t t = 4096, h = 4096;
    for (DType dtype : {DType::kF32, DType::kBF16})
      for (const char* op : {"RMSNorm", "SiluAndMul"}) {
        const double es = static_cast<double>(khub::dtype_size(dtype));
        Tensor x = random_tensor({t, std::string(op) == "RMSNorm" ? h : 2 * h}, dtype, gen_);
        Tensor w = random_tensor({h}, dtype, gen_, 1.0);
        Tensor out_t = Tensor::empty({t, h}, dtype);
        const bool norm = std::string(op) == "RMSNorm";
        PreparedCall k(norm ? rmsnorm_.function("rms_norm_forward")
                            : activation_.function("silu_and_mul_forward"),
                       opt_.threads);
        k.tensor(x);
        if (norm) k.tensor(w);
        k.tensor(out_t);
        if (norm) k.attr_float("eps", 1e-6);
        const double bytes = norm ? (2.0 * t * h + h) * es : 3.0 * t * h * es;
        json runs = json::array();
        std::vector<double> ratios;
        for (int r = 0; r < repeats; ++r) {
          std::vector<Timing> tm =
              time_interleaved({[&] { k.run(); }, [&] { copy_.run(bytes, opt_.threads); }}, 0.3);
          double ratio = tm[1].min_us / tm[0].min_us;
          ratios.push_back(ratio);
          runs.push_back({{"kernel_us", tm[0].min_us},
                          {"copy_us", tm[1].min_us},
                          {"kernel_gbps", bytes / tm[0].min_us / 1e3},
                          {"copy_gbps", bytes / tm[1].min_us / 1e3},
                          {"fraction_of_copy", ratio}});
        }
        std::sort(ratios.begin(), ratios.end());
        double median = ratios[ratios.size() / 2];
        std::printf("target %-10s %-5s 4096x4096: fraction of copy median %.2f, best %.2f\n", op,
                    std::string(khub::dtype_name(dtype)).c_str(), median, ratios.back());
        out[std::string(op) + "_" + std::string(khub::dtype_name(dtype)) + "_4096x4096"] = {
            {"runs", runs},
            {"fraction_of_copy_median", median},
            {"fraction_of_copy_best", ratios.back()},
            {"meets_70_percent_target_median", median >= 0.7}};
      }
    return out;
  }

 private:
  bool wanted(const char* op) const { return std::string(op).rfind(opt_.only, 0) == 0; }
  // Times the kernel, the eager reference and a copy of the same bytes, interleaved.
  void measure(const std::string& op, DType dtype, int64_t tokens, int64_t hidden, double bytes,
               const std::function<void()>& kernel, const std::function<void()>& eager) {
    std::vector<Timing> t =
        time_interleaved({kernel, eager, [&] { copy_.run(bytes, opt_.threads); }}, opt_.min_time);
    results_.push_back({op, dtype, tokens, hidden, bytes, t[0], t[1], t[2]});
    double gbps = bytes / t[0].min_us / 1e3;
    std::printf("%-22s %-5s %5lld %5lld %10.1f %10.1f %8.1f %6.0f%% %7.2fx\n", op.c_str(),
                std::string(khub::dtype_name(dtype)).c_str(), static_cast<long long>(tokens),
                static_cast<long long>(hidden), t[0].min_us, t[1].min_us, gbps,
                100 * t[2].min_us / t[0].min_us, t[1].min_us / t[0].min_us);
    std::fflush(stdout);
  }

  Options opt_;
  Bandwidth bw_;
  KernelLibrary rmsnorm_, activation_, rotary_;
  EagerScratch scratch_;
  std::mt19937 gen_{1234};
  CopyProbe copy_;
  std::vector<Measured> results_;
};

template <typename T>
void Bench::run_shape(DType dtype, int64_t tokens, int64_t hidden) {
  const int th = opt_.threads;
  const double es = static_cast<double>(khub::dtype_size(dtype));
  const double th_elems = static_cast<double>(tokens) * hidden;
  const float eps = 1e-6f;
  EagerScratch& s = scratch_;

  // ---- norms
  Tensor x = random_tensor({tokens, hidden}, dtype, gen_);
  Tensor w = random_tensor({hidden}, dtype, gen_, 1.0);
  Tensor out = Tensor::empty({tokens, hidden}, dtype);
  for (bool gemma : {false, true}) {
    if (!wanted(gemma ? "GemmaRMSNorm" : "RMSNorm")) continue;
    PreparedCall k(rmsnorm_.function(gemma ? "gemma_rms_norm_forward" : "rms_norm_forward"), th);
    k.tensor(x).tensor(w).tensor(out).attr_float("eps", eps);
    auto kfn = [&] { k.run(); };
    auto efn = [&] {
      eager_rms_norm(ptr<T>(x), ptr<T>(w), ptr<T>(out), tokens, hidden, eps, gemma, s, th);
    };
    measure(gemma ? "GemmaRMSNorm" : "RMSNorm", dtype, tokens, hidden, (2 * th_elems + hidden) * es,
            kfn, efn);
  }
  if (wanted("FusedAddRMSNorm")) {
    Tensor residual = random_tensor({tokens, hidden}, dtype, gen_);
    Tensor residual_out = Tensor::empty({tokens, hidden}, dtype);
    PreparedCall k(rmsnorm_.function("fused_add_rms_norm_forward"), th);
    k.tensor(x).tensor(residual).tensor(w).tensor(out).attr_float("eps", eps);
    // residual grows by x on every timed call; a few thousand calls stay far from overflow.
    auto kfn = [&] { k.run(); };
    auto efn = [&] {
      eager_fused_add_rms_norm(ptr<T>(x), ptr<T>(residual), ptr<T>(residual_out), ptr<T>(w),
                               ptr<T>(out), tokens, hidden, eps, s, th);
    };
    measure("FusedAddRMSNorm", dtype, tokens, hidden, (4 * th_elems + hidden) * es, kfn, efn);
  }
  if (wanted("RMSNorm.backward")) {
    Tensor g = random_tensor({tokens, hidden}, dtype, gen_);
    Tensor gx = Tensor::empty({tokens, hidden}, dtype), gw = Tensor::empty({hidden}, dtype);
    PreparedCall k(rmsnorm_.function("rms_norm_backward"), th);
    k.tensor(x).tensor(w).tensor(g).tensor(gx).tensor(gw).attr_float("eps", eps);
    k.workspace(rmsnorm_.workspace_query("rms_norm_backward"));
    auto kfn = [&] { k.run(); };
    // The forward leaves what autograd saves: h (f0, or x itself for f32), r (rows0), y.
    eager_rms_norm(ptr<T>(x), ptr<T>(w), ptr<T>(out), tokens, hidden, eps, false, s, th);
    const float* h = std::is_same_v<T, float> ? ptr<float>(x) : s.f0.data();
    std::vector<float> r(s.rows0.begin(), s.rows0.begin() + tokens);
    const T* y = std::is_same_v<T, float> ? reinterpret_cast<const T*>(s.f2.data())
                                          : reinterpret_cast<const T*>(s.t0.data());
    std::vector<T> y_saved(y, y + tokens * hidden);
    std::vector<float> h_saved(h, h + tokens * hidden);
    auto efn = [&] {
      eager_rms_norm_backward(h_saved.data(), r.data(), y_saved.data(), ptr<T>(w), ptr<T>(g),
                              ptr<T>(gx), ptr<T>(gw), tokens, hidden, s, th);
    };
    measure("RMSNorm.backward", dtype, tokens, hidden, (3 * th_elems + 2 * hidden) * es, kfn, efn);
  }

  // ---- gated activations: x [tokens, 2 * hidden] -> out [tokens, hidden]
  Tensor xa = random_tensor({tokens, 2 * hidden}, dtype, gen_);
  struct ActOp {
    const char* layer;
    const char* fn;
    EagerAct act;
  };
  for (ActOp a : {ActOp{"SiluAndMul", "silu_and_mul_forward", EagerAct::kSilu},
                  ActOp{"GeluTanhAndMul", "gelu_tanh_and_mul_forward", EagerAct::kGeluTanh},
                  ActOp{"GeluAndMul", "gelu_and_mul_forward", EagerAct::kGelu}}) {
    if (!wanted(a.layer)) continue;
    PreparedCall k(activation_.function(a.fn), th);
    k.tensor(xa).tensor(out);
    auto kfn = [&] { k.run(); };
    auto efn = [&] { eager_act_and_mul(a.act, ptr<T>(xa), ptr<T>(out), tokens, hidden, s, th); };
    measure(a.layer, dtype, tokens, hidden, 3 * th_elems * es, kfn, efn);
  }
  if (wanted("SiluAndMul.backward")) {
    Tensor g = random_tensor({tokens, hidden}, dtype, gen_);
    Tensor gx = Tensor::empty({tokens, 2 * hidden}, dtype);
    PreparedCall k(activation_.function("silu_and_mul_backward"), th);
    k.tensor(xa).tensor(g).tensor(gx);
    auto kfn = [&] { k.run(); };
    eager_act_and_mul(EagerAct::kSilu, ptr<T>(xa), ptr<T>(out), tokens, hidden, s, th);  // saves t
    auto efn = [&] {
      eager_silu_and_mul_backward(ptr<T>(xa), ptr<T>(g), ptr<T>(gx), tokens, hidden, s, th);
    };
    measure("SiluAndMul.backward", dtype, tokens, hidden, 5 * th_elems * es, kfn, efn);
  }

  // ---- rotary: head_dim 128, hidden / 128 query heads, a quarter as many kv heads, full rotary
  if (wanted("rotary_pos_emb")) {
    const int64_t dh = 128, hq = hidden / dh, hk = std::max<int64_t>(1, hq / 4);
    Tensor q = random_tensor({tokens, hq, dh}, dtype, gen_);
    Tensor kk = random_tensor({tokens, hk, dh}, dtype, gen_);
    Tensor cos = random_tensor({tokens, dh / 2}, DType::kF32, gen_);
    Tensor sin = random_tensor({tokens, dh / 2}, DType::kF32, gen_);
    Tensor cos_full = random_tensor({tokens, dh}, dtype, gen_);
    Tensor sin_full = random_tensor({tokens, dh}, dtype, gen_);
    Tensor q_out = Tensor::empty({tokens, hq, dh}, dtype);
    Tensor k_out = Tensor::empty({tokens, hk, dh}, dtype);
    PreparedCall k(rotary_.function("rotary_pos_emb_forward"), th);
    k.tensor(q).tensor(kk).tensor(cos).tensor(sin).attr_int("rotary_dim", dh);
    k.attr_bool("interleaved", false);
    auto kfn = [&] { k.run(); };
    auto efn = [&] {
      eager_rotary(ptr<T>(q), ptr<T>(cos_full), ptr<T>(sin_full), ptr<T>(q_out), tokens, hq, dh, s,
                   th);
      eager_rotary(ptr<T>(kk), ptr<T>(cos_full), ptr<T>(sin_full), ptr<T>(k_out), tokens, hk, dh, s,
                   th);
    };
    double bytes = 2.0 * tokens * (hq + hk) * dh * es + 2.0 * tokens * (dh / 2) * 4;
    measure("rotary_pos_emb", dtype, tokens, hidden, bytes, kfn, efn);
  }
}

int run(const Options& opt_in) {
  Options opt = opt_in;
  if (opt.threads <= 0) opt.threads = std::max(1u, std::thread::hardware_concurrency());
  const std::string load_before = load_average();
  std::printf("measuring memory bandwidth (%d threads)...\n", opt.threads);
  Bandwidth bw = measure_memory_bandwidth(opt.threads);
  std::printf("copy %.1f GB/s, triad %.1f GB/s\n", bw.copy_gbps, bw.triad_gbps);
  std::printf("%-22s %-5s %5s %5s %10s %10s %8s %7s %8s\n", "op", "dtype", "T", "H", "kernel_us",
              "eager_us", "GB/s", "%copy", "speedup");
  std::printf("(%%copy: a memcpy of the same bytes timed interleaved, over kernel time)\n");
  init_eager_pool(opt.threads);
  Bench bench(opt, bw);
  std::vector<int64_t> hiddens = {1024, 2048, 4096}, tokens = {1, 16, 128, 1024, 4096};
  if (opt.quick) hiddens = {4096}, tokens = {1, 4096};
  if (opt.shape_tokens > 0) hiddens = {opt.shape_hidden}, tokens = {opt.shape_tokens};
  for (DType dtype : {DType::kF32, DType::kBF16})
    for (int64_t h : hiddens)
      for (int64_t t : tokens) {
        if (dtype == DType::kF32) {
          bench.run_shape<float>(dtype, t, h);
        } else {
          bench.run_shape<khub_cpu::bf16_t>(dtype, t, h);
        }
      }
  json target = opt.target_repeats > 0 ? bench.target_check(opt.target_repeats) : json::object();
  Bandwidth bw_after = measure_memory_bandwidth(opt.threads);
  const std::string load_after = load_average();
  // The ceiling: the best copy bandwidth seen, before or after the run.
  const double bw_best = std::max(bw.copy_gbps, bw_after.copy_gbps);

  json results = json::array();
  for (const Measured& m : bench.results()) {
    double kg = m.bytes / m.kernel.min_us / 1e3, eg = m.bytes / m.eager.min_us / 1e3;
    double cg = m.bytes / m.copy.min_us / 1e3;
    results.push_back({{"op", m.op},
                       {"dtype", std::string(khub::dtype_name(m.dtype))},
                       {"tokens", m.tokens},
                       {"hidden", m.hidden},
                       {"bytes", m.bytes},
                       {"kernel_us", m.kernel.min_us},
                       {"kernel_us_median", m.kernel.median_us},
                       {"eager_us", m.eager.min_us},
                       {"eager_us_median", m.eager.median_us},
                       {"kernel_gbps", kg},
                       {"eager_gbps", eg},
                       {"speedup", m.eager.min_us / m.kernel.min_us},
                       {"speedup_median", m.eager.median_us / m.kernel.median_us},
                       {"copy_us", m.copy.min_us},
                       {"copy_gbps", cg},
                       {"kernel_fraction_of_copy", kg / cg},
                       {"kernel_fraction_of_copy_bandwidth", kg / bw_best}});
  }
  json summary = json::object();
  for (const char* op : {"RMSNorm", "SiluAndMul"})
    for (const Measured& m : bench.results())
      if (m.op == op && m.tokens == 4096 && m.hidden == 4096) {
        double frac = m.copy.min_us / m.kernel.min_us;
        double frac_ceiling = m.bytes / m.kernel.min_us / 1e3 / bw_best;
        summary[std::string(op) + "_" + std::string(khub::dtype_name(m.dtype)) + "_4096x4096"] = {
            {"kernel_gbps", m.bytes / m.kernel.min_us / 1e3},
            {"fraction_of_interleaved_copy", frac},
            {"fraction_of_stream_copy_ceiling", frac_ceiling},
            {"meets_70_percent_target", frac >= 0.7}};
      }
  char date[16];
  std::time_t now = std::time(nullptr);
  std::strftime(date, sizeof(date), "%Y-%m-%d", std::localtime(&now));
  const char* isa_env = std::getenv("KHUB_CPU_ISA");
  json doc = {
      {"benchmark", "khub-community CPU kernels vs eager per-op reference"},
      {"date", date},
      {"git_commit", shell_line("git rev-parse HEAD 2>/dev/null")},
      // Uncommitted changes outside bench/results (earlier results do not change the code).
      {"git_dirty",
       !shell_line("git status --porcelain -- . ':!bench/results' 2>/dev/null").empty()},
      {"device",
       {{"cpu", cpu_model()},
        {"cores", std::thread::hardware_concurrency()},
        {"threads_used", opt.threads},
        {"kernel_isa", isa_env ? isa_env : khub_cpu::isa_name(khub_cpu::cpu_isa_best())},
        {"load_average_before", load_before},
        {"load_average_after", load_after},
        {"note",
         "shared build machine: the cores also ran other compilations during the run (see load "
         "averages), so absolute numbers are noisy and lower than on an idle machine; ratios "
         "measured back to back are the meaningful part"}}},
      {"memory_bandwidth",
       {{"copy_gbps", bw.copy_gbps},
        {"triad_gbps", bw.triad_gbps},
        {"copy_gbps_after_run", bw_after.copy_gbps},
        {"triad_gbps_after_run", bw_after.triad_gbps},
        {"ceiling_gbps", bw_best},
        {"array_bytes", bw.array_bytes},
        {"method",
         "STREAM-style copy and triad, same thread count, best of 7, bytes = reads + "
         "writes (no write-allocate)"}}},
      {"reference",
       "eager: not src/ops (being written); bench/kernels_cpu/eager_ops.cc runs each model op as "
       "the sequence of tensor ops PyTorch eager runs (HF LlamaRMSNorm, Gemma3RMSNorm, "
       "act(x[..., :D]) * x[..., D:], apply_rotary_pos_emb with cos/sin [T, head_dim] in the "
       "model dtype, autograd's op sequence for the backward), one pass over memory per op, "
       "convert to f32 / compute / convert back, loops auto-vectorized (-O3 -march=x86-64-v3 "
       "-ffast-math, libmvec), same threads, intermediates preallocated"},
      {"kernel",
       "shipped .so files (build/kernels/<name>/libkhub_<name>.so) called through the "
       "khub kernel ABI with argument validation, num_threads = threads_used"},
      {"metric",
       "GB/s = minimal bytes of the op (inputs read once, outputs written once) / "
       "median time; speedup = eager time / kernel time"},
      {"summary", summary},
      {"target_70_percent", target},
      {"results", results}};
  std::string path =
      opt.out.empty() ? std::string("bench/results/") + date + "-cpu-kernels.json" : opt.out;
  std::ofstream f(path);
  if (!f) {
    std::fprintf(stderr, "cannot write %s\n", path.c_str());
    return 1;
  }
  f << doc.dump(2) << "\n";
  std::printf("wrote %s\n", path.c_str());
  return 0;
}

}  // namespace
}  // namespace khub_bench

int main(int argc, char** argv) {
  khub_bench::Options opt;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--threads") {
      opt.threads = std::atoi(value().c_str());
    } else if (a == "--out") {
      opt.out = value();
    } else if (a == "--lib-dir") {
      opt.lib_dir = value();
    } else if (a == "--min-time") {
      opt.min_time = std::atof(value().c_str());
    } else if (a == "--only") {
      opt.only = value();
    } else if (a == "--shape") {
      std::string v = value();
      opt.shape_tokens = std::atoll(v.c_str());
      opt.shape_hidden = std::atoll(v.substr(v.find('x') + 1).c_str());
    } else if (a == "--target-repeats") {
      opt.target_repeats = std::atoi(value().c_str());
    } else if (a == "--quick") {
      opt.quick = true;
    } else {
      std::fprintf(stderr,
                   "unknown option %s\nusage: bench_kernels_cpu [--threads N] [--out FILE] "
                   "[--lib-dir DIR] [--min-time SECONDS] [--quick] [--only OP] [--shape TxH] "
                   "[--target-repeats N]\n",
                   a.c_str());
      return 2;
    }
  }
  try {
    return khub_bench::run(opt);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_kernels_cpu: %s\n", e.what());
    return 1;
  }
}
