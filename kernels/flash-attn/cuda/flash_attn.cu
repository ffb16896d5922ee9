// khub-community/flash-attn, CUDA variant: the ABI entry. `attention_forward` is the `Attention`
// layer of docs/layer-contracts.md: causal attention of the step's query rows over a slotted KV
// cache, all sequences in one call (varlen), lengths read from `seqs` in device memory. The call
// is validated here; the work goes to one of two kernels:
//   max_q_len <= kDecodeMaxQLen (decoding, a few speculative tokens): decode.cu, split-KV over the
//     workspace, bandwidth-bound;
//   longer query runs (prefill, chunked prefill, mixed batches): prefill.cu, tensor-core tiles.
// The choice depends on the attribute only, so a captured graph replays the same launches.
// `attention_backward` (training) validates the same arguments through the same check and runs
// backward.cu.
#include "flash_attn.h"
#include "flash_attn_backward.h"
#include "khub/kernel_manifest.h"
#include "khub_cuda/abi_cuda.cuh"

namespace khub_flash_cuda {
namespace {

using khub_cuda::Call;
using khub_cuda::ElemType;

// Query rows per sequence up to which the decode kernel is used. It launches one block per query
// row and reads the keys once per row (from L2 after the first), which is cheapest for a few rows
// and loses to the prefill tiles, which share each key tile among many rows, beyond that.
constexpr int64_t kDecodeMaxQLen = 4;

bool int_attr(Call& c, const char* name, int64_t lo, int64_t hi, int64_t* v) {
  const khub_value* a = c.attr(name, KHUB_VALUE_INT);
  if (a == nullptr) return false;
  if (a->v.i < lo || a->v.i > hi)
    return c.fail(KHUB_STATUS_INVALID_ARGUMENT, "attribute %s is %lld, expected %lld ... %lld",
                  name, static_cast<long long>(a->v.i), static_cast<long long>(lo),
                  static_cast<long long>(hi));
  *v = a->v.i;
  return true;
}

bool float_attr(Call& c, const char* name, bool positive_or_zero, float* v) {
  const khub_value* a = c.attr(name, KHUB_VALUE_FLOAT);
  if (a == nullptr) return false;
  if (!std::isfinite(a->v.f) || (positive_or_zero && a->v.f < 0))
    return c.fail(KHUB_STATUS_INVALID_ARGUMENT, "attribute %s is %g, expected a finite value%s",
                  name, a->v.f, positive_or_zero ? " >= 0" : "");
  *v = static_cast<float>(a->v.f);
  return true;
}

// What `attention_forward` and `attention_backward` share: the first six arguments, in the same
// order in both signatures, and the attributes. check_attention validates them (everything but
// the workspace's size, which differs) and fills `p` with the forward's view of the call.
enum Arg { kQ, kKCache, kVCache, kSeqs, kWorkspace, kOut, kSinks, kNumArgs };

struct Checked {
  khub_flash::Params p;
  ElemType type = ElemType::kBF16;  // q's
  int64_t workspace = 0;            // the workspace's elements
  khub_flash::Dtype dtype() const {
    return type == ElemType::kBF16 ? khub_flash::Dtype::kBF16 : khub_flash::Dtype::kF16;
  }
};

bool check_attention(Call& c, int num_args, Checked* out) {
  ElemType tq, tk, tv, to, tw;
  if (!c.check_call(num_args, 5) || !c.float_tensor(kQ, "q", &tq) || !c.rank(kQ, "q", 3))
    return false;
  if (tq == ElemType::kF32)
    return c.fail(KHUB_STATUS_INVALID_ARGUMENT, "q is f32, expected bf16 or f16");
  if (!c.float_tensor(kKCache, "k_cache", &tk) || !c.same_type(tk, tq, "k_cache", "q") ||
      !c.rank(kKCache, "k_cache", 4) || !c.float_tensor(kVCache, "v_cache", &tv) ||
      !c.same_type(tv, tq, "v_cache", "q") || !c.rank(kVCache, "v_cache", 4) ||
      !c.i32_tensor(kSeqs, "seqs") || !c.rank(kSeqs, "seqs", 2) ||
      !c.float_tensor(kWorkspace, "workspace", &tw, true) || !c.rank(kWorkspace, "workspace", 1) ||
      !c.float_tensor(kOut, "out", &to) || !c.same_type(to, tq, "out", "q") ||
      !c.shape_like(kOut, "out", kQ, "q", c.dim(kQ, 2)))
    return false;
  const int64_t T = c.dim(kQ, 0), hq = c.dim(kQ, 1), d = c.dim(kQ, 2);
  const int64_t S = c.dim(kKCache, 0), C = c.dim(kKCache, 1), hk = c.dim(kKCache, 2);
  if (d != 64 && d != 128 && d != 256)
    return c.fail(KHUB_STATUS_INVALID_ARGUMENT, "q has head_dim %lld, expected 64, 128 or 256",
                  static_cast<long long>(d));
  for (int i = 0; i < 4; ++i) {
    if (c.dim(kVCache, i) != c.dim(kKCache, i))
      return c.fail(
          KHUB_STATUS_INVALID_ARGUMENT,
          "v_cache is [%lld, %lld, %lld, %lld], expected k_cache's shape [%lld, %lld, %lld, %lld]",
          static_cast<long long>(c.dim(kVCache, 0)), static_cast<long long>(c.dim(kVCache, 1)),
          static_cast<long long>(c.dim(kVCache, 2)), static_cast<long long>(c.dim(kVCache, 3)),
          static_cast<long long>(S), static_cast<long long>(C), static_cast<long long>(hk),
          static_cast<long long>(c.dim(kKCache, 3)));
  }
  if (c.dim(kKCache, 3) != d)
    return c.fail(KHUB_STATUS_INVALID_ARGUMENT, "k_cache has head_dim %lld, expected q's %lld",
                  static_cast<long long>(c.dim(kKCache, 3)), static_cast<long long>(d));
  if (hk <= 0 || hq % hk != 0)
    return c.fail(KHUB_STATUS_INVALID_ARGUMENT,
                  "q has %lld heads and the caches %lld, expected a positive multiple",
                  static_cast<long long>(hq), static_cast<long long>(hk));
  if (c.dim(kSeqs, 1) != 4)
    return c.fail(KHUB_STATUS_INVALID_ARGUMENT,
                  "seqs is [%lld, %lld], expected [N, 4] (slot, q_start, q_len, kv_len)",
                  static_cast<long long>(c.dim(kSeqs, 0)), static_cast<long long>(c.dim(kSeqs, 1)));
  const int64_t N = c.dim(kSeqs, 0);
  khub_flash::Params& p = out->p;
  int64_t window = 0, max_q_len = 0, max_kv_len = 0;
  if (!float_attr(c, "scale", false, &p.scale) || !int_attr(c, "window", 0, INT64_MAX, &window) ||
      !float_attr(c, "softcap", true, &p.softcap) ||
      !int_attr(c, "max_q_len", 0, 0x7fffffff, &max_q_len) ||
      !int_attr(c, "max_kv_len", 0, INT64_MAX, &max_kv_len))
    return false;
  if (T > 0x7fffffff || N > 0x7fffffff || hq > 0xffff || C > 0x7fffffff)
    return c.fail(KHUB_STATUS_UNSUPPORTED,
                  "the tensors are too large (T %lld, N %lld, Hq %lld, capacity %lld)",
                  static_cast<long long>(T), static_cast<long long>(N), static_cast<long long>(hq),
                  static_cast<long long>(C));
  out->workspace = c.dim(kWorkspace, 0);
  for (int a : {kQ, kKCache, kVCache, kOut}) {
    if (!khub_cuda::aligned16(c.data(a)))
      return c.fail(KHUB_STATUS_UNSUPPORTED, "%s is not 16-byte aligned",
                    a == kQ        ? "q"
                    : a == kKCache ? "k_cache"
                    : a == kVCache ? "v_cache"
                                   : "out");
  }
  if (out->workspace > 0 && !khub_cuda::aligned16(c.data(kWorkspace)))
    return c.fail(KHUB_STATUS_UNSUPPORTED, "workspace is not 16-byte aligned");
  out->type = tq;
  p.q = c.data(kQ);
  p.k_cache = c.data(kKCache);
  p.v_cache = c.data(kVCache);
  p.seqs = static_cast<const int32_t*>(c.data(kSeqs));
  p.workspace = out->workspace > 0 ? static_cast<float*>(c.data(kWorkspace)) : nullptr;
  p.out = c.data(kOut);
  p.total_q = T;
  p.num_seqs = static_cast<int>(N);
  p.hq = static_cast<int>(hq);
  p.hk = static_cast<int>(hk);
  p.d = static_cast<int>(d);
  p.slots = S;
  p.capacity = C;
  p.max_q_len = static_cast<int>(max_q_len);
  p.max_kv_len = max_kv_len;
  p.window = window;
  return true;
}

khub_status forward(const khub_call* call, khub_error* error) {
  Call c("attention_forward", call, error);
  Checked ck;
  if (!check_attention(c, kNumArgs, &ck)) return c.status();
  khub_flash::Params& p = ck.p;
  const int64_t ws_need = khub_flash::kMaxSplits * p.total_q * p.hq * (p.d + 2);
  if (ck.workspace != 0 && ck.workspace < ws_need) {
    c.fail(KHUB_STATUS_INVALID_ARGUMENT,
           "workspace has %lld elements, expected 0 or at least %lld (16 x T x Hq x (D + 2))",
           static_cast<long long>(ck.workspace), static_cast<long long>(ws_need));
    return c.status();
  }
  if (!c.absent(kSinks)) {
    ElemType ts;
    if (!c.float_tensor(kSinks, "sinks", &ts, true) || !c.rank(kSinks, "sinks", 1))
      return c.status();
    if (c.dim(kSinks, 0) != p.hq) {
      c.fail(KHUB_STATUS_INVALID_ARGUMENT, "sinks has %lld elements, expected %lld (q's heads)",
             static_cast<long long>(c.dim(kSinks, 0)), static_cast<long long>(p.hq));
      return c.status();
    }
    p.sinks = static_cast<const float*>(c.data(kSinks));
  }
  if (p.total_q == 0 || p.num_seqs == 0 || p.max_q_len == 0 || p.slots == 0 || p.capacity == 0)
    return KHUB_STATUS_OK;
  const bool decode = p.max_q_len <= kDecodeMaxQLen;
  const cudaError_t e = decode ? khub_flash::launch_decode(p, ck.dtype(), c.stream())
                               : khub_flash::launch_prefill(p, ck.dtype(), c.stream());
  if (e != cudaSuccess) {
    c.fail(KHUB_STATUS_DEVICE_ERROR, "%s kernel launch failed: %s", decode ? "decode" : "prefill",
           cudaGetErrorString(e));
    return c.status();
  }
  return c.launched();
}

// `RotaryKVCache`: q/k norms (when both weights are given), rotary, and the cache append.
enum CacheArg { kCq, kCk, kCv, kCcos, kCsin, kCrows, kCkCache, kCvCache, kCqW, kCkW, kCNumArgs };

khub_status rotary_cache_forward(const khub_call* call, khub_error* error) {
  Call c("rotary_kv_cache_forward", call, error);
  ElemType tq, t;
  if (!c.check_call(kCNumArgs, 4) || !c.float_tensor(kCq, "q", &tq) || !c.rank(kCq, "q", 3))
    return c.status();
  if (tq == ElemType::kF32) {
    c.fail(KHUB_STATUS_INVALID_ARGUMENT, "q is f32, expected bf16 or f16");
    return c.status();
  }
  const int64_t T = c.dim(kCq, 0), hq = c.dim(kCq, 1), d = c.dim(kCq, 2);
  if (!c.float_tensor(kCk, "k", &t) || !c.same_type(t, tq, "k", "q") || !c.rank(kCk, "k", 3) ||
      !c.float_tensor(kCv, "v", &t) || !c.same_type(t, tq, "v", "q") ||
      !c.shape_like(kCv, "v", kCk, "k", d) || !c.float_tensor(kCcos, "cos", &t, true) ||
      !c.rank(kCcos, "cos", 2) || !c.float_tensor(kCsin, "sin", &t, true) ||
      !c.shape_like(kCsin, "sin", kCcos, "cos", c.dim(kCcos, 1)) || !c.i32_tensor(kCrows, "rows") ||
      !c.rank(kCrows, "rows", 1) || !c.float_tensor(kCkCache, "k_cache", &t) ||
      !c.same_type(t, tq, "k_cache", "q") || !c.rank(kCkCache, "k_cache", 4) ||
      !c.float_tensor(kCvCache, "v_cache", &t) || !c.same_type(t, tq, "v_cache", "q") ||
      !c.shape_like(kCvCache, "v_cache", kCkCache, "k_cache", d))
    return c.status();
  const int64_t hk = c.dim(kCk, 1);
  auto expect = [&](bool ok, const char* what, int64_t got, int64_t want) {
    if (!ok)
      c.fail(KHUB_STATUS_INVALID_ARGUMENT, "%s is %lld, expected %lld", what,
             static_cast<long long>(got), static_cast<long long>(want));
    return ok;
  };
  if (d != 64 && d != 128 && d != 256) {
    c.fail(KHUB_STATUS_INVALID_ARGUMENT, "q has head_dim %lld, expected 64, 128 or 256",
           static_cast<long long>(d));
    return c.status();
  }
  if (!expect(c.dim(kCk, 0) == T, "k's token count", c.dim(kCk, 0), T) ||
      !expect(c.dim(kCk, 2) == d, "k's head_dim", c.dim(kCk, 2), d) ||
      !expect(c.dim(kCcos, 0) == T, "cos's row count", c.dim(kCcos, 0), T) ||
      !expect(c.dim(kCrows, 0) == T, "rows' length", c.dim(kCrows, 0), T) ||
      !expect(c.dim(kCkCache, 2) == hk, "k_cache's head count", c.dim(kCkCache, 2), hk) ||
      !expect(c.dim(kCkCache, 3) == d, "k_cache's head_dim", c.dim(kCkCache, 3), d))
    return c.status();
  const bool norm = !c.absent(kCqW);
  if (norm != !c.absent(kCkW)) {
    c.fail(KHUB_STATUS_INVALID_ARGUMENT, "q_weight and k_weight must be given together");
    return c.status();
  }
  if (norm) {
    for (int w : {kCqW, kCkW}) {
      const char* name = w == kCqW ? "q_weight" : "k_weight";
      if (!c.float_tensor(w, name, &t) || !c.same_type(t, tq, name, "q") || !c.rank(w, name, 1) ||
          !expect(c.dim(w, 0) == d, name, c.dim(w, 0), d))
        return c.status();
    }
  }
  const khub_value* rd = c.attr("rotary_dim", KHUB_VALUE_INT);
  const khub_value* il = rd ? c.attr("interleaved", KHUB_VALUE_BOOL) : nullptr;
  const khub_value* gm = il ? c.attr("gemma_norm", KHUB_VALUE_BOOL) : nullptr;
  float eps = 0.f;
  if (gm == nullptr || !float_attr(c, "eps", true, &eps)) return c.status();
  const int64_t rotary_dim = rd->v.i == 0 ? 2 * c.dim(kCcos, 1) : rd->v.i;
  if (rotary_dim < 0 || rotary_dim % 2 != 0 || rotary_dim > d) {
    c.fail(KHUB_STATUS_INVALID_ARGUMENT,
           "attribute rotary_dim is %lld, expected an even value in [0, %lld] (head_dim)",
           static_cast<long long>(rotary_dim), static_cast<long long>(d));
    return c.status();
  }
  if (!expect(c.dim(kCcos, 1) == rotary_dim / 2, "cos's width (rotary_dim / 2)", c.dim(kCcos, 1),
              rotary_dim / 2))
    return c.status();
  constexpr const char* kNames[kCNumArgs] = {"q",    "k",       "v",       "cos",      "sin",
                                             "rows", "k_cache", "v_cache", "q_weight", "k_weight"};
  for (int a : {kCq, kCk, kCv, kCkCache, kCvCache, kCqW, kCkW}) {
    if ((a == kCqW || a == kCkW) && !norm) continue;
    if (!khub_cuda::aligned16(c.data(a))) {
      c.fail(KHUB_STATUS_UNSUPPORTED, "%s is not 16-byte aligned", kNames[a]);
      return c.status();
    }
  }
  khub_flash::CacheParams p;
  p.q = c.data(kCq);
  p.k = c.data(kCk);
  p.v = c.data(kCv);
  p.cos = static_cast<const float*>(c.data(kCcos));
  p.sin = static_cast<const float*>(c.data(kCsin));
  p.rows = static_cast<const int32_t*>(c.data(kCrows));
  p.k_cache = c.data(kCkCache);
  p.v_cache = c.data(kCvCache);
  p.q_w = norm ? c.data(kCqW) : nullptr;
  p.k_w = norm ? c.data(kCkW) : nullptr;
  p.t = T;
  p.hq = hq;
  p.hk = hk;
  p.d = static_cast<int>(d);
  p.half = static_cast<int>(rotary_dim / 2);
  p.cache_rows = c.dim(kCkCache, 0) * c.dim(kCkCache, 1);
  p.eps = eps;
  p.interleaved = il->v.i != 0;
  p.gemma = gm->v.i != 0;
  const cudaError_t e = khub_flash::launch_rotary_cache(
      p, tq == ElemType::kBF16 ? khub_flash::Dtype::kBF16 : khub_flash::Dtype::kF16, c.stream());
  if (e != cudaSuccess) {
    c.fail(KHUB_STATUS_DEVICE_ERROR, "kernel launch failed: %s", cudaGetErrorString(e));
    return c.status();
  }
  return c.launched();
}

// `attention_backward`: the forward's first six arguments (`out` now its input: the forward's
// output), the output's gradient; writes grad_q and adds into the f32 cache gradients
// (backward.cu). Sinks are not supported (not an argument).
enum BwdArg { kBDout = kSinks, kBDq, kBDk, kBDv, kBNumArgs };

khub_status backward(const khub_call* call, khub_error* error) {
  Call c("attention_backward", call, error);
  Checked ck;
  if (!check_attention(c, kBNumArgs, &ck)) return c.status();
  khub_flash::Params& p = ck.p;
  const int d = p.d;
  ElemType t;
  if (!c.float_tensor(kBDout, "grad_out", &t) || !c.same_type(t, ck.type, "grad_out", "q") ||
      !c.shape_like(kBDout, "grad_out", kQ, "q", d) || !c.float_tensor(kBDq, "grad_q", &t) ||
      !c.same_type(t, ck.type, "grad_q", "q") || !c.shape_like(kBDq, "grad_q", kQ, "q", d) ||
      !c.float_tensor(kBDk, "grad_k_cache", &t, true) ||
      !c.shape_like(kBDk, "grad_k_cache", kKCache, "k_cache", d) ||
      !c.float_tensor(kBDv, "grad_v_cache", &t, true) ||
      !c.shape_like(kBDv, "grad_v_cache", kKCache, "k_cache", d))
    return c.status();
  const int64_t ws_need = khub_flash::backward_workspace(p.total_q, p.hq, d);
  if (ck.workspace < ws_need) {
    c.fail(KHUB_STATUS_INVALID_ARGUMENT,
           "workspace has %lld elements, expected at least %lld (T x Hq x (D + 2))",
           static_cast<long long>(ck.workspace), static_cast<long long>(ws_need));
    return c.status();
  }
  // Grid limits of the launches: sequences and query tiles of 64 rows on grid.y / grid.z.
  if (p.num_seqs > 65535 || (int64_t{p.max_q_len} + 63) / 64 > 65535) {
    c.fail(KHUB_STATUS_UNSUPPORTED,
           "%d sequences with max_q_len %d: the backward takes at most 65535 sequences and "
           "65535 x 64 query rows per sequence",
           p.num_seqs, p.max_q_len);
    return c.status();
  }
  for (int a : {kBDout, kBDq, kBDk, kBDv}) {
    if (!khub_cuda::aligned16(c.data(a))) {
      c.fail(KHUB_STATUS_UNSUPPORTED, "%s is not 16-byte aligned",
             a == kBDout ? "grad_out"
             : a == kBDq ? "grad_q"
             : a == kBDk ? "grad_k_cache"
                         : "grad_v_cache");
      return c.status();
    }
  }
  int dev = 0, optin = 0;
  const size_t smem = khub_flash::backward_smem_bytes(d);
  if (cudaGetDevice(&dev) == cudaSuccess &&
      cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev) == cudaSuccess &&
      static_cast<size_t>(optin) < smem) {
    c.fail(KHUB_STATUS_UNSUPPORTED,
           "head_dim %d needs %zu bytes of shared memory per block, the device has %d", d, smem,
           optin);
    return c.status();
  }
  if (p.total_q == 0) return KHUB_STATUS_OK;

  khub_flash::BwdParams b;
  b.fwd = p;
  b.dout = c.data(kBDout);
  b.dq = c.data(kBDq);
  b.dk_cache = static_cast<float*>(c.data(kBDk));
  b.dv_cache = static_cast<float*>(c.data(kBDv));
  b.workspace = static_cast<float*>(c.data(kWorkspace));
  const cudaError_t e = khub_flash::launch_backward(b, ck.dtype(), c.stream());
  if (e != cudaSuccess) {
    c.fail(KHUB_STATUS_DEVICE_ERROR, "backward kernel launch failed: %s", cudaGetErrorString(e));
    return c.status();
  }
  return c.launched();
}

constexpr uint32_t kC = KHUB_ARG_CONTIGUOUS;
constexpr khub_arg_desc kArgs[] = {
    {"q", KHUB_ARG_INPUT, "bf16,f16", 3, kC},
    {"k_cache", KHUB_ARG_INPUT, "same:q", 4, kC},
    {"v_cache", KHUB_ARG_INPUT, "same:q", 4, kC},
    {"seqs", KHUB_ARG_INPUT, "i32", 2, kC},
    {"workspace", KHUB_ARG_OUTPUT, "f32", 1, kC},
    {"out", KHUB_ARG_OUTPUT, "same:q", 3, kC},
    {"sinks", KHUB_ARG_INPUT, "f32", 1, kC | KHUB_ARG_OPTIONAL},
};
constexpr khub_attr_desc kAttrs[] = {
    {"scale", KHUB_VALUE_FLOAT, 1, {KHUB_VALUE_FLOAT, {.f = 1.0}}},
    {"window", KHUB_VALUE_INT, 0, {KHUB_VALUE_INT, {.i = 0}}},
    {"softcap", KHUB_VALUE_FLOAT, 0, {KHUB_VALUE_FLOAT, {.f = 0.0}}},
    {"max_q_len", KHUB_VALUE_INT, 1, {KHUB_VALUE_INT, {.i = 0}}},
    {"max_kv_len", KHUB_VALUE_INT, 1, {KHUB_VALUE_INT, {.i = 0}}},
};
constexpr khub_arg_desc kCacheArgs[] = {
    {"q", KHUB_ARG_INOUT, "bf16,f16", 3, kC},
    {"k", KHUB_ARG_INOUT, "same:q", 3, kC},
    {"v", KHUB_ARG_INPUT, "same:q", 3, kC},
    {"cos", KHUB_ARG_INPUT, "f32", 2, kC},
    {"sin", KHUB_ARG_INPUT, "f32", 2, kC},
    {"rows", KHUB_ARG_INPUT, "i32", 1, kC},
    {"k_cache", KHUB_ARG_INOUT, "same:q", 4, kC},
    {"v_cache", KHUB_ARG_INOUT, "same:q", 4, kC},
    {"q_weight", KHUB_ARG_PARAM, "same:q", 1, kC | KHUB_ARG_OPTIONAL},
    {"k_weight", KHUB_ARG_PARAM, "same:q", 1, kC | KHUB_ARG_OPTIONAL},
};
constexpr khub_arg_desc kBwdArgs[] = {
    {"q", KHUB_ARG_INPUT, "bf16,f16", 3, kC},       {"k_cache", KHUB_ARG_INPUT, "same:q", 4, kC},
    {"v_cache", KHUB_ARG_INPUT, "same:q", 4, kC},   {"seqs", KHUB_ARG_INPUT, "i32", 2, kC},
    {"workspace", KHUB_ARG_OUTPUT, "f32", 1, kC},   {"out", KHUB_ARG_INPUT, "same:q", 3, kC},
    {"grad_out", KHUB_ARG_INPUT, "same:q", 3, kC},  {"grad_q", KHUB_ARG_OUTPUT, "same:q", 3, kC},
    {"grad_k_cache", KHUB_ARG_INOUT, "f32", 4, kC}, {"grad_v_cache", KHUB_ARG_INOUT, "f32", 4, kC},
};
constexpr khub_attr_desc kCacheAttrs[] = {
    {"rotary_dim", KHUB_VALUE_INT, 0, {KHUB_VALUE_INT, {.i = 0}}},
    {"interleaved", KHUB_VALUE_BOOL, 0, {KHUB_VALUE_BOOL, {.i = 0}}},
    {"eps", KHUB_VALUE_FLOAT, 0, {KHUB_VALUE_FLOAT, {.f = 1e-6}}},
    {"gemma_norm", KHUB_VALUE_BOOL, 0, {KHUB_VALUE_BOOL, {.i = 0}}},
};

}  // namespace
}  // namespace khub_flash_cuda

extern "C" KHUB_KERNEL_EXPORT khub_status khub_flash_attn_attention_forward(const khub_call* call,
                                                                            khub_error* error) {
  return khub_cuda::guard_boundary("attention_forward", error,
                                   [&] { return khub_flash_cuda::forward(call, error); });
}

extern "C" KHUB_KERNEL_EXPORT khub_status khub_flash_attn_attention_backward(const khub_call* call,
                                                                             khub_error* error) {
  return khub_cuda::guard_boundary("attention_backward", error,
                                   [&] { return khub_flash_cuda::backward(call, error); });
}

extern "C" KHUB_KERNEL_EXPORT khub_status
khub_flash_attn_rotary_kv_cache_forward(const khub_call* call, khub_error* error) {
  return khub_cuda::guard_boundary("rotary_kv_cache_forward", error, [&] {
    return khub_flash_cuda::rotary_cache_forward(call, error);
  });
}

namespace khub_flash_cuda {
namespace {

const khub_function_desc kFunctions[] = {
    {
        sizeof(khub_function_desc),
        "attention_forward",
        "khub_flash_attn_attention_forward",
        sizeof(kArgs) / sizeof(kArgs[0]),
        kArgs,
        sizeof(kAttrs) / sizeof(kAttrs[0]),
        kAttrs,
        "bf16,f16",
        KHUB_FN_CAN_CAPTURE | KHUB_FN_DETERMINISTIC,
        nullptr,
        "{\"min_compute_capability\": \"8.0\", \"head_dim\": [64, 128, 256], \"sliding_window\": "
        "true, \"softcap\": true, \"sinks\": true}",
    },
    {
        sizeof(khub_function_desc),
        "attention_backward",
        "khub_flash_attn_attention_backward",
        sizeof(kBwdArgs) / sizeof(kBwdArgs[0]),
        kBwdArgs,
        sizeof(kAttrs) / sizeof(kAttrs[0]),
        kAttrs,
        "bf16,f16",
        KHUB_FN_CAN_CAPTURE,
        nullptr,
        "{\"min_compute_capability\": \"8.0\", \"head_dim\": [64, 128, 256], \"sliding_window\": "
        "true, \"softcap\": true, \"sinks\": false}",
    },
    {
        sizeof(khub_function_desc),
        "rotary_kv_cache_forward",
        "khub_flash_attn_rotary_kv_cache_forward",
        sizeof(kCacheArgs) / sizeof(kCacheArgs[0]),
        kCacheArgs,
        sizeof(kCacheAttrs) / sizeof(kCacheAttrs[0]),
        kCacheAttrs,
        "bf16,f16",
        KHUB_FN_CAN_CAPTURE | KHUB_FN_DETERMINISTIC,
        nullptr,
        "{\"min_compute_capability\": \"8.0\", \"head_dim\": [64, 128, 256]}",
    }};

const khub_layer_desc kLayers[] = {
    // In training mode kernelize binds attention_backward with the forward
    // (docs/layer-contracts.md,
    // `Attention` backward); a layer with sinks keeps the reference for both (it takes none).
    {sizeof(khub_layer_desc), "Attention", "attention_forward", "attention_backward",
     KHUB_LAYER_HAS_BACKWARD | KHUB_LAYER_CAN_CAPTURE},
    {sizeof(khub_layer_desc), "RotaryKVCache", "rotary_kv_cache_forward", nullptr,
     KHUB_LAYER_CAN_CAPTURE},
};

}  // namespace
}  // namespace khub_flash_cuda

KHUB_DEFINE_KERNEL_MANIFEST("flash-attn", "cuda", khub_flash_cuda::kFunctions,
                            khub_flash_cuda::kLayers)
