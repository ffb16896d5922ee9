// Experiment (dev/, not part of the build): where the time of a reference-path decode step goes on
// CUDA. Times each op at the Qwen3-0.6B decode shapes (N back-to-back calls, then one device
// synchronization: the per-call cost is max(host launch cost, GPU time)), a whole decode step at
// batch 1 and 16 without and with the logits' copy to the host, and the prefill-4096 pieces.
//   dev/cuda/build.sh → build/dev/decode_breakdown MODEL_DIR
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>

#include "core/cuda.h"
#include "models/causal_lm.h"
#include "ops/activation.h"
#include "ops/attention.h"
#include "ops/elementwise.h"
#include "ops/linear.h"
#include "ops/norm.h"

using namespace khub;

namespace {

const Device kGpu = Device::cuda(0);

Tensor rand_dev(const Shape& shape, DType dt) {
  Tensor t = Tensor::empty(shape, DType::kF32);
  uint64_t x = 88172645463325252ull;
  for (int64_t i = 0; i < t.numel(); ++i) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    t.data_as<float>()[i] = static_cast<float>((x >> 11) * 0x1.0p-53 - 0.5);
  }
  return ops::cast(t.to(kGpu), dt);
}

double time_us(const std::function<void()>& fn, int reps) {
  fn();
  cuda_synchronize(kGpu);
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < reps; ++i) fn();
  cuda_synchronize(kGpu);
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() /
         reps;
}

void row(const char* what, double us) { std::printf("  %-52s %10.1f us\n", what, us); }

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: decode_breakdown MODEL_DIR (a qwen3-0.6b bf16 checkpoint)\n");
    return 2;
  }
  DType bf = DType::kBF16;
  std::printf("ops at decode shapes (batch 16 rows unless noted), bf16:\n");
  for (int64_t m : {1, 16}) {
    Tensor x = rand_dev({m, 1024}, bf), x3 = rand_dev({m, 3072}, bf), x2 = rand_dev({m, 2048}, bf);
    Tensor wqkv = rand_dev({4096, 1024}, bf), wo = rand_dev({1024, 2048}, bf);
    Tensor wgu = rand_dev({6144, 1024}, bf), wd = rand_dev({1024, 3072}, bf);
    Tensor wlm = rand_dev({151936, 1024}, bf);
    std::string s = " m=" + std::to_string(m);
    row(("linear qkv 1024->4096" + s).c_str(), time_us([&] { ops::linear(x, wqkv); }, 200));
    row(("linear o 2048->1024" + s).c_str(), time_us([&] { ops::linear(x2, wo); }, 200));
    row(("linear gate_up 1024->6144" + s).c_str(), time_us([&] { ops::linear(x, wgu); }, 200));
    row(("linear down 3072->1024" + s).c_str(), time_us([&] { ops::linear(x3, wd); }, 200));
    row(("linear lm_head 1024->151936" + s).c_str(), time_us([&] { ops::linear(x, wlm); }, 50));
  }
  Tensor h = rand_dev({16, 1024}, bf), w = rand_dev({1024}, bf), hw = rand_dev({128}, bf);
  Tensor qh = rand_dev({16, 16, 128}, bf), gu = rand_dev({16, 6144}, bf);
  row("rms_norm [16,1024]", time_us([&] { ops::rms_norm(h, w, 1e-6f); }, 500));
  row("rms_norm q_norm [16,16,128]", time_us([&] { ops::rms_norm(qh, hw, 1e-6f); }, 500));
  row("act_and_mul [16,6144]",
      time_us([&] { ops::act_and_mul(gu, ops::GatedActivation::kSilu); }, 500));
  row("add_inplace [16,1024]", time_us([&] { ops::add_inplace(h, h); }, 500));
  Tensor qkv = rand_dev({16, 4096}, bf);
  row("contiguous q slice of qkv [16,2048]",
      time_us([&] { qkv.slice(1, 0, 2048).contiguous(); }, 500));
  Tensor cache = rand_dev({16, 160, 8, 128}, bf), krow = rand_dev({1, 8, 128}, bf);
  row("cache write (D2D copy of one row, 2 KiB)",
      time_us([&] { cache.select(0, 3).slice(0, 40, 41).copy_from(krow); }, 500));
  Tensor q1 = rand_dev({1, 16, 128}, bf);
  ops::AttentionParams p;
  p.scale = 0.088f;
  p.q_offset = 47;
  Tensor keys = cache.select(0, 3).slice(0, 0, 48), vals = cache.select(0, 4).slice(0, 0, 48);
  row("attention decode (one sequence, 48 keys)",
      time_us([&] { ops::attention(q1, keys, vals, p); }, 500));
  p.q_offset = 159;
  keys = cache.select(0, 3), vals = cache.select(0, 4);
  row("attention decode (one sequence, 160 keys)",
      time_us([&] { ops::attention(q1, keys, vals, p); }, 500));
  Tensor logits = rand_dev({16, 151936}, DType::kF32);
  row("logits [16,151936] f32 to host", time_us([&] { logits.to(Device::cpu()); }, 20));
  Tensor logits1 = rand_dev({1, 151936}, DType::kF32);
  row("logits [1,151936] f32 to host", time_us([&] { logits1.to(Device::cpu()); }, 50));

  std::printf("prefill 4096 pieces:\n");
  Tensor qp = rand_dev({4096, 16, 128}, bf), kp = rand_dev({4096, 8, 128}, bf);
  Tensor vp = rand_dev({4096, 8, 128}, bf);
  p.q_offset = 0;
  row("attention prefill 4096 (GEMM path, one layer)",
      time_us([&] { ops::attention(qp, kp, vp, p); }, 5));
  Tensor xp = rand_dev({4096, 1024}, bf), wqkv = rand_dev({4096, 1024}, bf);
  row("linear qkv 4096x1024->4096", time_us([&] { ops::linear(xp, wqkv); }, 20));

  std::printf("whole steps (qwen3-0.6b):\n");
  auto model = CausalLM::from_pretrained(argv[1], {.device = "cuda"});
  for (int64_t b : {1, 16}) {
    KVCache kv = model->make_cache(b, 64);
    std::vector<SequenceChunk> prefill, step;
    for (int64_t s = 0; s < b; ++s) {
      prefill.push_back({s, std::vector<int32_t>(32, static_cast<int32_t>(100 + s))});
      step.push_back({s, {static_cast<int32_t>(7 + s)}});
    }
    model->forward(prefill, kv);
    auto one_step = [&](bool to_host) {
      for (int64_t s = 0; s < b; ++s) kv.set_length(s, 32);
      Tensor l = model->forward(step, kv);
      if (to_host) l.to(Device::cpu());
    };
    std::string s = " b=" + std::to_string(b);
    row(("decode step, forward only" + s).c_str(), time_us([&] { one_step(false); }, 20));
    row(("decode step, forward + logits to host" + s).c_str(),
        time_us([&] { one_step(true); }, 20));
  }
  return 0;
}
