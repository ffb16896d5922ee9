// khub-community/moe: the `MoE` layer's signature (docs/layer-contracts.md), shared by the CPU and
// the CUDA variant — argument and attribute tables, the shape checks, and the workspace layout.
//
//   moe_forward  x [T, H] in; router_weight [E, H], gate_up [E, 2I, H], down [E, H, I] params;
//                out [T, H] out; optional router_bias [E], gate_up_bias [E, 2I], down_bias [E, H]
//   attrs        top_k int (required), topk_softmax bool (gpt-oss: top k logits, then softmax;
//                else softmax, then top k), renormalize bool, swiglu_limit float (0: SiLU(gate)·up;
//                > 0: gpt-oss's clamped SwiGLU), swiglu_alpha float
//
// The work, on both devices: router logits (f32), per-token routes, a sort of the T·k routes by
// expert (token order inside an expert), per expert a GEMM over its rows of x with the gated
// activation, a second GEMM, then out[t] = Σ_j weight[t, j] · expert_out[route (t, j)] summed in
// ascending expert order (the reference's order). Workspace (bytes, 16-aligned sections): logits
// T·E f32, expert T·k i32, weight T·k f32, offsets E+1 i32, tile offsets E+1 i32, cursor E i32,
// perm T·k i32, pos T·k i32, mid T·k·I f32, expert_out T·k·H f32.
#ifndef KHUB_MOE_SIGNATURE_H_
#define KHUB_MOE_SIGNATURE_H_

#include <cstdint>
#include <cstdio>
#include <cstring>

#include "khub/kernel_abi.h"
#include "khub/kernel_manifest.h"

namespace khub_moe {

enum Arg { kX, kRouter, kGateUp, kDown, kOut, kRouterBias, kGateUpBias, kDownBias, kNumArgs };
constexpr int kNumAttrs = 5;
constexpr int64_t kMaxTopK = 32;
constexpr int64_t kMaxExperts = 1024;

struct Shape {
  int64_t t = 0, h = 0, e = 0, inter = 0, k = 0;
};

inline bool absent(const DLTensor& t) { return t.data == nullptr && t.ndim == 0; }

// "" when the call's tensors have the signature's shapes for x [T, H] and gate_up [E, 2I, H];
// else writes what is wrong into msg and returns false.
inline bool check_shapes(const khub_call* call, int64_t top_k, Shape* s, char* msg, size_t n) {
  const DLTensor* a = call->tensors;
  auto dims = [&](int i, int nd) { return a[i].ndim == nd; };
  if (!dims(kX, 2) || !dims(kGateUp, 3)) {
    std::snprintf(msg, n, "x must be [T, H] and gate_up [E, 2I, H], got ranks %d and %d",
                  a[kX].ndim, a[kGateUp].ndim);
    return false;
  }
  s->t = a[kX].shape[0];
  s->h = a[kX].shape[1];
  s->e = a[kGateUp].shape[0];
  s->inter = a[kGateUp].shape[1] / 2;
  s->k = top_k;
  struct Want {
    int arg;
    const char* name;
    int nd;
    int64_t d0, d1, d2;
  } want[] = {
      {kRouter, "router_weight", 2, s->e, s->h, 0},
      {kGateUp, "gate_up", 3, s->e, 2 * s->inter, s->h},
      {kDown, "down", 3, s->e, s->h, s->inter},
      {kOut, "out", 2, s->t, s->h, 0},
      {kRouterBias, "router_bias", 1, s->e, 0, 0},
      {kGateUpBias, "gate_up_bias", 2, s->e, 2 * s->inter, 0},
      {kDownBias, "down_bias", 2, s->e, s->h, 0},
  };
  for (const Want& w : want) {
    const DLTensor& d = a[w.arg];
    if (w.arg >= kRouterBias && absent(d)) continue;
    const int64_t exp[3] = {w.d0, w.d1, w.d2};
    bool ok = d.ndim == w.nd;
    for (int i = 0; ok && i < w.nd; ++i) ok = d.shape[i] == exp[i];
    if (!ok) {
      std::snprintf(msg, n,
                    "%s has the wrong shape (rank %d, first dim %lld), expected [%lld%s%lld%s%lld] "
                    "for x [%lld, %lld] and gate_up [%lld, %lld, %lld]",
                    w.name, d.ndim, d.ndim > 0 ? static_cast<long long>(d.shape[0]) : -1LL,
                    static_cast<long long>(w.d0), w.nd > 1 ? ", " : "",
                    w.nd > 1 ? static_cast<long long>(w.d1) : 0LL, w.nd > 2 ? ", " : "",
                    w.nd > 2 ? static_cast<long long>(w.d2) : 0LL, static_cast<long long>(s->t),
                    static_cast<long long>(s->h), static_cast<long long>(s->e),
                    static_cast<long long>(2 * s->inter), static_cast<long long>(s->h));
      return false;
    }
  }
  if (a[kGateUp].shape[1] % 2 != 0 || s->inter == 0) {
    std::snprintf(msg, n, "gate_up has %lld rows per expert, expected an even 2 x I > 0",
                  static_cast<long long>(a[kGateUp].shape[1]));
    return false;
  }
  if (s->e < 1 || s->e > kMaxExperts || top_k < 1 || top_k > s->e || top_k > kMaxTopK) {
    std::snprintf(msg, n,
                  "top_k %lld with %lld experts, expected 1 <= top_k <= min(E, %lld) and E <= %lld",
                  static_cast<long long>(top_k), static_cast<long long>(s->e),
                  static_cast<long long>(kMaxTopK), static_cast<long long>(kMaxExperts));
    return false;
  }
  return true;
}

// The workspace sections, as offsets in bytes from the start.
struct Layout {
  uint64_t logits, expert, weight, offsets, tiles, cursor, perm, pos, mid, eout, bytes;
};

inline uint64_t align16(uint64_t b) { return (b + 15) & ~uint64_t{15}; }

inline Layout layout(const Shape& s) {
  const uint64_t tk = static_cast<uint64_t>(s.t * s.k), e = static_cast<uint64_t>(s.e);
  Layout l{};
  uint64_t at = 0;
  auto take = [&](uint64_t bytes) {
    uint64_t here = at;
    at += align16(bytes);
    return here;
  };
  l.logits = take(4 * static_cast<uint64_t>(s.t) * e);
  l.expert = take(4 * tk);
  l.weight = take(4 * tk);
  l.offsets = take(4 * (e + 1));
  l.tiles = take(4 * (e + 1));
  l.cursor = take(4 * e);
  l.perm = take(4 * tk);
  l.pos = take(4 * tk);
  l.mid = take(4 * tk * static_cast<uint64_t>(s.inter));
  l.eout = take(4 * tk * static_cast<uint64_t>(s.h));
  l.bytes = at;
  return l;
}

// The top_k attribute of a call (the first, in the manifest's order; 0 when missing: the shape
// check then reports it).
inline int64_t top_k_attr(const khub_call* call) {
  return call->num_attrs == kNumAttrs ? call->attrs[0].value.v.i : 0;
}

// Bytes of workspace a call needs (0 for a call whose shapes do not check: the call then fails).
inline uint64_t workspace_bytes(const khub_call* call) {
  if (call == nullptr || call->num_tensors != kNumArgs) return 0;
  Shape s;
  char msg[8];
  if (!check_shapes(call, top_k_attr(call), &s, msg, sizeof(msg))) return 0;
  return layout(s).bytes;
}

// The tables, as both variants declare them; `dtypes` is the variant's list for x.
#define KHUB_MOE_ARGS(name, x_dtypes, weight_dtypes, flags)                            \
  constexpr khub_arg_desc name[] = {                                                   \
      {"x", KHUB_ARG_INPUT, x_dtypes, 2, flags},                                       \
      {"router_weight", KHUB_ARG_PARAM, weight_dtypes, 2, flags},                      \
      {"gate_up", KHUB_ARG_PARAM, weight_dtypes, 3, flags},                            \
      {"down", KHUB_ARG_PARAM, weight_dtypes, 3, flags},                               \
      {"out", KHUB_ARG_OUTPUT, "same:x", 2, flags},                                    \
      {"router_bias", KHUB_ARG_PARAM, weight_dtypes, 1, (flags) | KHUB_ARG_OPTIONAL},  \
      {"gate_up_bias", KHUB_ARG_PARAM, weight_dtypes, 2, (flags) | KHUB_ARG_OPTIONAL}, \
      {"down_bias", KHUB_ARG_PARAM, weight_dtypes, 2, (flags) | KHUB_ARG_OPTIONAL},    \
  }

constexpr khub_attr_desc kAttrs[kNumAttrs] = {
    {"top_k", KHUB_VALUE_INT, 1, {KHUB_VALUE_INT, {.i = 1}}},
    {"topk_softmax", KHUB_VALUE_BOOL, 0, {KHUB_VALUE_BOOL, {.i = 0}}},
    {"renormalize", KHUB_VALUE_BOOL, 0, {KHUB_VALUE_BOOL, {.i = 0}}},
    {"swiglu_limit", KHUB_VALUE_FLOAT, 0, {KHUB_VALUE_FLOAT, {.f = 0.0}}},
    {"swiglu_alpha", KHUB_VALUE_FLOAT, 0, {KHUB_VALUE_FLOAT, {.f = 1.702}}},
};

// The attributes after the shape check (read by name from the call, defaults filled by khub).
struct Attrs {
  int64_t top_k = 0;
  bool topk_softmax = false, renormalize = false;
  float swiglu_limit = 0.0f, swiglu_alpha = 1.702f;
};

inline bool read_attrs(const khub_call* call, Attrs* at, char* msg, size_t n) {
  if (call->num_attrs != kNumAttrs) {
    std::snprintf(msg, n, "%d attributes, expected %d", call->num_attrs, kNumAttrs);
    return false;
  }
  const khub_named_value* a = call->attrs;  // the manifest's order
  for (int i = 0; i < kNumAttrs; ++i) {
    if (a[i].name == nullptr || std::strcmp(a[i].name, kAttrs[i].name) != 0 ||
        a[i].value.kind != kAttrs[i].kind) {
      std::snprintf(msg, n, "attribute %d is '%s' of kind %d, expected '%s' of kind %d", i,
                    a[i].name ? a[i].name : "(null)", a[i].value.kind, kAttrs[i].name,
                    kAttrs[i].kind);
      return false;
    }
  }
  at->top_k = a[0].value.v.i;
  at->topk_softmax = a[1].value.v.i != 0;
  at->renormalize = a[2].value.v.i != 0;
  at->swiglu_limit = static_cast<float>(a[3].value.v.f);
  at->swiglu_alpha = static_cast<float>(a[4].value.v.f);
  if (!(at->swiglu_limit >= 0.0f) || at->swiglu_limit != at->swiglu_limit) {
    std::snprintf(msg, n, "swiglu_limit is %g, expected >= 0", a[3].value.v.f);
    return false;
  }
  return true;
}

}  // namespace khub_moe

// Defines, at file scope after namespace `ns` has `forward(const khub_call*, khub_error*)`: the
// exported entry khub_moe_moe_forward (forward run inside `guard`, so no exception crosses the C
// boundary), the function and layer tables and khub_kernel_manifest for `backend`.
#define KHUB_MOE_DEFINE_KERNEL(backend, ns, guard, x_dtypes, weight_dtypes, arg_flags, fn_flags, \
                               layer_flags, constraints)                                         \
  namespace ns {                                                                                 \
  namespace {                                                                                    \
  KHUB_MOE_ARGS(kArgs, x_dtypes, weight_dtypes, arg_flags);                                      \
  uint64_t workspace(const khub_call* call) { return khub_moe::workspace_bytes(call); }          \
  const khub_function_desc kFunctions[] = {                                                      \
      {sizeof(khub_function_desc), "moe_forward", "khub_moe_moe_forward",                        \
       sizeof(kArgs) / sizeof(kArgs[0]), kArgs, khub_moe::kNumAttrs, khub_moe::kAttrs, x_dtypes, \
       fn_flags, workspace, constraints}};                                                       \
  const khub_layer_desc kLayers[] = {                                                            \
      {sizeof(khub_layer_desc), "MoE", "moe_forward", nullptr, layer_flags}};                    \
  }                                                                                              \
  }                                                                                              \
  extern "C" KHUB_KERNEL_EXPORT khub_status khub_moe_moe_forward(const khub_call* call,          \
                                                                 khub_error* error) {            \
    return guard("moe_forward", error, [&] { return ns::forward(call, error); });                \
  }                                                                                              \
  KHUB_DEFINE_KERNEL_MANIFEST("moe", backend, ns::kFunctions, ns::kLayers)

#endif  // KHUB_MOE_SIGNATURE_H_
