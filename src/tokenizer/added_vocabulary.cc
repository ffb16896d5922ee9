#include "tokenizer/added_vocabulary.h"

#include <algorithm>

#include "tokenizer/normalizer.h"
#include "tokenizer/unicode_text.h"

namespace khub::tok {

AddedVocabulary::AddedVocabulary(const Json& j, const std::string& path,
                                 const Normalizer* normalizer) {
  if (j.is_null()) return;
  if (!j.is_array()) json_fail(path, "expected an array");
  for (size_t i = 0; i < j.size(); ++i) {
    std::string p = path + "[" + std::to_string(i) + "]";
    AddedToken t;
    t.content = json_string(j[i], p, "content");
    long long id = json_int_or(j[i], p, "id", -1);
    if (id < 0 || id > INT32_MAX) json_fail(p + ".id", "expected a non-negative integer id");
    if (t.content.empty()) json_fail(p + ".content", "must not be empty");
    utf8_require_valid(t.content, "tokenizer.json: " + p + ".content");
    t.id = static_cast<int32_t>(id);
    t.special = json_bool_or(j[i], p, "special", false);
    t.single_word = json_bool_or(j[i], p, "single_word", false);
    t.lstrip = json_bool_or(j[i], p, "lstrip", false);
    t.rstrip = json_bool_or(j[i], p, "rstrip", false);
    t.normalized = json_bool_or(j[i], p, "normalized", !t.special);
    by_id_[t.id] = tokens_.size();
    by_content_[t.content] = tokens_.size();
    tokens_.push_back(std::move(t));
  }
  for (size_t k = 0; k < tokens_.size(); ++k) {
    const AddedToken& t = tokens_[k];
    if (t.normalized && normalizer != nullptr) {
      std::string key = t.content;
      normalizer->normalize(key);
      if (!key.empty()) insert(tries_[1], key, static_cast<int32_t>(k));
    } else {
      insert(tries_[t.normalized ? 1 : 0], t.content, static_cast<int32_t>(k));
    }
  }
}

void AddedVocabulary::insert(Trie& trie, std::string_view key, int32_t token) {
  if (trie.nodes.empty()) trie.nodes.emplace_back();
  trie.first_byte[static_cast<unsigned char>(key[0])] = true;
  int32_t cur = 0;
  for (unsigned char b : key) {
    auto& next = trie.nodes[cur].next;
    auto it = std::lower_bound(next.begin(), next.end(), std::make_pair(b, int32_t{-1}));
    if (it != next.end() && it->first == b) {
      cur = it->second;
      continue;
    }
    int32_t child = static_cast<int32_t>(trie.nodes.size());
    next.insert(it, {b, child});
    trie.nodes.emplace_back();
    cur = child;
  }
  // A later duplicate content replaces the earlier one (HF keeps the last registration).
  trie.nodes[cur].token = token;
}

int32_t AddedVocabulary::longest_at(const Trie& trie, std::string_view text, size_t i,
                                    size_t* len) const {
  int32_t best = -1, cur = 0;
  for (size_t k = i; k < text.size(); ++k) {
    const auto& next = trie.nodes[cur].next;
    unsigned char b = static_cast<unsigned char>(text[k]);
    auto it = std::lower_bound(next.begin(), next.end(), std::make_pair(b, int32_t{-1}));
    if (it == next.end() || it->first != b) break;
    cur = it->second;
    if (trie.nodes[cur].token >= 0) {
      best = trie.nodes[cur].token;
      *len = k + 1 - i;
    }
  }
  return best;
}

namespace {

bool is_word_char(char32_t c) { return c == '_' || is_alphanumeric(c); }

char32_t last_char(std::string_view s) {
  size_t i = s.size() - 1;
  while (i > 0 && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) --i;
  char32_t c;
  utf8_decode(s, i, &c);
  return c;
}

// Start of the whitespace run that ends s.
size_t trailing_space_start(std::string_view s) {
  size_t end = s.size();
  while (end > 0) {
    size_t i = end - 1;
    while (i > 0 && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) --i;
    char32_t c;
    utf8_decode(s, i, &c);
    if (!is_whitespace(c)) break;
    end = i;
  }
  return end;
}

size_t leading_space_len(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    char32_t c;
    int n = utf8_decode(s, i, &c);
    if (!is_whitespace(c)) break;
    i += n;
  }
  return i;
}

}  // namespace

void AddedVocabulary::split(std::string_view text, bool normalized_tokens,
                            std::vector<Segment>* out) const {
  const Trie& trie = tries_[normalized_tokens ? 1 : 0];
  size_t n = text.size();
  if (trie.nodes.empty() || n == 0) {
    if (n > 0) out->push_back({0, n, -1});
    return;
  }
  size_t start_offset = 0, pos = 0;
  while (pos < n) {
    // Leftmost match, longest among those starting there.
    size_t ms = n, len = 0;
    int32_t tok = -1;
    for (size_t i = pos; i < n; ++i) {
      if (!trie.first_byte[static_cast<unsigned char>(text[i])]) continue;
      tok = longest_at(trie, text, i, &len);
      if (tok >= 0) {
        ms = i;
        break;
      }
    }
    if (tok < 0) break;
    size_t me = ms + len;
    pos = me;
    const AddedToken& t = tokens_[tok];
    size_t start = ms, stop = me;
    if (t.single_word) {
      bool start_ok = start == 0 || !is_word_char(last_char(text.substr(0, start)));
      char32_t next_c = 0;
      if (stop < n) utf8_decode(text, stop, &next_c);
      bool stop_ok = stop == n || !is_word_char(next_c);
      if (!start_ok || !stop_ok) continue;
    }
    if (t.lstrip) start = std::max(trailing_space_start(text.substr(0, start)), start_offset);
    if (t.rstrip) stop += leading_space_len(text.substr(stop));
    if (start_offset < start) out->push_back({start_offset, start, -1});
    out->push_back({start, stop, t.id});
    start_offset = stop;
  }
  if (start_offset < n) out->push_back({start_offset, n, -1});
}

const AddedToken* AddedVocabulary::find_id(int32_t id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &tokens_[it->second];
}

const AddedToken* AddedVocabulary::find_content(std::string_view content) const {
  auto it = by_content_.find(std::string(content));
  return it == by_content_.end() ? nullptr : &tokens_[it->second];
}

}  // namespace khub::tok
