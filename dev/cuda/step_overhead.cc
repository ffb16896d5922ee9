// Experiment (dev/, not part of the build): how much of a compile-mode decode step is the host's.
// Loads MODEL_DIR on CUDA with --use-kernels in mode inference,compile, prefills a 32-token
// prompt, then times N decode steps two ways: (a) queued back to back with no host read-back
// (the GPU never waits for the host once the graph exists), (b) as generate()'s plain loop runs
// them, with the greedy pick copied back after each step. (b) - (a) is the host's share of a step.
// Then the greedy graphs (CausalLM::greedy_continue): (c) queued back to back, nothing read back,
// (d) as generate()'s look-ahead runs them (each step's picks read while the next step runs), and
// (e) the device time of one replay alone (events around it, the queue drained before each), so
// (c) - (e) is what sits between two graphs.
//   dev/cuda/build.sh → build/dev/step_overhead MODEL_DIR [STEPS=256]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <cuda_runtime_api.h>

#include "core/cuda.h"
#include "core/host_readback.h"
#include "core/stream.h"
#include "models/causal_lm.h"
#include "ops/indexing.h"

using namespace khub;

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: step_overhead MODEL_DIR [STEPS]\n");
    return 2;
  }
  int steps = argc > 2 ? std::atoi(argv[2]) : 256;
  LoadOptions o;
  o.device = "cuda";
  o.dtype = "bf16";
  o.use_kernels = true;
  o.mode = Mode::kInference | Mode::kCompile;
  auto model = CausalLM::from_pretrained(argv[1], o);
  Device gpu = model->device();
  std::vector<int32_t> prompt(32);
  for (int i = 0; i < 32; ++i) prompt[i] = 100 + i;
  for (int pass = 0; pass < 3; ++pass) {
    for (bool readback : {false, true}) {
      KVCache cache = model->make_cache(1, 32 + steps + 1);
      model->forward({{0, prompt}}, cache);
      model->forward({{0, {7}}}, cache);  // the graph's capture
      cuda_synchronize(gpu);
      auto t0 = std::chrono::steady_clock::now();
      int32_t tok = 7;
      for (int s = 0; s < steps - 1; ++s) {
        Tensor logits = model->forward({{0, {tok}}}, cache);
        if (readback) tok = ops::argmax_rows(logits).to(Device::cpu()).data_as<int32_t>()[0];
      }
      cuda_synchronize(gpu);
      double us =
          std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() /
          (steps - 1);
      std::printf("pass %d %-28s %8.1f us/step %8.0f tok/s\n", pass,
                  readback ? "greedy pick read back" : "queued, no read-back", us, 1e6 / us);
    }
  }
  for (int pass = 0; pass < 3; ++pass) {
    for (int kind = 0; kind < 3; ++kind) {
      KVCache cache = model->make_cache(1, 32 + steps + 2);
      model->forward({{0, prompt}}, cache);
      model->greedy_step({{0, {7}}}, cache);  // the greedy graph's capture
      cuda_synchronize(gpu);
      HostReadback picks[2];
      cudaEvent_t a, b;
      cudaEventCreate(&a);
      cudaEventCreate(&b);
      double device_ms = 0;
      auto t0 = std::chrono::steady_clock::now();
      for (int s = 0; s < steps - 1; ++s) {
        if (kind == 2) {
          cuda_synchronize(gpu);
          cudaEventRecord(a, static_cast<cudaStream_t>(current_stream(gpu)));
        }
        Tensor ids = model->greedy_continue(cache);
        if (kind == 1) {
          if (const int32_t* host = model->greedy_host_picks()) {
            picks[s % 2].mark(gpu, host);
          } else {
            picks[s % 2].start(ids);
          }
          if (s > 0) picks[(s - 1) % 2].wait();
        }
        if (kind == 2) {
          cudaEventRecord(b, static_cast<cudaStream_t>(current_stream(gpu)));
          cudaEventSynchronize(b);
          float ms = 0;
          cudaEventElapsedTime(&ms, a, b);
          device_ms += ms;
        }
      }
      cuda_synchronize(gpu);
      double us =
          std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() /
          (steps - 1);
      if (kind == 2) us = device_ms * 1e3 / (steps - 1);
      const char* what[] = {"greedy graphs back to back", "greedy look-ahead read-back",
                            "one greedy replay (events)"};
      std::printf("pass %d %-28s %8.1f us/step %8.0f tok/s\n", pass, what[kind], us, 1e6 / us);
    }
  }
  return 0;
}
