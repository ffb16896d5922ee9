// Standalone check and timing of khub_flash::launch_prefill (kernels/flash-attn/cuda/prefill.cu)
// without the ABI entry: fills Params directly, compares against float64 attention computed here
// on fresh random inputs (seed printed), and times the benchmark shape.
//   nvcc -O3 -std=c++17 -gencode=arch=compute_90a,code=sm_90a -Xcompiler -fopenmp \
//     -Ikernels/flash-attn/cuda dev/cuda/flash_prefill_check.cu \
//     kernels/flash-attn/cuda/prefill.cu kernels/flash-attn/cuda/prefill_sm90.cu \
//     -o flash_prefill_check
//   ./flash_prefill_check [seed [bench]]   (bench: timings only)
// -DKHUB_FLASH_NO_SM90 on prefill.cu forces the mma.sync kernel on an H100/H200, to compare.
// Cache rows past kv_len hold NaN (the kernel must never let them reach an output), rows of out
// outside every sequence are NaN-poisoned and must come back bit-identical.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <random>
#include <vector>

#include "flash_attn.h"

#define CK(x)                                                                                 \
  do {                                                                                        \
    cudaError_t e_ = (x);                                                                     \
    if (e_ != cudaSuccess) {                                                                  \
      std::fprintf(stderr, "%s:%d %s: %s\n", __FILE__, __LINE__, #x, cudaGetErrorString(e_)); \
      std::exit(2);                                                                           \
    }                                                                                         \
  } while (0)

using khub_flash::Dtype;
using khub_flash::Params;

namespace {

uint16_t to_bits(float f, Dtype dt) {
  if (dt == Dtype::kBF16) {
    __nv_bfloat16 b = __float2bfloat16_rn(f);
    uint16_t u;
    std::memcpy(&u, &b, 2);
    return u;
  }
  __half h = __float2half_rn(f);
  uint16_t u;
  std::memcpy(&u, &h, 2);
  return u;
}
float from_bits(uint16_t u, Dtype dt) {
  if (dt == Dtype::kBF16) {
    uint32_t w = uint32_t{u} << 16;
    float f;
    std::memcpy(&f, &w, 4);
    return f;
  }
  __half h;
  std::memcpy(&h, &u, 2);
  return __half2float(h);
}

struct Seq {
  int q_len, kv_len;
};

struct Case {
  const char* name;
  Dtype dt;
  int d, hq, hk;
  std::vector<Seq> seqs;
  int64_t window = 0;
  float softcap = 0.0f;
  bool sinks = false;
  float q_std = 1.0f;
};

struct Result {
  bool pass;
  double max_err, max_ref;
};

Result run_case(const Case& c, std::mt19937_64& rng) {
  const int n = static_cast<int>(c.seqs.size());
  const int d = c.d, hq = c.hq, hk = c.hk;
  // Layout: sequences packed with a gap of 3 poisoned rows before each; slots permuted, with 2
  // spare slots; capacity a little above the longest kv_len.
  int cap = 0, max_q = 0;
  for (const Seq& s : c.seqs) {
    cap = std::max(cap, s.kv_len);
    max_q = std::max(max_q, s.q_len);
  }
  cap += 5;
  const int slots = n + 2;
  std::vector<int> perm(slots);
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), rng);
  std::vector<int32_t> sd(4 * n);
  int64_t t = 0;
  for (int i = 0; i < n; ++i) {
    t += 3;
    sd[4 * i + 0] = perm[i];
    sd[4 * i + 1] = static_cast<int32_t>(t);
    sd[4 * i + 2] = c.seqs[i].q_len;
    sd[4 * i + 3] = c.seqs[i].kv_len;
    t += c.seqs[i].q_len;
  }
  t += 2;
  const int64_t total = t;

  std::normal_distribution<float> nd(0.0f, 1.0f);
  const uint16_t nan_bits = c.dt == Dtype::kBF16 ? 0x7fc1 : 0x7e01;
  std::vector<uint16_t> q(total * hq * d), k(int64_t{slots} * cap * hk * d),
      v(int64_t{slots} * cap * hk * d);
  for (auto& x : q) x = to_bits(c.q_std * nd(rng), c.dt);
  std::vector<int> kvlen_of_slot(slots, 0);
  for (int i = 0; i < n; ++i) kvlen_of_slot[perm[i]] = c.seqs[i].kv_len;
  for (int s = 0; s < slots; ++s)
    for (int j = 0; j < cap; ++j)
      for (int e = 0; e < hk * d; ++e) {
        const int64_t idx = (int64_t{s} * cap + j) * hk * d + e;
        const bool ok = j < kvlen_of_slot[s];
        k[idx] = ok ? to_bits(nd(rng), c.dt) : nan_bits;
        v[idx] = ok ? to_bits(nd(rng), c.dt) : nan_bits;
      }
  std::vector<float> sinks(hq);
  for (auto& x : sinks) x = 2.0f * nd(rng);

  // float64 reference
  std::vector<double> ref(total * hq * d, 0.0);
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));
  std::vector<std::array<int, 3>> work;  // (seq, row, head)
  for (int i = 0; i < n; ++i)
    for (int r = 0; r < c.seqs[i].q_len; ++r)
      for (int h = 0; h < hq; ++h) work.push_back({i, r, h});
#pragma omp parallel for schedule(dynamic, 16)
  for (size_t w = 0; w < work.size(); ++w) {
    const int i = work[w][0], r = work[w][1], h = work[w][2];
    const int kvh = h / (hq / hk);
    const int kv_len = sd[4 * i + 3], q_len = sd[4 * i + 2];
    const int64_t row = sd[4 * i + 1] + r;
    const int64_t pos = kv_len - q_len + r;
    std::vector<double> qf(d), sc;
    for (int e = 0; e < d; ++e) qf[e] = from_bits(q[(row * hq + h) * d + e], c.dt);
    std::vector<int> keys;
    for (int j = 0; j <= pos && j < kv_len; ++j) {
      if (c.window > 0 && pos - j >= c.window) continue;
      const uint16_t* kr = &k[((int64_t{sd[4 * i]} * cap + j) * hk + kvh) * d];
      double acc = 0;
      for (int e = 0; e < d; ++e) acc += qf[e] * from_bits(kr[e], c.dt);
      acc *= scale;
      if (c.softcap > 0) acc = c.softcap * std::tanh(acc / c.softcap);
      sc.push_back(acc);
      keys.push_back(j);
    }
    double mx = -INFINITY;
    for (double s : sc) mx = std::max(mx, s);
    if (c.sinks) mx = std::max(mx, double{sinks[h]});
    double den = c.sinks ? std::exp(sinks[h] - mx) : 0.0;
    for (double& s : sc) den += (s = std::exp(s - mx));
    double* o = &ref[(row * hq + h) * d];
    for (size_t kk = 0; kk < keys.size(); ++kk) {
      const uint16_t* vr = &v[((int64_t{sd[4 * i]} * cap + keys[kk]) * hk + kvh) * d];
      for (int e = 0; e < d; ++e) o[e] += sc[kk] * from_bits(vr[e], c.dt);
    }
    if (den > 0)
      for (int e = 0; e < d; ++e) o[e] /= den;
  }

  void *dq, *dk, *dv, *dout;
  int32_t* dsd;
  float* dsinks;
  CK(cudaMalloc(&dq, q.size() * 2));
  CK(cudaMalloc(&dk, k.size() * 2));
  CK(cudaMalloc(&dv, v.size() * 2));
  CK(cudaMalloc(&dout, q.size() * 2));
  CK(cudaMalloc(&dsd, sd.size() * 4));
  CK(cudaMalloc(&dsinks, hq * 4));
  CK(cudaMemcpy(dq, q.data(), q.size() * 2, cudaMemcpyHostToDevice));
  CK(cudaMemcpy(dk, k.data(), k.size() * 2, cudaMemcpyHostToDevice));
  CK(cudaMemcpy(dv, v.data(), v.size() * 2, cudaMemcpyHostToDevice));
  CK(cudaMemcpy(dsd, sd.data(), sd.size() * 4, cudaMemcpyHostToDevice));
  CK(cudaMemcpy(dsinks, sinks.data(), hq * 4, cudaMemcpyHostToDevice));
  std::vector<uint16_t> out(q.size(), nan_bits);
  CK(cudaMemcpy(dout, out.data(), out.size() * 2, cudaMemcpyHostToDevice));

  Params p;
  p.q = dq;
  p.k_cache = dk;
  p.v_cache = dv;
  p.seqs = dsd;
  p.sinks = c.sinks ? dsinks : nullptr;
  p.workspace = nullptr;
  p.out = dout;
  p.total_q = total;
  p.num_seqs = n;
  p.hq = hq;
  p.hk = hk;
  p.d = d;
  p.slots = slots;
  p.capacity = cap;
  p.max_q_len = max_q + 7;  // larger than needed: surplus blocks must exit
  p.max_kv_len = cap;
  p.scale = scale;
  p.window = c.window;
  p.softcap = c.softcap;
  CK(khub_flash::launch_prefill(p, c.dt, nullptr));
  CK(cudaDeviceSynchronize());
  CK(cudaMemcpy(out.data(), dout, out.size() * 2, cudaMemcpyDeviceToHost));
  cudaFree(dq);
  cudaFree(dk);
  cudaFree(dv);
  cudaFree(dout);
  cudaFree(dsd);
  cudaFree(dsinks);

  std::vector<char> in_seq(total, 0);
  for (int i = 0; i < n; ++i)
    for (int r = 0; r < c.seqs[i].q_len; ++r) in_seq[sd[4 * i + 1] + r] = 1;
  double max_ref = 0, max_err = 0;
  for (size_t x = 0; x < ref.size(); ++x) max_ref = std::max(max_ref, std::fabs(ref[x]));
  const double rtol = c.dt == Dtype::kBF16 ? 1e-2 : 2e-3;
  const double atol = (c.dt == Dtype::kBF16 ? 4e-3 : 1e-3) * std::max(max_ref, 1e-3);
  bool pass = true;
  int reported = 0;
  for (int64_t row = 0; row < total; ++row)
    for (int h = 0; h < hq; ++h)
      for (int e = 0; e < d; ++e) {
        const int64_t x = (row * hq + h) * d + e;
        if (!in_seq[row]) {
          if (out[x] != nan_bits) {
            pass = false;
            if (reported++ < 5) std::printf("  row %ld outside sequences was written\n", row);
          }
          continue;
        }
        const double got = from_bits(out[x], c.dt);
        const double err = std::fabs(got - ref[x]);
        if (!(err <= atol + rtol * std::fabs(ref[x]))) {
          pass = false;
          if (reported++ < 5)
            std::printf("  row %ld head %d e %d: got %g want %g\n", row, h, e, got, ref[x]);
        }
        if (!(err <= max_err)) max_err = std::isnan(err) ? INFINITY : err;
      }
  return {pass, max_err, max_ref};
}

double time_prefill(Dtype dt, int b, int s, int h, int hk, int d, int64_t window, float softcap,
                    bool sinks, double* flops_out) {
  const int64_t total = int64_t{b} * s;
  void *dq, *dk, *dv, *dout;
  int32_t* dsd;
  float* dsinks;
  const size_t qn = total * h * d, kn = total * hk * d;
  CK(cudaMalloc(&dq, qn * 2));
  CK(cudaMalloc(&dk, kn * 2));
  CK(cudaMalloc(&dv, kn * 2));
  CK(cudaMalloc(&dout, qn * 2));
  CK(cudaMalloc(&dsd, b * 16));
  CK(cudaMalloc(&dsinks, h * 4));
  // Random bits in [-1, 1) for every buffer: mantissa noise, no NaN/Inf.
  {
    std::mt19937_64 rng(7);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    std::vector<uint16_t> hbuf(std::max(qn, kn));
    for (auto& x : hbuf) x = to_bits(u(rng), dt);
    CK(cudaMemcpy(dq, hbuf.data(), qn * 2, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(dk, hbuf.data(), kn * 2, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(dv, hbuf.data() + 1, (kn - 1) * 2, cudaMemcpyHostToDevice));
    std::vector<int32_t> sd(4 * b);
    for (int i = 0; i < b; ++i) {
      sd[4 * i] = i;
      sd[4 * i + 1] = i * s;
      sd[4 * i + 2] = s;
      sd[4 * i + 3] = s;
    }
    CK(cudaMemcpy(dsd, sd.data(), b * 16, cudaMemcpyHostToDevice));
    std::vector<float> sk(h, 0.5f);
    CK(cudaMemcpy(dsinks, sk.data(), h * 4, cudaMemcpyHostToDevice));
  }
  Params p;
  p.q = dq;
  p.k_cache = dk;
  p.v_cache = dv;
  p.seqs = dsd;
  p.sinks = sinks ? dsinks : nullptr;
  p.out = dout;
  p.total_q = total;
  p.num_seqs = b;
  p.hq = h;
  p.hk = hk;
  p.d = d;
  p.slots = b;
  p.capacity = s;
  p.max_q_len = s;
  p.max_kv_len = s;
  p.scale = 1.0f / std::sqrt(float(d));
  p.window = window;
  p.softcap = softcap;
  cudaEvent_t e0, e1;
  CK(cudaEventCreate(&e0));
  CK(cudaEventCreate(&e1));
  for (int i = 0; i < 3; ++i) CK(khub_flash::launch_prefill(p, dt, nullptr));
  CK(cudaDeviceSynchronize());
  std::vector<float> ms;
  for (int i = 0; i < 20; ++i) {
    CK(cudaEventRecord(e0));
    CK(khub_flash::launch_prefill(p, dt, nullptr));
    CK(cudaEventRecord(e1));
    CK(cudaEventSynchronize(e1));
    float x;
    CK(cudaEventElapsedTime(&x, e0, e1));
    ms.push_back(x);
  }
  std::sort(ms.begin(), ms.end());
  // Visible (query, key) pairs, times 4·D flops each.
  // Causal counts S²/2 pairs, as the usual TFLOP/s figures of attention kernels.
  double pairs = 0.5 * s * s;
  if (window > 0) {
    pairs = 0;
    for (int64_t pos = 0; pos < s; ++pos) pairs += std::min<int64_t>(pos + 1, window);
  }
  *flops_out = 4.0 * b * h * pairs * d;
  cudaFree(dq);
  cudaFree(dk);
  cudaFree(dv);
  cudaFree(dout);
  cudaFree(dsd);
  cudaFree(dsinks);
  return ms[ms.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const uint64_t seed =
      argc > 1 ? std::strtoull(argv[1], nullptr, 10)
               : static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  std::printf("seed %llu\n", static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);
  const Dtype B = Dtype::kBF16, F = Dtype::kF16;
  // q_len < kv_len: continuation of a cached prefix; lengths straddle the 64/128-row tiles.
  const std::vector<Seq> mix = {{200, 200}, {37, 300}, {129, 129}, {1, 77}, {64, 190}};
  const std::vector<Seq> small = {{70, 70}, {5, 133}, {130, 260}};
  std::vector<Case> cases = {
      {"bf16 d128 gqa1", B, 128, 4, 4, mix},
      {"bf16 d128 gqa2", B, 128, 8, 4, mix},
      {"bf16 d128 gqa8", B, 128, 16, 2, small},
      {"f16 d128 gqa2", F, 128, 4, 2, mix},
      {"bf16 d64 gqa1", B, 64, 4, 4, mix},
      {"f16 d64 gqa8", F, 64, 8, 1, mix},
      {"bf16 d256 gqa2", B, 256, 4, 2, mix},
      {"f16 d256 gqa1", F, 256, 2, 2, small},
      {"bf16 d128 window 50", B, 128, 4, 2, mix, 50},
      {"bf16 d128 window 1", B, 128, 2, 2, small, 1},
      {"f16 d64 window 100", F, 64, 4, 4, mix, 100},
      {"bf16 d256 window 70", B, 256, 2, 1, mix, 70},
      {"bf16 d128 softcap 5", B, 128, 4, 2, mix, 0, 5.0f, false, 4.0f},
      {"f16 d256 softcap 30", F, 256, 2, 2, small, 0, 30.0f, false, 4.0f},
      {"bf16 d128 sinks", B, 128, 4, 1, mix, 0, 0.0f, true},
      {"bf16 d64 window+softcap+sinks", B, 64, 8, 2, mix, 64, 10.0f, true, 3.0f},
      {"f16 d128 window+sinks gqa8", F, 128, 8, 1, small, 33, 0.0f, true},
      {"bf16 d128 long 1000+600/1500", B, 128, 2, 1, {{1000, 1000}, {600, 1500}}},
      {"bf16 d64 long window 128 sinks", B, 64, 4, 1, {{700, 700}, {300, 900}}, 128, 0.0f, true},
      {"f16 d128 q_len 1..3", F, 128, 4, 2, {{1, 1}, {2, 2}, {3, 50}, {1, 129}}},
  };
  const bool bench_only = argc > 2 && std::strcmp(argv[2], "bench") == 0;
  int failed = 0;
  for (const Case& c : cases) {
    if (bench_only) break;
    const Result r = run_case(c, rng);
    std::printf("%s %-32s max_err %.3e max|ref| %.3e\n", r.pass ? "PASS" : "FAIL", c.name,
                r.max_err, r.max_ref);
    failed += !r.pass;
  }
  std::printf("%d of %zu cases failed\n", failed, cases.size());

  struct Bench {
    const char* name;
    Dtype dt;
    int b, s, h, hk, d;
    int64_t window;
    float softcap;
    bool sinks;
  };
  const Bench benches[] = {
      {"causal b4 s4096 h16 d128 bf16", B, 4, 4096, 16, 16, 128, 0, 0.0f, false},
      {"causal b4 s4096 h16 d128 f16", F, 4, 4096, 16, 16, 128, 0, 0.0f, false},
      {"causal b4 s4096 h32 d64 bf16", B, 4, 4096, 32, 32, 64, 0, 0.0f, false},
      {"causal b4 s4096 h8 d256 bf16", B, 4, 4096, 8, 8, 256, 0, 0.0f, false},
      {"causal b4 s4096 h16/4 d128 bf16 gqa4", B, 4, 4096, 16, 4, 128, 0, 0.0f, false},
      {"window1024 b4 s4096 h16 d128 bf16", B, 4, 4096, 16, 16, 128, 1024, 0.0f, false},
      {"softcap+sinks b4 s4096 h16 d128", B, 4, 4096, 16, 16, 128, 0, 30.0f, true},
      {"gpt-oss-like b4 s4096 h64/8 d64 w128 sinks", B, 4, 4096, 64, 8, 64, 128, 0.0f, true},
      {"causal b1 s16384 h16 d128 bf16", B, 1, 16384, 16, 16, 128, 0, 0.0f, false},
      {"window256 b4 s4096 h16 d128 bf16", B, 4, 4096, 16, 16, 128, 256, 0.0f, false},
      {"window512 b4 s4096 h16 d128 bf16", B, 4, 4096, 16, 16, 128, 512, 0.0f, false},
      {"window512 b4 s4096 h64/8 d64 sinks", B, 4, 4096, 64, 8, 64, 512, 0.0f, true},
  };
  for (const Bench& b : benches) {
    double flops;
    const double ms =
        time_prefill(b.dt, b.b, b.s, b.h, b.hk, b.d, b.window, b.softcap, b.sinks, &flops);
    std::printf("TIME %-40s %8.3f ms %7.1f TFLOP/s\n", b.name, ms, flops / ms * 1e-9);
  }
  return failed ? 1 : 0;
}
