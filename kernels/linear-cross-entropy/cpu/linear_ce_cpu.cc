// khub-community/linear-cross-entropy, CPU variant (f32): the LinearCrossEntropy layer's forward
// and backward (docs/layer-contracts.md).
//
//   linear_cross_entropy_forward   hidden [T, H], weight [V, H], targets [T] i32 -> loss [T] f32
//   linear_cross_entropy_backward  hidden, weight, targets -> grad_hidden [T, H];
//                                  grad_weight [V, H] f32 (inout: the weight's gradient is added)
//   attrs: softcap (float, 0 = none), ignore_index (int, -100), chunk_rows (int, 0 = 64),
//          grad_scale (float, backward: the gradient of each row's loss)
//
// Per chunk of C rows, with z = hidden · weightᵀ and y = softcap · tanh(z / softcap) (y = z without
// a cap), lse = log Σ exp(y):
//   loss[r] = lse[r] - y[r, target[r]]                   (0 for an ignored row)
//   g[r, v] = grad_scale · (exp(y - lse) - [v == target]) · (1 - (y / softcap)²)
//   grad_hidden[r] = Σ_v g[r, v] · weight[v]            grad_weight[v] += Σ_r g[r, v] · hidden[r]
// The weight is read by blocks of kBlock vocabulary rows: a block stays in cache while every row
// of the chunk meets it, so the weight streams from memory twice per chunk (logits, gradients).
// Blocks are spread over threads; grad_weight rows belong to one block (no sharing), and each
// thread adds its blocks' share of grad_hidden into its own [C, H] slice of the workspace, summed
// in thread order at the end of the chunk.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>

#include "khub/kernel_abi.h"
#include "khub/kernel_manifest.h"
#include "khub_cpu/abi_args.h"
#include "khub_cpu/parallel.h"

namespace khub_linear_ce {
namespace {

using khub_cpu::CallArgs;

constexpr int64_t kBlock = 32;  // vocabulary rows per block

struct Problem {
  const float* hidden = nullptr;
  const float* weight = nullptr;
  const int32_t* targets = nullptr;
  int64_t t = 0, h = 0, v = 0, chunk = 0;
  float softcap = 0.0f;
  int64_t ignore = -100;
  int threads = 1;
};

inline float dot(const float* a, const float* b, int64_t n) {
  float s = 0.0f;
#pragma omp simd reduction(+ : s)
  for (int64_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

inline float cap(float z, float c) { return c > 0.0f ? c * std::tanh(z / c) : z; }

// Runs fn(begin, end) over the vocabulary blocks, worker w (0 … threads-1) taking blocks from a
// shared counter; fn gets its worker index.
template <typename Fn>
void over_blocks(int64_t blocks, int threads, const Fn& fn) {
  std::atomic<int64_t> next{0};
  auto worker = [&](int w) {
    for (int64_t b; (b = next.fetch_add(1, std::memory_order_relaxed)) < blocks;) fn(w, b);
  };
  std::vector<std::thread> pool;
  for (int w = 1; w < threads; ++w) {
    try {
      pool.emplace_back(worker, w);
    } catch (...) {
      break;  // the remaining workers take the share
    }
  }
  worker(0);
  for (auto& th : pool) th.join();
}

int worker_count(const Problem& p, int requested) {
  int64_t blocks = (p.v + kBlock - 1) / kBlock;
  return khub_cpu::parallel_threads(blocks, kBlock * p.h * std::min(p.t, p.chunk), requested);
}

uint64_t workspace_floats(const Problem& p, bool backward) {
  int64_t c = std::min(p.t, p.chunk);
  uint64_t n = static_cast<uint64_t>(c) * p.v + c;  // logits, lse
  if (backward) n += static_cast<uint64_t>(p.threads) * c * p.h;
  return n;
}

// One chunk [r0, r0 + c): logits into z [c, V], each row's lse, its loss.
void chunk_forward(const Problem& p, int64_t r0, int64_t c, float* z, float* lse, float* loss) {
  const int64_t blocks = (p.v + kBlock - 1) / kBlock;
  over_blocks(blocks, p.threads, [&](int, int64_t b) {
    int64_t v0 = b * kBlock, v1 = std::min(p.v, v0 + kBlock);
    for (int64_t r = 0; r < c; ++r) {
      const float* hr = p.hidden + (r0 + r) * p.h;
      for (int64_t v = v0; v < v1; ++v)
        z[r * p.v + v] = cap(dot(hr, p.weight + v * p.h, p.h), p.softcap);
    }
  });
  khub_cpu::parallel_for(c, std::min<int>(p.threads, static_cast<int>(c)),
                         [&](int64_t a, int64_t e) {
                           for (int64_t r = a; r < e; ++r) {
                             const float* zr = z + r * p.v;
                             float mx = zr[0];
                             for (int64_t v = 1; v < p.v; ++v) mx = std::max(mx, zr[v]);
                             double s = 0.0;
                             for (int64_t v = 0; v < p.v; ++v)
                               s += std::exp(static_cast<double>(zr[v] - mx));
                             lse[r] = mx + static_cast<float>(std::log(s));
                             int32_t y = p.targets[r0 + r];
                             if (loss != nullptr)
                               loss[r0 + r] = y == p.ignore ? 0.0f : lse[r] - zr[y];
                           }
                         });
}

bool read(CallArgs& c, bool backward, Problem* p, int num_threads) {
  double softcap = 0.0;
  int64_t chunk = 0;
  if (!c.check_call(backward ? 5 : 4, backward ? 4 : 3) || !c.f32_tensor(0, "hidden") ||
      !c.rank(0, "hidden", 2) || !c.f32_tensor(1, "weight") || !c.rank(1, "weight", 2) ||
      !c.rank(2, "targets", 1) || !c.attr_float("softcap", &softcap) ||
      !c.attr_int("ignore_index", &p->ignore) || !c.attr_int("chunk_rows", &chunk))
    return false;
  const DLTensor &hd = c.tensor(0), &w = c.tensor(1), &tg = c.tensor(2);
  p->t = hd.shape[0];
  p->h = hd.shape[1];
  p->v = w.shape[0];
  if (!c.dim_is(1, "weight", 1, p->h, "the hidden size of hidden") ||
      !c.dim_is(2, "targets", 0, p->t, "the rows of hidden"))
    return false;
  if (tg.dtype.code != kDLInt || tg.dtype.bits != 32 || tg.device.device_type != kDLCPU) {
    return c.fail(KHUB_STATUS_INVALID_ARGUMENT, "targets must be i32 on the CPU");
  }
  for (int i : {0, 1, 2}) {
    const DLTensor& x = c.tensor(i);
    int64_t expect = 1;
    for (int d = x.ndim - 1; x.strides != nullptr && d >= 0; --d) {
      if (x.shape[d] != 1 && x.strides[d] != expect)
        return c.fail(KHUB_STATUS_INVALID_ARGUMENT, "argument %d is not contiguous", i);
      expect *= x.shape[d];
    }
  }
  if (p->v <= 0 || p->h <= 0)
    return c.fail(KHUB_STATUS_INVALID_ARGUMENT, "weight has %lld rows of %lld, expected both > 0",
                  static_cast<long long>(p->v), static_cast<long long>(p->h));
  if (chunk < 0) return c.fail(KHUB_STATUS_INVALID_ARGUMENT, "chunk_rows is negative");
  p->chunk = chunk == 0 ? 64 : chunk;
  p->softcap = static_cast<float>(softcap);
  p->hidden = static_cast<const float*>(c.data(0));
  p->weight = static_cast<const float*>(c.data(1));
  p->targets = static_cast<const int32_t*>(c.data(2));
  for (int64_t r = 0; r < p->t; ++r) {
    int32_t y = p->targets[r];
    if (y != p->ignore && (y < 0 || y >= p->v))
      return c.fail(KHUB_STATUS_INVALID_ARGUMENT,
                    "target %d of row %lld is outside [0, %lld) and is not ignore_index %lld", y,
                    static_cast<long long>(r), static_cast<long long>(p->v),
                    static_cast<long long>(p->ignore));
  }
  p->threads = worker_count(*p, num_threads);
  return true;
}

khub_status forward(const khub_call* call, khub_error* error) {
  CallArgs c("linear_cross_entropy_forward", call, error);
  Problem p;
  if (!read(c, false, &p, c.num_threads()) || !c.f32_tensor(3, "loss") ||
      !c.dim_is(3, "loss", 0, p.t, "the rows of hidden"))
    return c.status();
  if (c.workspace_bytes() < workspace_floats(p, false) * sizeof(float)) {
    c.fail(KHUB_STATUS_INVALID_ARGUMENT, "workspace of %llu bytes, expected %llu",
           static_cast<unsigned long long>(c.workspace_bytes()),
           static_cast<unsigned long long>(workspace_floats(p, false) * sizeof(float)));
    return c.status();
  }
  float* z = static_cast<float*>(c.workspace());
  float* lse = z + std::min(p.t, p.chunk) * p.v;
  float* loss = static_cast<float*>(c.data(3));
  for (int64_t r0 = 0; r0 < p.t; r0 += p.chunk) {
    chunk_forward(p, r0, std::min(p.chunk, p.t - r0), z, lse, loss);
  }
  return KHUB_STATUS_OK;
}

khub_status backward(const khub_call* call, khub_error* error) {
  CallArgs c("linear_cross_entropy_backward", call, error);
  Problem p;
  double scale_d = 0.0;
  if (!read(c, true, &p, c.num_threads()) || !c.attr_float("grad_scale", &scale_d) ||
      !c.f32_tensor(3, "grad_hidden") || !c.same_shape(3, "grad_hidden", 0, "hidden") ||
      !c.f32_tensor(4, "grad_weight") || !c.same_shape(4, "grad_weight", 1, "weight"))
    return c.status();
  if (c.workspace_bytes() < workspace_floats(p, true) * sizeof(float)) {
    c.fail(KHUB_STATUS_INVALID_ARGUMENT, "workspace of %llu bytes, expected %llu",
           static_cast<unsigned long long>(c.workspace_bytes()),
           static_cast<unsigned long long>(workspace_floats(p, true) * sizeof(float)));
    return c.status();
  }
  const float scale = static_cast<float>(scale_d);
  const int64_t cmax = std::min(p.t, p.chunk);
  float* z = static_cast<float*>(c.workspace());
  float* lse = z + cmax * p.v;
  float* part = lse + cmax;  // [threads, cmax, H]
  float* gh = static_cast<float*>(c.data(3));
  float* gw = static_cast<float*>(c.data(4));
  const int64_t blocks = (p.v + kBlock - 1) / kBlock;
  for (int64_t r0 = 0; r0 < p.t; r0 += p.chunk) {
    const int64_t n = std::min(p.chunk, p.t - r0);
    chunk_forward(p, r0, n, z, lse, nullptr);
    std::memset(part, 0, sizeof(float) * p.threads * n * p.h);
    over_blocks(blocks, p.threads, [&](int w, int64_t b) {
      int64_t v0 = b * kBlock, v1 = std::min(p.v, v0 + kBlock);
      float* mine = part + static_cast<int64_t>(w) * n * p.h;
      for (int64_t r = 0; r < n; ++r) {
        int32_t y = p.targets[r0 + r];
        if (y == p.ignore) continue;
        const float* hr = p.hidden + (r0 + r) * p.h;
        float* ghr = mine + r * p.h;
        for (int64_t v = v0; v < v1; ++v) {
          float yv = z[r * p.v + v];
          float g = std::exp(yv - lse[r]) - (v == y ? 1.0f : 0.0f);
          if (p.softcap > 0.0f) g *= 1.0f - (yv / p.softcap) * (yv / p.softcap);
          g *= scale;
          const float* wv = p.weight + v * p.h;
          float* gwv = gw + v * p.h;
#pragma omp simd
          for (int64_t k = 0; k < p.h; ++k) {
            ghr[k] += g * wv[k];
            gwv[k] += g * hr[k];
          }
        }
      }
    });
    khub_cpu::parallel_for(n, std::min<int>(p.threads, static_cast<int>(n)),
                           [&](int64_t a, int64_t e) {
                             for (int64_t r = a; r < e; ++r) {
                               float* out = gh + (r0 + r) * p.h;
                               std::fill(out, out + p.h, 0.0f);
                               for (int w = 0; w < p.threads; ++w) {
                                 const float* src = part + (static_cast<int64_t>(w) * n + r) * p.h;
                                 for (int64_t k = 0; k < p.h; ++k) out[k] += src[k];
                               }
                             }
                           });
  }
  return KHUB_STATUS_OK;
}

// The workspace query reads the same arguments the call will; a call it cannot read asks for
// nothing, and the call then reports what is wrong.
uint64_t workspace(const khub_call* call, bool backward) {
  CallArgs c(backward ? "linear_cross_entropy_backward" : "linear_cross_entropy_forward", call,
             nullptr);
  Problem p;
  if (!read(c, backward, &p, c.num_threads())) return 0;
  return workspace_floats(p, backward) * sizeof(float);
}
uint64_t forward_workspace(const khub_call* call) { return workspace(call, false); }
uint64_t backward_workspace(const khub_call* call) { return workspace(call, true); }

constexpr khub_attr_desc kForwardAttrs[] = {
    {"softcap", KHUB_VALUE_FLOAT, 0, {KHUB_VALUE_FLOAT, {.f = 0.0}}},
    {"ignore_index", KHUB_VALUE_INT, 0, {KHUB_VALUE_INT, {.i = -100}}},
    {"chunk_rows", KHUB_VALUE_INT, 0, {KHUB_VALUE_INT, {.i = 0}}},
};
constexpr khub_attr_desc kBackwardAttrs[] = {
    {"softcap", KHUB_VALUE_FLOAT, 0, {KHUB_VALUE_FLOAT, {.f = 0.0}}},
    {"ignore_index", KHUB_VALUE_INT, 0, {KHUB_VALUE_INT, {.i = -100}}},
    {"chunk_rows", KHUB_VALUE_INT, 0, {KHUB_VALUE_INT, {.i = 0}}},
    {"grad_scale", KHUB_VALUE_FLOAT, 0, {KHUB_VALUE_FLOAT, {.f = 1.0}}},
};
constexpr khub_arg_desc kForwardArgs[] = {
    {"hidden", KHUB_ARG_INPUT, "f32", 2, KHUB_ARG_CONTIGUOUS},
    {"weight", KHUB_ARG_PARAM, "same:hidden", 2, KHUB_ARG_CONTIGUOUS},
    {"targets", KHUB_ARG_INPUT, "i32", 1, KHUB_ARG_CONTIGUOUS},
    {"loss", KHUB_ARG_OUTPUT, "f32", 1, KHUB_ARG_CONTIGUOUS},
};
constexpr khub_arg_desc kBackwardArgs[] = {
    {"hidden", KHUB_ARG_INPUT, "f32", 2, KHUB_ARG_CONTIGUOUS},
    {"weight", KHUB_ARG_PARAM, "same:hidden", 2, KHUB_ARG_CONTIGUOUS},
    {"targets", KHUB_ARG_INPUT, "i32", 1, KHUB_ARG_CONTIGUOUS},
    {"grad_hidden", KHUB_ARG_OUTPUT, "same:hidden", 2, KHUB_ARG_CONTIGUOUS},
    {"grad_weight", KHUB_ARG_INOUT, "f32", 2, KHUB_ARG_CONTIGUOUS},
};

}  // namespace
}  // namespace khub_linear_ce

extern "C" {

KHUB_KERNEL_EXPORT khub_status khub_linear_cross_entropy_forward(const khub_call* call,
                                                                 khub_error* error) {
  return khub_cpu::guard_boundary("linear_cross_entropy_forward", error,
                                  [&] { return khub_linear_ce::forward(call, error); });
}

KHUB_KERNEL_EXPORT khub_status khub_linear_cross_entropy_backward(const khub_call* call,
                                                                  khub_error* error) {
  return khub_cpu::guard_boundary("linear_cross_entropy_backward", error,
                                  [&] { return khub_linear_ce::backward(call, error); });
}

}  // extern "C"

namespace khub_linear_ce {
namespace {

const khub_function_desc kFunctions[] = {
    {sizeof(khub_function_desc), "linear_cross_entropy_forward",
     "khub_linear_cross_entropy_forward", 4, kForwardArgs, 3, kForwardAttrs, "f32", 0,
     forward_workspace, R"({"softcap": true, "ignore_index": true})"},
    {sizeof(khub_function_desc), "linear_cross_entropy_backward",
     "khub_linear_cross_entropy_backward", 5, kBackwardArgs, 4, kBackwardAttrs, "f32", 0,
     backward_workspace, R"({"softcap": true, "ignore_index": true})"},
};

const khub_layer_desc kLayers[] = {
    {sizeof(khub_layer_desc), "LinearCrossEntropy", "linear_cross_entropy_forward",
     "linear_cross_entropy_backward", KHUB_LAYER_HAS_BACKWARD},
};

}  // namespace
}  // namespace khub_linear_ce

KHUB_DEFINE_KERNEL_MANIFEST("linear-cross-entropy", "cpu", khub_linear_ce::kFunctions,
                            khub_linear_ce::kLayers)
