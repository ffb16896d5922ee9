// khub-community/moe, CPU variant: the `MoE` layer (../moe_signature.h has the signature and the
// workspace layout). x and out f32; the weights f32, bf16 or f16 (a CPU model keeps its
// checkpoint's dtype). Steps: router logits and routes per token; a stable counting sort of the
// T·k routes by expert; per expert its gate_up GEMM over its rows with the gated activation, then
// its down GEMM, each split over output features across threads (every weight row is widened to
// f32 once and multiplied with all of the expert's rows, so a decode step reads each used expert
// once); last the weighted sum of each token's routes in ascending expert order.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "../moe_signature.h"
#include "khub/kernel_abi.h"
#include "khub_cpu/abi_args.h"
#include "khub_cpu/parallel.h"

namespace khub_moe_cpu {
namespace {

using khub_cpu::CallArgs;
using khub_cpu::ElemType;
using khub_moe::Arg;

template <typename W>
void widen(const W* src, int64_t n, float* dst) {
  for (int64_t i = 0; i < n; ++i) dst[i] = khub_cpu::to_f32(src[i]);
}

float dot(const float* a, const float* b, int64_t n) {
  float s = 0.0f;
  for (int64_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

struct Problem {
  khub_moe::Shape s;
  khub_moe::Attrs at;
  const float* x;
  float* out;
  const void *router, *gate_up, *down, *router_bias, *gate_up_bias, *down_bias;
  khub_moe::Layout l;
  char* ws;
  int threads;
  template <typename P>
  P* at_ws(uint64_t off) const {
    return reinterpret_cast<P*>(ws + off);
  }
};

// The j-th largest of v[0, e) not yet picked (ties: the lower index), as the reference picks.
int pick(const float* v, int64_t e, const int32_t* picked, int j) {
  int best = -1;
  for (int64_t c = 0; c < e; ++c) {
    if (std::find(picked, picked + j, static_cast<int32_t>(c)) != picked + j) continue;
    if (best < 0 || v[c] > v[best]) best = static_cast<int>(c);
  }
  return best;
}

template <typename W>
void route(const Problem& p) {
  const int64_t t = p.s.t, e = p.s.e, h = p.s.h, k = p.s.k;
  float* logits = p.at_ws<float>(p.l.logits);
  int32_t* expert = p.at_ws<int32_t>(p.l.expert);
  float* weight = p.at_ws<float>(p.l.weight);
  const W* rw = static_cast<const W*>(p.router);
  const W* rb = static_cast<const W*>(p.router_bias);
  khub_cpu::parallel_for(e, khub_cpu::parallel_threads(e, t * h, p.threads),
                         [&](int64_t b, int64_t end) {
                           std::vector<float> row(h);
                           for (int64_t c = b; c < end; ++c) {
                             widen(rw + c * h, h, row.data());
                             float bias = rb ? khub_cpu::to_f32(rb[c]) : 0.0f;
                             for (int64_t i = 0; i < t; ++i)
                               logits[i * e + c] = dot(p.x + i * h, row.data(), h) + bias;
                           }
                         });
  std::vector<float> prob(e);
  for (int64_t i = 0; i < t; ++i) {
    const float* lg = logits + i * e;
    int32_t* ex = expert + i * k;
    float* w = weight + i * k;
    if (!p.at.topk_softmax) {
      float mx = *std::max_element(lg, lg + e), sum = 0.0f;
      for (int64_t c = 0; c < e; ++c) sum += prob[c] = std::exp(lg[c] - mx);
      for (int64_t c = 0; c < e; ++c) prob[c] /= sum;
      float picked = 0.0f;
      for (int j = 0; j < k; ++j) {
        ex[j] = pick(prob.data(), e, ex, j);
        picked += w[j] = prob[ex[j]];
      }
      if (p.at.renormalize)
        for (int j = 0; j < k; ++j) w[j] /= picked;
    } else {
      for (int j = 0; j < k; ++j) {
        ex[j] = pick(lg, e, ex, j);
        w[j] = lg[ex[j]];
      }
      float mx = w[0], sum = 0.0f;
      for (int j = 0; j < k; ++j) sum += w[j] = std::exp(w[j] - mx);
      for (int j = 0; j < k; ++j) w[j] /= sum;
    }
  }
}

// Stable counting sort of the routes by expert: offsets[e] .. offsets[e + 1] are expert e's
// positions in perm (route indices t·k + j, in token order); pos[route] is its position.
void sort_routes(const Problem& p) {
  const int64_t tk = p.s.t * p.s.k, e = p.s.e;
  const int32_t* expert = p.at_ws<int32_t>(p.l.expert);
  int32_t* offsets = p.at_ws<int32_t>(p.l.offsets);
  int32_t* cursor = p.at_ws<int32_t>(p.l.cursor);
  int32_t* perm = p.at_ws<int32_t>(p.l.perm);
  int32_t* pos = p.at_ws<int32_t>(p.l.pos);
  std::fill(offsets, offsets + e + 1, 0);
  for (int64_t r = 0; r < tk; ++r) ++offsets[expert[r] + 1];
  for (int64_t c = 0; c < e; ++c) offsets[c + 1] += offsets[c];
  std::copy(offsets, offsets + e, cursor);
  for (int64_t r = 0; r < tk; ++r) {
    int32_t at = cursor[expert[r]]++;
    perm[at] = static_cast<int32_t>(r);
    pos[r] = at;
  }
}

template <typename W>
void experts(const Problem& p) {
  const int64_t e = p.s.e, h = p.s.h, inter = p.s.inter, k = p.s.k;
  const int32_t* offsets = p.at_ws<int32_t>(p.l.offsets);
  const int32_t* perm = p.at_ws<int32_t>(p.l.perm);
  float* mid = p.at_ws<float>(p.l.mid);
  float* eout = p.at_ws<float>(p.l.eout);
  const W* gu = static_cast<const W*>(p.gate_up);
  const W* dn = static_cast<const W*>(p.down);
  const W* gub = static_cast<const W*>(p.gate_up_bias);
  const W* dnb = static_cast<const W*>(p.down_bias);
  const float limit = p.at.swiglu_limit, alpha = p.at.swiglu_alpha;
  for (int64_t x = 0; x < e; ++x) {
    const int64_t r0 = offsets[x], n = offsets[x + 1] - r0;
    if (n == 0) continue;
    // gate_up rows c (gate) and inter + c (up) give mid column c for each of the n rows.
    const W* gux = gu + x * 2 * inter * h;
    khub_cpu::parallel_for(inter, khub_cpu::parallel_threads(inter, 2 * n * h, p.threads),
                           [&](int64_t b, int64_t end) {
                             std::vector<float> g(h), u(h);
                             for (int64_t c = b; c < end; ++c) {
                               widen(gux + c * h, h, g.data());
                               widen(gux + (inter + c) * h, h, u.data());
                               float bg = gub ? khub_cpu::to_f32(gub[x * 2 * inter + c]) : 0.0f;
                               float bu =
                                   gub ? khub_cpu::to_f32(gub[x * 2 * inter + inter + c]) : 0.0f;
                               for (int64_t r = 0; r < n; ++r) {
                                 const float* xr = p.x + (perm[r0 + r] / k) * h;
                                 float a = dot(xr, g.data(), h) + bg, v = dot(xr, u.data(), h) + bu;
                                 float y;
                                 if (limit > 0.0f) {
                                   a = std::min(a, limit);
                                   v = std::clamp(v, -limit, limit);
                                   y = (v + 1.0f) * (a / (1.0f + std::exp(-alpha * a)));
                                 } else {
                                   y = a / (1.0f + std::exp(-a)) * v;
                                 }
                                 mid[(r0 + r) * inter + c] = y;
                               }
                             }
                           });
    const W* dnx = dn + x * h * inter;
    khub_cpu::parallel_for(
        h, khub_cpu::parallel_threads(h, n * inter, p.threads), [&](int64_t b, int64_t end) {
          std::vector<float> w(inter);
          for (int64_t c = b; c < end; ++c) {
            widen(dnx + c * inter, inter, w.data());
            float bias = dnb ? khub_cpu::to_f32(dnb[x * h + c]) : 0.0f;
            for (int64_t r = 0; r < n; ++r)
              eout[(r0 + r) * h + c] = dot(mid + (r0 + r) * inter, w.data(), inter) + bias;
          }
        });
  }
}

// out[t] = Σ over t's routes, in ascending expert order, of weight · expert_out.
void combine(const Problem& p) {
  const int64_t t = p.s.t, h = p.s.h, k = p.s.k;
  const int32_t* expert = p.at_ws<int32_t>(p.l.expert);
  const float* weight = p.at_ws<float>(p.l.weight);
  const int32_t* pos = p.at_ws<int32_t>(p.l.pos);
  const float* eout = p.at_ws<float>(p.l.eout);
  for (int64_t i = 0; i < t; ++i) {
    int32_t order[khub_moe::kMaxTopK];
    for (int j = 0; j < k; ++j) order[j] = j;
    std::sort(order, order + k,
              [&](int32_t a, int32_t b) { return expert[i * k + a] < expert[i * k + b]; });
    float* o = p.out + i * h;
    std::fill(o, o + h, 0.0f);
    for (int j = 0; j < k; ++j) {
      const int64_t r = i * k + order[j];
      const float w = weight[r];
      const float* src = eout + int64_t{pos[r]} * h;
      for (int64_t c = 0; c < h; ++c) o[c] += src[c] * w;
    }
  }
}

khub_status forward(const khub_call* call, khub_error* error) {
  CallArgs c("moe_forward", call, error);
  if (!c.check_call(khub_moe::kNumArgs, khub_moe::kNumAttrs)) return c.status();
  Problem p{};
  char msg[256];
  if (!khub_moe::read_attrs(call, &p.at, msg, sizeof(msg)) ||
      !khub_moe::check_shapes(call, p.at.top_k, &p.s, msg, sizeof(msg))) {
    c.fail(KHUB_STATUS_INVALID_ARGUMENT, "%s", msg);
    return c.status();
  }
  ElemType tw = ElemType::kF32, t2;
  if (!c.f32_tensor(Arg::kX, "x") || !c.f32_tensor(Arg::kOut, "out") ||
      !c.float_tensor(Arg::kRouter, "router_weight", &tw))
    return c.status();
  const char* names[] = {"x",   "router_weight", "gate_up",      "down",
                         "out", "router_bias",   "gate_up_bias", "down_bias"};
  for (int a : {Arg::kGateUp, Arg::kDown, Arg::kRouterBias, Arg::kGateUpBias, Arg::kDownBias}) {
    if (a >= Arg::kRouterBias && khub_moe::absent(c.tensor(a))) continue;
    if (!c.float_tensor(a, names[a], &t2) ||
        !c.same_dtype(a, names[a], Arg::kRouter, "router_weight"))
      return c.status();
  }
  // Compact tensors only (khub passes them: every argument is KHUB_ARG_CONTIGUOUS).
  for (int a = 0; a < khub_moe::kNumArgs; ++a) {
    const DLTensor& d = c.tensor(a);
    if (khub_moe::absent(d) || d.strides == nullptr) continue;
    int64_t want = 1;
    for (int i = d.ndim - 1; i >= 0; --i) {
      if (d.shape[i] != 1 && d.strides[i] != want) {
        c.fail(KHUB_STATUS_INVALID_ARGUMENT, "%s is not contiguous, expected a compact tensor",
               names[a]);
        return c.status();
      }
      want *= d.shape[i];
    }
  }
  p.l = khub_moe::layout(p.s);
  if (p.s.t == 0) return KHUB_STATUS_OK;
  if (c.workspace() == nullptr || c.workspace_bytes() < p.l.bytes) {
    c.fail(KHUB_STATUS_INVALID_ARGUMENT, "workspace has %llu bytes, expected %llu",
           static_cast<unsigned long long>(c.workspace_bytes()),
           static_cast<unsigned long long>(p.l.bytes));
    return c.status();
  }
  p.x = static_cast<const float*>(c.data(Arg::kX));
  p.out = static_cast<float*>(c.data(Arg::kOut));
  p.router = c.data(Arg::kRouter);
  p.gate_up = c.data(Arg::kGateUp);
  p.down = c.data(Arg::kDown);
  auto opt = [&](int a) { return khub_moe::absent(c.tensor(a)) ? nullptr : c.data(a); };
  p.router_bias = opt(Arg::kRouterBias);
  p.gate_up_bias = opt(Arg::kGateUpBias);
  p.down_bias = opt(Arg::kDownBias);
  p.ws = static_cast<char*>(c.workspace());
  p.threads = c.num_threads();
  return khub_cpu::dispatch_float_type(tw, [&](auto zero) {
    using W = decltype(zero);
    route<W>(p);
    sort_routes(p);
    experts<W>(p);
    combine(p);
    return KHUB_STATUS_OK;
  });
}

}  // namespace
}  // namespace khub_moe_cpu

KHUB_MOE_DEFINE_KERNEL("cpu", khub_moe_cpu, khub_cpu::guard_boundary, "f32", "f32,bf16,f16",
                       KHUB_ARG_CONTIGUOUS, KHUB_FN_DETERMINISTIC, 0,
                       "{\"activations\": [\"silu\", \"clamped_swiglu\"]}")
