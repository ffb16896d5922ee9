#include "tokenizer/bpe_model.h"

#include <cstdio>
#include <queue>

#include "tokenizer/unicode_text.h"

namespace khub::tok {

BpeModel::BpeModel(const Json& j, const std::string& path) : cache_(new Shard[kShards]) {
  const Json& vocab = json_field(j, path, "vocab");
  if (!vocab.is_object()) json_fail(path + ".vocab", "expected an object of token -> id");
  int64_t max_id = -1;
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    if (!it.value().is_number_integer() || it.value().get<int64_t>() < 0 ||
        it.value().get<int64_t>() > INT32_MAX)
      json_fail(path + ".vocab[\"" + it.key() + "\"]", "expected a non-negative integer id");
    max_id = std::max<int64_t>(max_id, it.value().get<int64_t>());
  }
  id_to_token_.resize(static_cast<size_t>(max_id + 1));
  vocab_.reserve(vocab.size());
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    int32_t id = it.value().get<int32_t>();
    vocab_.emplace(it.key(), id);
    id_to_token_[id] = it.key();
  }
  if (j.contains("dropout") && !j["dropout"].is_null()) {
    if (!j["dropout"].is_number() || j["dropout"].get<double>() != 0.0)
      json_fail(path + ".dropout", "BPE dropout is not supported (expected null or 0)");
  }
  unk_token_ = json_string_or(j, path, "unk_token", "");
  fuse_unk_ = json_bool_or(j, path, "fuse_unk", false);
  byte_fallback_ = json_bool_or(j, path, "byte_fallback", false);
  ignore_merges_ = json_bool_or(j, path, "ignore_merges", false);
  prefix_ = json_string_or(j, path, "continuing_subword_prefix", "");
  suffix_ = json_string_or(j, path, "end_of_word_suffix", "");
  if (!unk_token_.empty()) unk_id_ = token_to_id(unk_token_);
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    byte_ids_[b] = token_to_id(name);
  }

  const Json& merges = json_array(j, path, "merges");
  merges_.reserve(merges.size() * 2);
  for (size_t i = 0; i < merges.size(); ++i) {
    const Json& m = merges[i];
    std::string where = path + ".merges[" + std::to_string(i) + "]";
    if (m.is_string()) {
      const std::string& s = m.get_ref<const std::string&>();
      size_t sp = s.find(' ');
      if (sp == std::string::npos || s.find(' ', sp + 1) != std::string::npos)
        json_fail(where,
                  "expected \"left right\" (two tokens separated by one space), got \"" + s + "\"");
      add_merge(std::string_view(s).substr(0, sp), std::string_view(s).substr(sp + 1), i, where);
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      add_merge(m[0].get_ref<const std::string&>(), m[1].get_ref<const std::string&>(), i, where);
    } else {
      json_fail(where, "expected a \"left right\" string or a [left, right] pair of strings");
    }
  }
}

void BpeModel::add_merge(std::string_view a, std::string_view b, size_t rank,
                         const std::string& path) {
  int32_t ia = token_to_id(a), ib = token_to_id(b);
  std::string joined = std::string(a) + std::string(b);
  // With a continuing-subword prefix, the merged token drops the right side's prefix.
  if (!prefix_.empty() && b.substr(0, prefix_.size()) == prefix_)
    joined = std::string(a) + std::string(b.substr(prefix_.size()));
  int32_t inew = token_to_id(joined);
  if (ia < 0) json_fail(path, "token \"" + std::string(a) + "\" is not in the vocab");
  if (ib < 0) json_fail(path, "token \"" + std::string(b) + "\" is not in the vocab");
  if (inew < 0) json_fail(path, "merged token \"" + joined + "\" is not in the vocab");
  uint64_t key = (static_cast<uint64_t>(ia) << 32) | static_cast<uint32_t>(ib);
  merges_[key] = {static_cast<int32_t>(rank), inew};
}

int32_t BpeModel::token_to_id(std::string_view token) const {
  auto it = vocab_.find(token);
  return it == vocab_.end() ? -1 : it->second;
}

const std::string* BpeModel::id_to_token(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= id_to_token_.size()) return nullptr;
  const std::string& t = id_to_token_[id];
  if (t.empty() && vocab_.find(t) == vocab_.end()) return nullptr;
  return &t;
}

void BpeModel::encode_word(std::string_view word, std::vector<int32_t>* out) const {
  if (word.empty()) return;
  if (ignore_merges_) {
    int32_t id = token_to_id(word);
    if (id >= 0) {
      out->push_back(id);
      return;
    }
  }
  if (word.size() > kMaxCachedWordBytes) {
    merge_word(word, out);
    return;
  }
  Shard& shard = cache_[std::hash<std::string_view>{}(word) % kShards];
  {
    std::shared_lock lock(shard.mu);
    auto it = shard.map.find(word);
    if (it != shard.map.end()) {
      out->insert(out->end(), it->second.begin(), it->second.end());
      return;
    }
  }
  size_t before = out->size();
  merge_word(word, out);
  std::unique_lock lock(shard.mu);
  if (shard.map.size() < kShardCapacity)
    shard.map.emplace(std::string(word), std::vector<int32_t>(out->begin() + before, out->end()));
}

void BpeModel::merge_word(std::string_view word, std::vector<int32_t>* out) const {
  struct Symbol {
    int32_t id;
    int32_t prev, next;
    bool alive;
  };
  std::vector<Symbol> syms;
  syms.reserve(word.size());
  bool pending_unk = false;  // HF flushes a pending (possibly fused) unk only before a vocab hit
  std::string scratch;
  auto push = [&](int32_t id) {
    int32_t n = static_cast<int32_t>(syms.size());
    syms.push_back({id, n - 1, n + 1, true});
  };
  for (size_t i = 0; i < word.size();) {
    size_t len = static_cast<size_t>(utf8_len(static_cast<unsigned char>(word[i])));
    if (i + len > word.size()) len = word.size() - i;
    bool first = i == 0, last = i + len == word.size();
    std::string_view ch = word.substr(i, len);
    if ((!first && !prefix_.empty()) || (last && !suffix_.empty())) {
      scratch.assign(first ? "" : prefix_);
      scratch.append(ch);
      if (last) scratch.append(suffix_);
      ch = scratch;
    }
    i += len;
    int32_t id = token_to_id(ch);
    if (id >= 0) {
      if (pending_unk) push(unk_id_);
      pending_unk = false;
      push(id);
      continue;
    }
    if (byte_fallback_) {
      bool all = true;
      for (unsigned char b : ch) all = all && byte_ids_[b] >= 0;
      if (all) {
        for (unsigned char b : ch) push(byte_ids_[b]);
        continue;
      }
    }
    if (unk_token_.empty()) continue;  // HF drops unknown characters when there is no unk token
    if (unk_id_ < 0)
      fail(ErrorKind::kFormat, "tokenizer.json: model.unk_token \"", unk_token_,
           "\" is not in the vocab");
    if (pending_unk && !fuse_unk_) push(unk_id_);
    pending_unk = true;
  }
  if (pending_unk) push(unk_id_);
  if (syms.empty()) return;
  syms.back().next = -1;

  struct Cand {
    int32_t rank, pos, new_id;
    bool operator<(const Cand& o) const {  // max-heap: lowest rank, then leftmost, on top
      return rank != o.rank ? rank > o.rank : pos > o.pos;
    }
  };
  auto lookup = [&](int32_t a, int32_t b) -> const MergeValue* {
    auto it = merges_.find((static_cast<uint64_t>(a) << 32) | static_cast<uint32_t>(b));
    return it == merges_.end() ? nullptr : &it->second;
  };
  std::vector<Cand> heap_storage;
  heap_storage.reserve(syms.size());
  std::priority_queue<Cand> heap(std::less<Cand>(), std::move(heap_storage));
  for (size_t k = 0; k + 1 < syms.size(); ++k) {
    if (const MergeValue* m = lookup(syms[k].id, syms[k + 1].id))
      heap.push({m->rank, static_cast<int32_t>(k), m->new_id});
  }
  while (!heap.empty()) {
    Cand top = heap.top();
    heap.pop();
    Symbol& left = syms[top.pos];
    if (!left.alive || left.next < 0) continue;
    Symbol& right = syms[left.next];
    const MergeValue* m = lookup(left.id, right.id);
    if (m == nullptr || m->new_id != top.new_id) continue;  // stale entry
    left.id = top.new_id;
    right.alive = false;
    left.next = right.next;
    if (left.next >= 0) syms[left.next].prev = top.pos;
    if (left.prev >= 0) {
      if (const MergeValue* pm = lookup(syms[left.prev].id, left.id))
        heap.push({pm->rank, left.prev, pm->new_id});
    }
    if (left.next >= 0) {
      if (const MergeValue* nm = lookup(left.id, syms[left.next].id))
        heap.push({nm->rank, top.pos, nm->new_id});
    }
  }
  for (const Symbol& s : syms)
    if (s.alive) out->push_back(s.id);
}

}  // namespace khub::tok
