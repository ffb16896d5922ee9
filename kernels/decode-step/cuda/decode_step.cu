// khub-community/decode-step, CUDA variant: the ABI entry of the `DecodeStep` layer
// (docs/layer-contracts.md): one batch-1 decode step of a whole llama-family decoder stack in one
// persistent launch (decode_step_kernel.cu). The call is validated here; shapes the kernel cannot
// serve are refused with a message, never run wrong. Constraints in the manifest tell kernelize
// which stacks to leave on the per-layer path (docs/design.md §8).
#include "decode_step.h"
#include "khub/kernel_manifest.h"
#include "khub_cuda/abi_cuda.cuh"

namespace khub_decode_step_cuda {
namespace {

using khub_cuda::Call;
using khub_cuda::ElemType;
using khub_decode_step::kMaxWidth;

enum Arg {
  kX,
  kCos,
  kSin,
  kRows,
  kSeqs,
  kKv,
  kSync,
  kQkvW,
  kOW,
  kGateUpW,
  kDownW,
  kNorms,
  kFinalNorm,
  kLmHead,
  kScratch,
  kLogits,
  kQkNorms,
  kNumArgs
};
constexpr const char* kNames[kNumArgs] = {
    "x",          "cos",        "sin",      "rows",           "seqs",        "kv_cache",
    "sync",       "qkv_weight", "o_weight", "gate_up_weight", "down_weight", "norms",
    "final_norm", "lm_head",    "scratch",  "logits",         "qk_norms"};

khub_status forward(const khub_call* call, khub_error* error) {
  Call c("decode_step_forward", call, error);
  if (!c.check_call(kNumArgs, 4)) return c.status();
  ElemType t;
  for (int a : {kX, kKv, kQkvW, kOW, kGateUpW, kDownW, kNorms, kFinalNorm, kLmHead, kScratch,
                kLogits, kQkNorms}) {
    if (a == kQkNorms && c.absent(a)) continue;
    if (!c.float_tensor(a, kNames[a], &t)) return c.status();
    if (t != ElemType::kBF16) {
      c.fail(KHUB_STATUS_INVALID_ARGUMENT, "%s is not bf16, expected bf16", kNames[a]);
      return c.status();
    }
  }
  if (!c.float_tensor(kCos, "cos", &t, true) || !c.float_tensor(kSin, "sin", &t, true) ||
      !c.i32_tensor(kRows, "rows") || !c.i32_tensor(kSeqs, "seqs") || !c.i32_tensor(kSync, "sync"))
    return c.status();
  const int ranks[kNumArgs] = {2, 2, 2, 1, 2, 6, 1, 3, 3, 3, 3, 3, 1, 2, 1, 2, 3};
  for (int a = 0; a < kNumArgs; ++a) {
    if (a == kQkNorms && c.absent(a)) continue;
    if (!c.rank(a, kNames[a], ranks[a])) return c.status();
  }
  const int64_t H = c.dim(kX, 1), L = c.dim(kKv, 0), hk = c.dim(kKv, 4), d = c.dim(kKv, 5);
  const int64_t qkv_n = c.dim(kQkvW, 1), qd = c.dim(kOW, 2), inter = c.dim(kDownW, 2);
  const int64_t V = c.dim(kLmHead, 0), half = c.dim(kCos, 1);
  const int64_t hq = d > 0 ? qd / d : 0;
  auto expect = [&](bool ok, const char* what, int64_t got, int64_t want) {
    if (!ok)
      c.fail(KHUB_STATUS_INVALID_ARGUMENT, "%s is %lld, expected %lld", what,
             static_cast<long long>(got), static_cast<long long>(want));
    return ok;
  };
  if (!expect(c.dim(kX, 0) == 1, "x's rows (batch 1)", c.dim(kX, 0), 1) ||
      !expect(c.dim(kKv, 1) == 2, "kv_cache's dim 1 (keys, values)", c.dim(kKv, 1), 2) ||
      !expect(d == 64 || d == 128, "head_dim (64 or 128)", d, 128) ||
      !expect(qd % d == 0 && hq > 0 && hk > 0 && hq % hk == 0, "o_weight's width (Hq · D)", qd,
              hq * d) ||
      !expect(qkv_n == (hq + 2 * hk) * d, "qkv_weight's rows", qkv_n, (hq + 2 * hk) * d) ||
      !expect(c.dim(kQkvW, 0) == L && c.dim(kQkvW, 2) == H, "qkv_weight's [L, ·, H]",
              c.dim(kQkvW, 2), H) ||
      !expect(c.dim(kOW, 0) == L && c.dim(kOW, 1) == H, "o_weight's rows", c.dim(kOW, 1), H) ||
      !expect(c.dim(kGateUpW, 0) == L && c.dim(kGateUpW, 1) == 2 * inter && c.dim(kGateUpW, 2) == H,
              "gate_up_weight's rows", c.dim(kGateUpW, 1), 2 * inter) ||
      !expect(c.dim(kDownW, 0) == L && c.dim(kDownW, 1) == H, "down_weight's rows",
              c.dim(kDownW, 1), H) ||
      !expect(c.dim(kNorms, 0) == L && c.dim(kNorms, 1) == 2 && c.dim(kNorms, 2) == H,
              "norms' width", c.dim(kNorms, 2), H) ||
      !expect(c.dim(kFinalNorm, 0) == H, "final_norm's size", c.dim(kFinalNorm, 0), H) ||
      !expect(c.dim(kLmHead, 1) == H, "lm_head's width", c.dim(kLmHead, 1), H) ||
      !expect(c.dim(kLogits, 0) == 1 && c.dim(kLogits, 1) == V, "logits' width", c.dim(kLogits, 1),
              V) ||
      !expect(c.dim(kCos, 0) == 1 && c.dim(kSin, 0) == 1 && c.dim(kSin, 1) == half, "cos/sin rows",
              c.dim(kCos, 0), 1) ||
      !expect(2 * half <= d, "rotary_dim", 2 * half, d) ||
      !expect(c.dim(kRows, 0) == 1, "rows' length", c.dim(kRows, 0), 1) ||
      !expect(c.dim(kSeqs, 0) == 1 && c.dim(kSeqs, 1) == 4, "seqs' shape [1, 4]", c.dim(kSeqs, 0),
              1) ||
      !expect(c.dim(kSync, 0) == khub_decode_step::sync_words(L), "sync's length", c.dim(kSync, 0),
              khub_decode_step::sync_words(L)) ||
      !expect(c.dim(kScratch, 0) >= qkv_n + qd + inter, "scratch's length", c.dim(kScratch, 0),
              qkv_n + qd + inter))
    return c.status();
  for (int64_t w : {H, qd, inter}) {
    if (w % 64 != 0 || w > kMaxWidth || w < 64) {
      c.fail(KHUB_STATUS_UNSUPPORTED,
             "width %lld (hidden, Hq · D or intermediate) is not a multiple of 64 in [64, %d]",
             static_cast<long long>(w), kMaxWidth);
      return c.status();
    }
  }
  if (!c.absent(kQkNorms) &&
      !expect(c.dim(kQkNorms, 0) == L && c.dim(kQkNorms, 1) == 2 && c.dim(kQkNorms, 2) == d,
              "qk_norms' width", c.dim(kQkNorms, 2), d))
    return c.status();
  for (int a = 0; a < kNumArgs; ++a) {
    if (a == kQkNorms && c.absent(a)) continue;
    if (!khub_cuda::aligned16(c.data(a)) && a != kRows && a != kSeqs && a != kCos && a != kSin) {
      c.fail(KHUB_STATUS_UNSUPPORTED, "%s is not 16-byte aligned", kNames[a]);
      return c.status();
    }
  }
  const khub_value* eps = c.attr("eps", KHUB_VALUE_FLOAT);
  const khub_value* scale = eps ? c.attr("scale", KHUB_VALUE_FLOAT) : nullptr;
  const khub_value* blocks = scale ? c.attr("blocks", KHUB_VALUE_INT) : nullptr;
  const khub_value* rd = blocks ? c.attr("rotary_dim", KHUB_VALUE_INT) : nullptr;
  if (rd == nullptr) return c.status();
  if (rd->v.i != 0 && rd->v.i != 2 * half) {
    c.fail(KHUB_STATUS_INVALID_ARGUMENT, "attribute rotary_dim is %lld, expected %lld (2 · cos)",
           static_cast<long long>(rd->v.i), static_cast<long long>(2 * half));
    return c.status();
  }
  if (blocks->v.i < 0 || blocks->v.i > 1 << 20) {
    c.fail(KHUB_STATUS_INVALID_ARGUMENT, "attribute blocks is %lld, expected >= 0",
           static_cast<long long>(blocks->v.i));
    return c.status();
  }
  if (V > 0x7fffffff || L > 4096) {
    c.fail(KHUB_STATUS_UNSUPPORTED, "vocab %lld or layers %lld too large",
           static_cast<long long>(V), static_cast<long long>(L));
    return c.status();
  }
  int per_sm = 0;
  const int grid = khub_decode_step::grid_blocks(static_cast<int>(blocks->v.i), &per_sm);
  if (grid <= 0) {
    c.fail(KHUB_STATUS_DEVICE_ERROR,
           "no block of the decode-step kernel fits an SM (%d per SM): needs compute capability "
           "9.0 and %d bytes of shared memory",
           per_sm, static_cast<int>(khub_decode_step::kStages * khub_decode_step::kStageBytes));
    return c.status();
  }
  khub_decode_step::Params p;
  p.qkv_w = c.data(kQkvW);
  p.o_w = c.data(kOW);
  p.gate_up_w = c.data(kGateUpW);
  p.down_w = c.data(kDownW);
  p.norms = c.data(kNorms);
  p.qk_norms = c.absent(kQkNorms) ? nullptr : c.data(kQkNorms);
  p.final_norm = c.data(kFinalNorm);
  p.lm_head = c.data(kLmHead);
  p.x = c.data(kX);
  p.cos = static_cast<const float*>(c.data(kCos));
  p.sin = static_cast<const float*>(c.data(kSin));
  p.rows = static_cast<const int32_t*>(c.data(kRows));
  p.seqs = static_cast<const int32_t*>(c.data(kSeqs));
  p.kv = c.data(kKv);
  p.scratch = c.data(kScratch);
  p.logits = c.data(kLogits);
  p.sync = static_cast<unsigned*>(c.data(kSync));
  p.layers = static_cast<int>(L);
  p.hidden = static_cast<int>(H);
  p.hq = static_cast<int>(hq);
  p.hk = static_cast<int>(hk);
  p.d = static_cast<int>(d);
  p.inter = static_cast<int>(inter);
  p.vocab = static_cast<int>(V);
  p.half = static_cast<int>(half);
  p.cache_rows = c.dim(kKv, 2) * c.dim(kKv, 3);
  p.eps = static_cast<float>(eps->v.f);
  p.scale = static_cast<float>(scale->v.f);
  if (L == 0) return KHUB_STATUS_OK;
  const cudaError_t e = khub_decode_step::launch_decode_step(p, grid, c.stream());
  if (e != cudaSuccess) {
    c.fail(KHUB_STATUS_DEVICE_ERROR, "decode-step launch (%d blocks) failed: %s", grid,
           cudaGetErrorString(e));
    return c.status();
  }
  return c.launched();
}

constexpr uint32_t kC = KHUB_ARG_CONTIGUOUS;
constexpr khub_arg_desc kArgs[] = {
    {"x", KHUB_ARG_INOUT, "bf16", 2, kC},
    {"cos", KHUB_ARG_INPUT, "f32", 2, kC},
    {"sin", KHUB_ARG_INPUT, "f32", 2, kC},
    {"rows", KHUB_ARG_INPUT, "i32", 1, kC},
    {"seqs", KHUB_ARG_INPUT, "i32", 2, kC},
    {"kv_cache", KHUB_ARG_INOUT, "same:x", 6, kC},
    {"sync", KHUB_ARG_INOUT, "i32", 1, kC},
    {"qkv_weight", KHUB_ARG_PARAM, "same:x", 3, kC},
    {"o_weight", KHUB_ARG_PARAM, "same:x", 3, kC},
    {"gate_up_weight", KHUB_ARG_PARAM, "same:x", 3, kC},
    {"down_weight", KHUB_ARG_PARAM, "same:x", 3, kC},
    {"norms", KHUB_ARG_PARAM, "same:x", 3, kC},
    {"final_norm", KHUB_ARG_PARAM, "same:x", 1, kC},
    {"lm_head", KHUB_ARG_PARAM, "same:x", 2, kC},
    {"scratch", KHUB_ARG_OUTPUT, "same:x", 1, kC},
    {"logits", KHUB_ARG_OUTPUT, "same:x", 2, kC},
    {"qk_norms", KHUB_ARG_PARAM, "same:x", 3, kC | KHUB_ARG_OPTIONAL},
};
constexpr khub_attr_desc kAttrs[] = {
    {"eps", KHUB_VALUE_FLOAT, 1, {KHUB_VALUE_FLOAT, {.f = 1e-6}}},
    {"scale", KHUB_VALUE_FLOAT, 1, {KHUB_VALUE_FLOAT, {.f = 1.0}}},
    {"blocks", KHUB_VALUE_INT, 0, {KHUB_VALUE_INT, {.i = 0}}},
    {"rotary_dim", KHUB_VALUE_INT, 0, {KHUB_VALUE_INT, {.i = 0}}},
};

}  // namespace
}  // namespace khub_decode_step_cuda

extern "C" KHUB_KERNEL_EXPORT khub_status
khub_decode_step_decode_step_forward(const khub_call* call, khub_error* error) {
  return khub_cuda::guard_boundary("decode_step_forward", error,
                                   [&] { return khub_decode_step_cuda::forward(call, error); });
}

namespace khub_decode_step_cuda {
namespace {

// What kernelize checks before binding a stack (src/kernelize/kernel_bindings_decode_step.cc):
// features a stack uses that are listed false (or absent) keep it on the per-layer path.
const khub_function_desc kFunctions[] = {{
    sizeof(khub_function_desc),
    "decode_step_forward",
    "khub_decode_step_decode_step_forward",
    sizeof(kArgs) / sizeof(kArgs[0]),
    kArgs,
    sizeof(kAttrs) / sizeof(kAttrs[0]),
    kAttrs,
    "bf16",
    KHUB_FN_CAN_CAPTURE | KHUB_FN_DETERMINISTIC,
    nullptr,
    "{\"min_compute_capability\": \"9.0\", \"head_dim\": [64, 128], \"max_width\": 8192, "
    "\"width_multiple\": 64, \"max_batch\": 1, \"qk_norm\": true, \"bias\": false, "
    "\"sliding_window\": false, \"softcap\": false, \"sinks\": false, \"moe\": false, "
    "\"sandwich_norm\": false, \"gemma_norm\": false, \"interleaved_rotary\": false, "
    "\"scale_embeddings\": true, \"activations\": [\"silu\"]}",
}};

const khub_layer_desc kLayers[] = {
    {sizeof(khub_layer_desc), "DecodeStep", "decode_step_forward", nullptr, KHUB_LAYER_CAN_CAPTURE},
};

}  // namespace
}  // namespace khub_decode_step_cuda

KHUB_DEFINE_KERNEL_MANIFEST("decode-step", "cuda", khub_decode_step_cuda::kFunctions,
                            khub_decode_step_cuda::kLayers)
