// The decode kernel of khub-community/flash-attn (kernels/flash-attn/cuda/decode.cu), loaded
// through the loader from the built project as khub loads it, on Qwen3-0.6B's attention shapes
// (16 q heads, 8 kv heads, head_dim 128, bf16), one query row per sequence, next to a
// device-to-device copy measured in the same run. Bytes counted: the K and V rows the step must
// read (batch x kv_len x Hk x D x 2 bytes, twice); fraction = (bytes / time) / copy bandwidth,
// copy bandwidth counting bytes read plus bytes written. The caches rotate over enough slots
// (>= 512 MiB per call set) that every call reads from HBM, not L2.
// Times are CUDA-event medians over 9 batches of 20 calls: "graph" replays the 20 calls captured
// into a CUDA graph (the kernel time, as khub's compiled decode runs it), "eager" issues them
// through the loader one by one (adds the host path when it is slower than the kernel).
// "no-split" passes an empty workspace (one block per sequence and kv head, no combine).
// Last, the prefill kernel (prefill.cu) on the attention shape, in TFLOP/s.
//   bench_flash_decode [KERNELS_DIR] [OUT.json]   (commit: git, else $KHUB_GIT_COMMIT)
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "bench_cuda_util.h"
#include "core/stream.h"

namespace khub {
namespace {

using bench::kGpu;
using bench::random_on_gpu;

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(e));
}

// Median seconds per call over 9 batches; batch(stream) issues `per_batch` calls.
double event_median(cudaStream_t stream, const std::function<void()>& batch, int per_batch) {
  cudaEvent_t a, b;
  check(cudaEventCreate(&a), "cudaEventCreate");
  check(cudaEventCreate(&b), "cudaEventCreate");
  for (int i = 0; i < 2; ++i) batch();
  std::vector<double> t;
  for (int r = 0; r < 9; ++r) {
    check(cudaEventRecord(a, stream), "cudaEventRecord");
    batch();
    check(cudaEventRecord(b, stream), "cudaEventRecord");
    check(cudaEventSynchronize(b), "cudaEventSynchronize");
    float ms = 0;
    check(cudaEventElapsedTime(&ms, a, b), "cudaEventElapsedTime");
    t.push_back(ms * 1e-3 / per_batch);
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

int run(int argc, char** argv) {
  const std::string dir = argc > 1 ? argv[1] : "build/kernels";
  const std::string out_path = argc > 2 ? argv[2] : cli::default_bench_path("flash-decode-cuda");
  auto stream = static_cast<cudaStream_t>(current_stream(kGpu));
  nlohmann::json r = bench::report_header();
  r["shapes"] = "Qwen3-0.6B attention: Hq 16, Hk 8, D 128, bf16, q_len 1";

  constexpr int kCalls = 20;
  const double copy_bw = bench::copy_bandwidth();
  r["copy_TBps"] = copy_bw / 1e12;
  std::printf("device %s, copy %.3f TB/s\n", r["device"].get<std::string>().c_str(),
              copy_bw / 1e12);

  auto kernel = bench::load_kernel(dir, "flash-attn");
  r["variant"] = kernel->identity().label();
  auto forward = kernel->layer("Attention").forward;
  loader::ExecOptions ex{.stream = stream};
  const int64_t hq = 16, hk = 8, d = 128;
  std::printf("%-6s %-7s %-9s %10s %10s %10s %8s\n", "batch", "kv_len", "mode", "us", "GB/s",
              "MB read", "of copy");
  r["results"] = nlohmann::json::array();
  for (int64_t batch : {1, 16}) {
    for (int64_t kv : {256, 1024, 4096}) {
      const double bytes = 2.0 * batch * kv * hk * d * 2;
      // Enough rotating slot sets that a call set spans >= 512 MiB of cache.
      const int64_t sets = std::max<int64_t>(1, static_cast<int64_t>((512.0 * (1 << 20)) / bytes));
      const int64_t slots = batch * sets;
      Tensor kc = random_on_gpu({slots, kv, hk, d}, DType::kBF16, -1, 1, 2);
      Tensor vc = random_on_gpu({slots, kv, hk, d}, DType::kBF16, -1, 1, 3);
      Tensor q = random_on_gpu({batch, hq, d}, DType::kBF16, -1, 1, 4);
      Tensor out = Tensor::empty({batch, hq, d}, DType::kBF16, kGpu);
      Tensor ws = Tensor::empty({16 * batch * hq * (d + 2)}, DType::kF32, kGpu);
      Tensor no_ws = Tensor::empty({0}, DType::kF32, kGpu);
      std::vector<Tensor> seqs;
      for (int64_t s = 0; s < sets; ++s) {
        Tensor h = Tensor::empty({batch, 4}, DType::kI32);
        for (int64_t b = 0; b < batch; ++b) {
          int32_t* row = h.data_as<int32_t>() + 4 * b;
          row[0] = static_cast<int32_t>(s * batch + b);
          row[1] = static_cast<int32_t>(b);
          row[2] = 1;
          row[3] = static_cast<int32_t>(kv);
        }
        seqs.push_back(h.to(kGpu));
      }
      for (bool split : {true, false}) {
        int64_t next = 0;
        auto call = [&] {
          forward({{{"q", q},
                    {"k_cache", kc},
                    {"v_cache", vc},
                    {"seqs", seqs[next++ % sets]},
                    {"workspace", split ? ws : no_ws},
                    {"out", out}},
                   {{"scale", 0.088}, {"max_q_len", int64_t{1}}, {"max_kv_len", kv}}},
                  ex);
        };
        const double eager = event_median(
            stream,
            [&] {
              for (int i = 0; i < kCalls; ++i) call();
            },
            kCalls);
        double graph = -1;
        {
          cudaGraph_t g = nullptr;
          cudaGraphExec_t ge = nullptr;
          // As many calls as slot sets (20 to 256), so one replay does not fit in L2.
          const int n = static_cast<int>(std::clamp<int64_t>(sets, kCalls, 256));
          check(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal), "capture");
          for (int i = 0; i < n; ++i) call();
          check(cudaStreamEndCapture(stream, &g), "end capture");
          check(cudaGraphInstantiate(&ge, g, 0), "instantiate");
          graph = event_median(
              stream, [&] { check(cudaGraphLaunch(ge, stream), "graph launch"); }, n);
          cudaGraphExecDestroy(ge);
          cudaGraphDestroy(g);
        }
        for (auto [mode, s] : {std::pair<const char*, double>{"graph", graph}, {"eager", eager}}) {
          const std::string m = std::string(mode) + (split ? "" : " no-split");
          const double bw = bytes / s;
          std::printf("%-6lld %-7lld %-16s %8.2f %10.1f %10.2f %8.3f\n",
                      static_cast<long long>(batch), static_cast<long long>(kv), m.c_str(), s * 1e6,
                      bw / 1e9, bytes / 1e6, bw / copy_bw);
          r["results"].push_back({{"batch", batch},
                                  {"kv_len", kv},
                                  {"mode", m},
                                  {"us", s * 1e6},
                                  {"bytes", bytes},
                                  {"GBps", bw / 1e9},
                                  {"fraction_of_copy", bw / copy_bw}});
        }
      }
    }
  }
  // Prefill: causal, 4 sequences of 4096 queries over their own 4096 keys, 16 heads (q and kv),
  // D 128, bf16 — the shape of the attention_prefill_tflops; FLOPs 4·B·H·S²·D / 2.
  {
    const int64_t b = 4, s = 4096, h = 16;
    Tensor kc = random_on_gpu({b, s, h, d}, DType::kBF16, -1, 1, 5);
    Tensor vc = random_on_gpu({b, s, h, d}, DType::kBF16, -1, 1, 6);
    Tensor q = random_on_gpu({b * s, h, d}, DType::kBF16, -1, 1, 7);
    Tensor out = Tensor::empty({b * s, h, d}, DType::kBF16, kGpu);
    Tensor no_ws = Tensor::empty({0}, DType::kF32, kGpu);  // T > 64: the contract's empty one
    Tensor hseqs = Tensor::empty({b, 4}, DType::kI32);
    for (int64_t i = 0; i < b; ++i) {
      int32_t* row = hseqs.data_as<int32_t>() + 4 * i;
      row[0] = static_cast<int32_t>(i);
      row[1] = static_cast<int32_t>(i * s);
      row[2] = row[3] = static_cast<int32_t>(s);
    }
    Tensor seqs = hseqs.to(kGpu);
    auto call = [&] {
      forward({{{"q", q},
                {"k_cache", kc},
                {"v_cache", vc},
                {"seqs", seqs},
                {"workspace", no_ws},
                {"out", out}},
               {{"scale", 0.088}, {"max_q_len", s}, {"max_kv_len", s}}},
              ex);
    };
    const double t = event_median(
        stream,
        [&] {
          for (int i = 0; i < 5; ++i) call();
        },
        5);
    const double tflops = 4.0 * b * h * s * s * d / 2 / t / 1e12;
    std::printf("prefill causal B=%lld S=%lld H=%lld D=%lld bf16: %.3f ms, %.1f TFLOP/s\n",
                static_cast<long long>(b), static_cast<long long>(s), static_cast<long long>(h),
                static_cast<long long>(d), t * 1e3, tflops);
    r["prefill"] = {{"batch", b},      {"seq_len", s},   {"heads", h},    {"head_dim", d},
                    {"dtype", "bf16"}, {"causal", true}, {"ms", t * 1e3}, {"tflops", tflops}};
  }
  cli::write_bench_json(out_path, r);
  return 0;
}

}  // namespace
}  // namespace khub

int main(int argc, char** argv) {
  try {
    return khub::run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_flash_decode: %s\n", e.what());
    return 1;
  }
}
