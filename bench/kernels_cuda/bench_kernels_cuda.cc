// Bandwidth of the CUDA variants of the khub-community kernels (forward, and the backward that
// training binds), loaded through the loader from the built projects (build/kernels/<name>, as
// khub loads them), next to a device-to-device copy
// measured in the same run: fraction = (bytes the kernel must move / time) / copy bandwidth,
// copy bandwidth counting bytes read plus bytes written. Inputs are random (never zeros); each
// figure is the median of 9 batches of 20 back-to-back calls on khub's current stream.
//   bench_kernels_cuda [KERNELS_DIR] [OUT.json] [PEERS.json]
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "bench_cuda_util.h"
#include "core/stream.h"

namespace khub {
namespace {

using bench::kGpu;
using bench::load_kernel;
using bench::median_seconds;
using bench::nbytes;
using bench::random_on_gpu;

int run(int argc, char** argv) {
  std::string dir = argc > 1 ? argv[1] : "build/kernels";
  std::string out_path = argc > 2 ? argv[2] : cli::default_bench_path("kernels-cuda");
  loader::ExecOptions ex{.stream = current_stream(kGpu)};
  nlohmann::json r = bench::report_header();
  const double copy_bw = bench::copy_bandwidth();
  r["copy_TBps"] = copy_bw / 1e12;
  std::printf("copy %.3f TB/s\n", copy_bw / 1e12);

  auto report = [&](const char* key, const std::string& what, double bytes, double s) {
    double bw = bytes / s;
    r[key] = bw / copy_bw;
    r[std::string(key) + "_detail"] = {
        {"what", what}, {"bytes", bytes}, {"us", s * 1e6}, {"GBps", bw / 1e9}};
    std::printf("%-26s %-44s %8.1f us %8.1f GB/s  %.3f of copy\n", key, what.c_str(), s * 1e6,
                bw / 1e9, bw / copy_bw);
  };

  {  // RMSNorm 65536 x 1024 bf16: x read, out written, weight once.
    auto k = load_kernel(dir, "rmsnorm");
    r["rmsnorm_variant"] = k->identity().label();
    Tensor x = random_on_gpu({65536, 1024}, DType::kBF16, -2, 2, 2);
    Tensor w = random_on_gpu({1024}, DType::kBF16, 0.5, 1.5, 3);
    Tensor o = Tensor::empty(x.shape(), x.dtype(), kGpu);
    auto f = k->layer("RMSNorm").forward;
    double s = median_seconds([&] {
      f({{{"x", x}, {"weight", w}, {"out", o}}, {{"eps", 1e-6}}}, ex);
    });
    report("rmsnorm_bw_fraction", "RMSNorm 65536x1024 bf16", 2.0 * nbytes(x) + nbytes(w), s);
    Tensor res = random_on_gpu({65536, 1024}, DType::kBF16, -2, 2, 4);
    auto g = k->layer("FusedAddRMSNorm").forward;
    s = median_seconds([&] {
      g({{{"x", x}, {"residual", res}, {"weight", w}, {"out", o}}, {{"eps", 1e-6}}}, ex);
    });
    report("fused_add_rmsnorm_bw_fraction", "FusedAddRMSNorm 65536x1024 bf16",
           4.0 * nbytes(x) + nbytes(w), s);
    // Backward (training): x and grad_out read, grad_x written; grad_weight [H] f32 summed over
    // the rows (a few KB); fused: the residual read, grad_residual read and written too.
    Tensor go = random_on_gpu({65536, 1024}, DType::kBF16, -1, 1, 10);
    Tensor gx = Tensor::empty(x.shape(), x.dtype(), kGpu);
    Tensor gw = Tensor::empty({1024}, DType::kF32, kGpu);
    auto b = *k->layer("RMSNorm").backward;
    s = median_seconds([&] {
      b({{{"x", x}, {"weight", w}, {"grad_out", go}, {"grad_x", gx}, {"grad_weight", gw}},
         {{"eps", 1e-6}}},
        ex);
    });
    report("rmsnorm_backward_bw_fraction", "RMSNorm backward 65536x1024 bf16",
           3.0 * nbytes(x) + nbytes(w) + nbytes(gw), s);
    Tensor gres = random_on_gpu({65536, 1024}, DType::kBF16, -1, 1, 11);
    auto fb = *k->layer("FusedAddRMSNorm").backward;
    s = median_seconds([&] {
      fb({{{"residual", res},
           {"weight", w},
           {"grad_out", go},
           {"grad_residual", gres},
           {"grad_x", gx},
           {"grad_weight", gw}},
          {{"eps", 1e-6}}},
         ex);
    });
    report("fused_add_rmsnorm_backward_bw_fraction", "FusedAddRMSNorm backward 65536x1024 bf16",
           5.0 * nbytes(x) + nbytes(w) + nbytes(gw), s);
  }
  {  // SiluAndMul 16384 x (2 x 3072) bf16 (Qwen3-0.6B's intermediate size).
    auto k = load_kernel(dir, "activation");
    r["activation_variant"] = k->identity().label();
    Tensor x = random_on_gpu({16384, 6144}, DType::kBF16, -3, 3, 5);
    Tensor o = Tensor::empty({16384, 3072}, DType::kBF16, kGpu);
    auto f = k->layer("SiluAndMul").forward;
    double s = median_seconds([&] { f({{{"x", x}, {"out", o}}, {}}, ex); });
    report("silu_and_mul_bw_fraction", "SiluAndMul 16384x(2x3072) bf16", nbytes(x) + nbytes(o), s);
    Tensor go = random_on_gpu({16384, 3072}, DType::kBF16, -1, 1, 12);
    Tensor gx = Tensor::empty(x.shape(), x.dtype(), kGpu);
    auto b = *k->layer("SiluAndMul").backward;
    s = median_seconds([&] { b({{{"x", x}, {"grad_out", go}, {"grad_x", gx}}, {}}, ex); });
    report("silu_and_mul_backward_bw_fraction", "SiluAndMul backward 16384x(2x3072) bf16",
           2.0 * nbytes(x) + nbytes(go), s);
  }
  {  // Rotary, Qwen3-0.6B heads (16 q, 8 kv, head_dim 128), 16384 tokens, NeoX, in place.
    auto k = load_kernel(dir, "rotary");
    r["rotary_variant"] = k->identity().label();
    Tensor q = random_on_gpu({16384, 16, 128}, DType::kBF16, -2, 2, 6);
    Tensor kk = random_on_gpu({16384, 8, 128}, DType::kBF16, -2, 2, 7);
    Tensor c = random_on_gpu({16384, 64}, DType::kF32, -1, 1, 8);
    Tensor sn = random_on_gpu({16384, 64}, DType::kF32, -1, 1, 9);
    auto f = k->layer("rotary_pos_emb").forward;
    double s = median_seconds([&] {
      f({{{"q", q}, {"k", kk}, {"cos", c}, {"sin", sn}},
         {{"rotary_dim", int64_t{128}}, {"interleaved", false}}},
        ex);
    });
    report("rotary_bw_fraction", "rotary 16384x(16+8)x128 bf16 NeoX in place",
           2.0 * (nbytes(q) + nbytes(kk)) + nbytes(c) + nbytes(sn), s);
    auto b = *k->layer("rotary_pos_emb").backward;
    s = median_seconds([&] {
      b({{{"grad_q", q}, {"grad_k", kk}, {"cos", c}, {"sin", sn}},
         {{"rotary_dim", int64_t{128}}, {"interleaved", false}}},
        ex);
    });
    report("rotary_backward_bw_fraction", "rotary backward 16384x(16+8)x128 bf16 in place",
           2.0 * (nbytes(q) + nbytes(kk)) + nbytes(c) + nbytes(sn), s);
  }
  if (argc > 3) {
    std::ifstream in(argv[3]);
    nlohmann::json peers = nlohmann::json::parse(in, nullptr, false);
    if (!peers.is_discarded()) {
      r["peers"] = peers;
      double pc = peers.value("copy_TBps", 0.0) * 1e12;
      if (pc > 0) {
        r["peer_rmsnorm_eager_fraction"] = peers.value("rmsnorm_eager_GBps", 0.0) * 1e9 / pc;
        r["peer_rmsnorm_compiled_fraction"] = peers.value("rmsnorm_compiled_GBps", 0.0) * 1e9 / pc;
        r["peer_silu_mul_eager_fraction"] = peers.value("silu_mul_eager_GBps", 0.0) * 1e9 / pc;
      }
    }
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
    std::fprintf(stderr, "bench_kernels_cuda: %s\n", e.what());
    return 1;
  }
}
