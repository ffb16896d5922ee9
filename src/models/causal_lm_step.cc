// Running one step of CausalLM: the step's inputs (token ids, positions, cache rows, sequences)
// are packed into one i32 buffer and uploaded once, and every op reads them from device memory.
// That is what lets Mode Compile capture a decode step into a CUDA graph once per batch size and
// cache, and replay it with the next step's inputs copied into the same buffer.
#include <algorithm>
#include <cstdlib>
#include <limits>
#include <string>

#include "core/env.h"
#include "core/logging.h"
#include "models/causal_lm.h"
#include "models/causal_lm_step.h"
#include "ops/elementwise.h"
#include "ops/indexing.h"
#include "ops/linear.h"
#include "ops/rotary.h"

namespace khub {

CausalLM::~CausalLM() = default;

namespace {

// KHUB_CUDA_MAPPED_PICKS=0 (for measurement): greedy graphs leave their picks in device memory
// only, and the look-ahead copies them back.
bool mapped_picks() {
  static const bool on = env::flag("KHUB_CUDA_MAPPED_PICKS", true);
  return on;
}

// Dynamic NTK rope recomputes its frequencies from the sequence length once it passes the
// trained context; every other type is a fixed function of the position.
bool rope_is_static(const ops::RopeParams& p, int64_t max_len) {
  if (p.type != "dynamic") return true;
  int64_t max_pos = p.original_max_position_embeddings > 0 ? p.original_max_position_embeddings
                                                           : p.max_position_embeddings;
  return max_len <= max_pos;
}

}  // namespace

CausalLM::StepInputs CausalLM::make_step_inputs(const std::vector<SequenceChunk>& chunks,
                                                const KVCache& cache) const {
  KHUB_CHECK_ARG(!chunks.empty(), "forward: no sequence chunks");
  KHUB_CHECK_ARG(cache.slots() * cache.capacity() <= std::numeric_limits<int32_t>::max(),
                 "KV cache of ", cache.slots(), " slots × ", cache.capacity(),
                 " positions has more rows than 32-bit indices address");
  StepInputs in;
  std::vector<int32_t> ids, pos, rows, seqs, last;
  std::vector<bool> seen(cache.slots(), false);
  int64_t row = 0;
  for (const SequenceChunk& ch : chunks) {
    KHUB_CHECK_ARG(ch.slot >= 0 && ch.slot < cache.slots(), "sequence slot ", ch.slot,
                   " outside the cache's ", cache.slots(), " slots");
    KHUB_CHECK_ARG(!ch.tokens.empty(), "an empty sequence chunk for slot ", ch.slot);
    KHUB_CHECK_ARG(!seen[ch.slot], "slot ", ch.slot, " appears twice in one step");
    seen[ch.slot] = true;
    int64_t start = cache.length(ch.slot), n = static_cast<int64_t>(ch.tokens.size());
    KHUB_CHECK_ARG(start + n <= cache.capacity(), "KV cache: writing positions [", start, ", ",
                   start + n, ") of slot ", ch.slot, " beyond its capacity of ", cache.capacity(),
                   " (raise max_new_tokens' budget when creating the cache)");
    for (int64_t i = 0; i < n; ++i) {
      int32_t id = ch.tokens[i];
      KHUB_CHECK_ARG(id >= 0 && id < config_.vocab_size, "token id ", id, " at position ", row + i,
                     " is outside the vocabulary [0, ", config_.vocab_size, ")");
      ids.push_back(id);
      pos.push_back(static_cast<int32_t>(start + i));
      rows.push_back(static_cast<int32_t>(ch.slot * cache.capacity() + start + i));
      in.positions.push_back(start + i);
    }
    in.seqs.push_back({ch.slot, row, n, start + n});
    for (int64_t v : {ch.slot, row, n, start + n}) seqs.push_back(static_cast<int32_t>(v));
    row += n;
    last.push_back(static_cast<int32_t>(row - 1));
    in.max_len = std::max(in.max_len, start + n);
    in.max_q_len = std::max(in.max_q_len, n);
  }
  in.tokens = row;
  for (const auto* part : {&ids, &pos, &rows, &seqs, &last}) {
    in.packed.insert(in.packed.end(), part->begin(), part->end());
  }
  return in;
}

void CausalLM::ensure_rope_tables(int64_t rows) {
  if (rows <= rope_rows_) return;
  std::vector<int64_t> positions(rows);
  for (int64_t i = 0; i < rows; ++i) positions[i] = i;
  // seq_len 0: the tables of a static rope do not depend on it (rope_is_static).
  ops::rope_tables(config_.rope, positions, 0, &rope_cos_, &rope_sin_);
  rope_cos_ = rope_cos_.to(device_);
  rope_sin_ = rope_sin_.to(device_);
  if (has_local_layers_) {
    ops::rope_tables(config_.rope_local, positions, 0, &rope_cos_local_, &rope_sin_local_);
    rope_cos_local_ = rope_cos_local_.to(device_);
    rope_sin_local_ = rope_sin_local_.to(device_);
  }
  rope_rows_ = rows;
  graphs_.clear();  // they read the old tables
}

Tensor CausalLM::attention_block(DecoderLayer& L, int64_t index, const Tensor& h,
                                 const AttentionBatch& batch, const Tensor& cache_rows,
                                 const Tensor& cos, const Tensor& sin, KVCache& cache) {
  const ModelConfig& c = config_;
  int64_t t = h.size(0), d = c.head_dim, hq = c.num_attention_heads, hk = c.num_key_value_heads;
  // Model weights are constant in a forward pass: the projections may start streaming them
  // before the previous kernel finishes (ops::linear's weight_constant).
  std::vector<Tensor> qkv =
      ops::linear_split(h, L.qkv_weight, L.qkv_bias, {hq * d, hk * d, hk * d}, true);
  Tensor q = qkv[0].view({t, hq, d}), k = qkv[1].view({t, hk, d}), v = qkv[2].view({t, hk, d});
  Tensor k_cache = cache.layer_keys(index), v_cache = cache.layer_values(index);
  L.rotary_cache->forward(q, k, v, cos, sin, cache_rows, k_cache, v_cache);

  Tensor out = L.attention->forward(q, k_cache, v_cache, batch, attention_params(L), L.sinks);
  return ops::linear(out.view({t, hq * d}), L.o_weight, L.o_bias, true);
}

Tensor CausalLM::run_step(const StepInputs& in, const Tensor& meta, KVCache& cache, bool all_logits,
                          bool static_rope) {
  const ModelConfig& c = config_;
  int64_t t = in.tokens, n = in.n();
  Tensor ids = meta.slice(0, 0, t), positions = meta.slice(0, t, 2 * t);
  Tensor cache_rows = meta.slice(0, 2 * t, 3 * t);
  AttentionBatch batch;
  batch.seqs = meta.slice(0, 3 * t, 3 * t + 4 * n).view({n, 4});
  batch.host = in.seqs;
  batch.max_q_len = in.max_q_len;
  batch.max_kv_len = cache.capacity();
  Tensor last_rows = meta.slice(0, 3 * t + 4 * n, 3 * t + 5 * n);

  Tensor x = ops::index_rows(embed_tokens_, ids, act_dtype_);
  if (c.scale_embeddings) ops::scale_inplace(x, embed_scale_);
  Tensor cos_g, sin_g, cos_l, sin_l;
  if (static_rope) {
    cos_g = ops::index_rows(rope_cos_, positions, DType::kF32);
    sin_g = ops::index_rows(rope_sin_, positions, DType::kF32);
    if (has_local_layers_) {
      cos_l = ops::index_rows(rope_cos_local_, positions, DType::kF32);
      sin_l = ops::index_rows(rope_sin_local_, positions, DType::kF32);
    }
  } else {
    ops::rope_tables(c.rope, in.positions, in.max_len, &cos_g, &sin_g);
    ops::rope_tables(c.rope_local, in.positions, in.max_len, &cos_l, &sin_l);
    for (Tensor* table : {&cos_g, &sin_g, &cos_l, &sin_l}) *table = table->to(device_);
  }

  // One sequence, one token: the whole stack in one kernel call when `DecodeStep` is bound
  // (prefill, batches and the reference keep the per-layer path below).
  if (t == 1 && n == 1 && decode_step_->kernelized()) {
    ++fused_decode_steps_;
    Tensor kv = cache.storage();
    return decode_step_->forward(x, cos_g, sin_g, cache_rows, batch.seqs, kv);
  }
  Tensor h;  // the current layer's normed input, when the previous layer's fused add made it
  for (size_t i = 0; i < layers_.size(); ++i) {
    DecoderLayer& L = layers_[i];
    bool local = L.attention_type == LayerAttention::kSliding;
    if (!h.defined()) h = L.input_norm->forward(x);
    Tensor a = attention_block(L, static_cast<int64_t>(i), h, batch, cache_rows,
                               local ? cos_l : cos_g, local ? sin_l : sin_g, cache);
    if (c.sandwich_norm) {
      a = L.post_attention_norm->forward(a);
      ops::add_inplace(x, a);
      h = L.pre_feedforward_norm->forward(x);
    } else if (L.post_attention_add_norm) {
      h = L.post_attention_add_norm->forward(a, x);  // x += a
    } else {
      ops::add_inplace(x, a);
      h = L.post_attention_norm->forward(x);
    }
    Tensor m;
    if (L.moe) {
      m = L.moe->forward(h);
    } else {
      Tensor gate_up = ops::linear(h, L.gate_up_weight, L.gate_up_bias, true);
      m = ops::linear(L.act->forward(gate_up), L.down_weight, L.down_bias, true);
    }
    h = Tensor();
    if (c.sandwich_norm) m = L.post_feedforward_norm->forward(m);
    if (i + 1 < layers_.size() && layers_[i + 1].input_add_norm) {
      h = layers_[i + 1].input_add_norm->forward(m, x);  // x += m
    } else {
      ops::add_inplace(x, m);
    }
  }
  if (!all_logits && t != n) x = ops::index_rows(x, last_rows, x.dtype());
  Tensor logits = ops::linear(final_norm_->forward(x), lm_head_, Tensor(), true);
  if (c.final_logit_softcapping > 0.0f) ops::softcap_inplace(logits, c.final_logit_softcapping);
  return logits;
}

std::string CausalLM::capture_blocker(bool static_rope) const {
  if (!static_rope) return "rope type 'dynamic' recomputes its tables past the trained context";
  for (const DecoderLayer& L : layers_) {
    if (!L.attention->kernelized()) {
      return "Attention runs the reference path, which reads sequence lengths on the host " +
             std::string("(map it to a kernel, e.g. khub-community/flash-attn)");
    }
    if (L.moe && !L.moe->kernelized()) {
      return "MoE runs the reference path, which reads the routes on the host " +
             std::string("(map it to a kernel, e.g. khub-community/moe)");
    }
  }
  return "";
}

CausalLM::DecodeGraph& CausalLM::decode_graph(const StepInputs& in, KVCache& cache, bool greedy,
                                              bool* captured) {
  *captured = false;
  for (auto& cand : graphs_) {
    if (cand->n == in.n() && cand->greedy == greedy && cand->slots == cache.slots() &&
        cand->capacity == cache.capacity() && cand->cache == cache.data()) {
      return *cand;
    }
  }
  // Graphs of caches that are gone only hold memory: keep the most recent few.
  constexpr size_t kMaxGraphs = 8;
  if (graphs_.size() >= kMaxGraphs) graphs_.erase(graphs_.begin());
  auto fresh = std::make_unique<DecodeGraph>();
  fresh->n = in.n();
  fresh->greedy = greedy;
  fresh->slots = cache.slots();
  fresh->capacity = cache.capacity();
  fresh->cache = cache.data();
  fresh->meta = in.host().to(device_);
  if (greedy && mapped_picks()) {
    fresh->picks_host = std::make_unique<MappedHostBuffer>(device_, 2 * in.n() * sizeof(int32_t));
  }
  fresh->graph = CudaGraph::capture(device_, [&] {
    Tensor logits = run_step(in, fresh->meta, cache, false, true);
    if (greedy) {
      ops::PicksMirror mirror;
      if (fresh->picks_host) {
        // The half: the parity of the first sequence's position (meta's positions start at T).
        mirror = {static_cast<int32_t*>(fresh->picks_host->device_view()),
                  fresh->meta.slice(0, in.tokens, in.tokens + 1)};
      }
      ops::argmax_rows(logits, fresh->meta.slice(0, 0, in.n()), mirror);
    } else {
      fresh->logits = ops::cast(logits, DType::kF32);
    }
  });
  graphs_.push_back(std::move(fresh));
  ++graphs_captured_;
  *captured = true;
  return *graphs_.back();
}

Tensor CausalLM::replay_step(const StepInputs& in, KVCache& cache) {
  bool captured = false;
  DecodeGraph& g = decode_graph(in, cache, false, &captured);
  if (!captured) g.meta.copy_from(in.host());
  g.graph->replay();
  ++graph_replays_;
  // The caller may keep the logits past the next replay, which rewrites g.logits.
  return g.logits.clone();
}

bool CausalLM::prepare_rope(const StepInputs& in, const KVCache& cache) {
  bool static_rope =
      rope_is_static(config_.rope, in.max_len) && rope_is_static(config_.rope_local, in.max_len);
  if (static_rope) ensure_rope_tables(cache.capacity());
  return static_rope;
}

bool CausalLM::runs_as_graph(const StepInputs& in, bool all_logits, bool static_rope) {
  if (!decodes_with_graphs() || all_logits || in.max_q_len != 1) return false;
  std::string blocker = capture_blocker(static_rope);
  if (blocker.empty()) return true;
  if (blocker != compile_warned_) {
    log_warn("mode compile: decode steps run eagerly: ", blocker);
    compile_warned_ = blocker;
  }
  return false;
}

Tensor CausalLM::forward(const std::vector<SequenceChunk>& chunks, KVCache& cache,
                         bool all_logits) {
  StepInputs in = make_step_inputs(chunks, cache);
  bool static_rope = prepare_rope(in, cache);
  Tensor logits =
      runs_as_graph(in, all_logits, static_rope)
          ? replay_step(in, cache)
          : ops::cast(run_step(in, in.host().to(device_), cache, all_logits, static_rope),
                      DType::kF32);
  for (const ops::AttentionSeq& s : in.seqs) cache.set_length(s.slot, s.kv_len);
  return logits;
}

Tensor CausalLM::queue_greedy(const std::vector<SequenceChunk>& chunks, KVCache& cache,
                              bool continued) {
  StepInputs in = make_step_inputs(chunks, cache);
  KHUB_CHECK_ARG(in.max_q_len == 1, "greedy_step: one token per sequence (a decode step), got a ",
                 "chunk of ", in.max_q_len, " tokens");
  bool static_rope = prepare_rope(in, cache);
  int64_t n = in.n(), size = static_cast<int64_t>(in.packed.size());
  Tensor ids;
  if (runs_as_graph(in, false, static_rope)) {
    bool captured = false;
    DecodeGraph& g = decode_graph(in, cache, true, &captured);
    ids = g.meta.slice(0, 0, n);  // the step's inputs, overwritten with its picks by the argmax
    if (!captured && continued) {
      g.meta.slice(0, n, size).copy_from(in.host().slice(0, n, size));
    } else if (!captured) {
      g.meta.copy_from(in.host());
    }
    if (continued && ids.data() != greedy_ids_.data()) ids.copy_from(greedy_ids_);
    g.graph->replay();
    ++graph_replays_;
    greedy_host_ =
        g.picks_host ? static_cast<const int32_t*>(g.picks_host->host()) + (in.positions[0] & 1) * n
                     : nullptr;
  } else {
    greedy_host_ = nullptr;
    Tensor meta = in.host().to(device_);
    if (continued) meta.slice(0, 0, n).copy_from(greedy_ids_);
    ids = ops::argmax_rows(run_step(in, meta, cache, false, static_rope));
  }
  for (const ops::AttentionSeq& s : in.seqs) cache.set_length(s.slot, s.kv_len);
  greedy_slots_.clear();
  for (const SequenceChunk& ch : chunks) greedy_slots_.push_back(ch.slot);
  greedy_cache_ = cache.data();
  greedy_ids_ = ids;
  return ids;
}

Tensor CausalLM::greedy_step(const std::vector<SequenceChunk>& chunks, KVCache& cache) {
  return queue_greedy(chunks, cache, false);
}

Tensor CausalLM::greedy_continue(KVCache& cache) {
  KHUB_CHECK_ARG(greedy_ids_.defined() && greedy_cache_ == cache.data(),
                 "greedy_continue: no greedy step on this cache to continue (call greedy_step ",
                 "first)");
  std::vector<SequenceChunk> chunks;
  // The token is a placeholder: each sequence is fed its previous pick from device memory.
  for (int64_t slot : greedy_slots_) chunks.push_back({slot, {0}});
  return queue_greedy(chunks, cache, true);
}

}  // namespace khub
