// Shared by the CUDA kernel benchmarks (bench_kernels_cuda, bench_flash_decode): random inputs on
// the GPU, host-synchronized median timing, the device-to-device copy bandwidth every figure is a
// fraction of, loading a built kernel project as khub loads it, and the report's common fields.
#pragma once

#include <algorithm>
#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "cli/bench_report.h"
#include "core/cuda.h"
#include "hub/get_kernel.h"

namespace khub::bench {

inline const Device kGpu = Device::cuda(0);

inline double nbytes(const Tensor& t) {
  return static_cast<double>(t.numel() * dtype_size(t.dtype()));
}

// Uniform(lo, hi) values; tensors above 4M elements repeat one random block (device copies),
// which keeps the set-up short and the data non-trivial.
inline Tensor random_on_gpu(const Shape& shape, DType dtype, double lo, double hi, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(static_cast<float>(lo), static_cast<float>(hi));
  Tensor out = Tensor::empty(shape, dtype, kGpu);
  const int64_t numel = out.numel(), block = std::min<int64_t>(numel, int64_t{1} << 22);
  Tensor t = Tensor::empty({block}, DType::kF32);
  for (int64_t i = 0; i < block; ++i) t.data_as<float>()[i] = u(rng);
  Tensor b = t.to(dtype).to(kGpu);
  Tensor flat = out.view({numel});
  for (int64_t off = 0; off < numel; off += block) {
    const int64_t len = std::min(block, numel - off);
    flat.slice(0, off, off + len).copy_from(b.slice(0, 0, len));
  }
  return out;
}

// Median seconds per call of fn over 9 batches of `reps` calls (after 3 warm-up calls), each batch
// timed on the host around a device synchronization.
inline double median_seconds(const std::function<void()>& fn, int reps = 20) {
  for (int i = 0; i < 3; ++i) fn();
  cuda_synchronize(kGpu);
  std::vector<double> t;
  for (int b = 0; b < 9; ++b) {
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < reps; ++i) fn();
    cuda_synchronize(kGpu);
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() /
                reps);
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

// Bytes per second of a 1 GiB device-to-device copy, counting bytes read plus bytes written.
inline double copy_bandwidth() {
  Tensor a = random_on_gpu({int64_t{1} << 28}, DType::kF32, -1, 1, 1), b = a.clone();
  return 2.0 * nbytes(a) / median_seconds([&] { b.copy_from(a); });
}

inline std::shared_ptr<const loader::Kernel> load_kernel(const std::string& dir,
                                                         const std::string& name) {
  hub::KernelOptions o;
  o.device = kGpu;
  return hub::get_local_kernel(dir + "/" + name, o);
}

// The bench/results header (date, commit: cli::bench_environment) with "device" the GPU and
// "host_cpu" the machine's processor.
inline nlohmann::json report_header() {
  nlohmann::json r = cli::bench_environment();
  r["host_cpu"] = r["device"];
  r["device"] = cuda_device_properties(0).name;
  return r;
}

}  // namespace khub::bench
