// Training data sources and the DataLoader (data.h).
#include "train/data.h"

#include <charconv>
#include <limits>
#include <random>
#include <utility>

#include "core/error.h"
#include "io/json_file.h"
#include "models/config.h"
#include "tokenizer/tokenizer.h"

namespace khub {
namespace {

bool is_blank(std::string_view line) {
  return line.find_first_not_of(" \t\r\n\f\v") == std::string_view::npos;
}

std::string_view strip(std::string_view s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return {};
  size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

// The file's lines without their "\n" (and a "\r" before it), numbered from 1.
std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back(line);
    if (end == text.size()) break;
    start = end + 1;
  }
  return lines;
}

void check_id(int64_t id, const DataModelInfo& info, const std::string& where) {
  KHUB_CHECK_ARG(id >= 0 && id < info.vocab_size, where, ": token id ", id,
                 " is outside the model's vocabulary [0, ", info.vocab_size, ")");
}

void check_seq_len(int64_t seq_len, const DataModelInfo& info) {
  KHUB_CHECK_ARG(seq_len >= 2, "sequence length ", seq_len, " is too short (at least 2 tokens)");
  KHUB_CHECK_ARG(info.max_position_embeddings <= 0 || seq_len <= info.max_position_embeddings,
                 "sequence length ", seq_len, " exceeds the model's max_position_embeddings ",
                 info.max_position_embeddings);
}

struct Document {
  std::string text;
  size_t line = 0;  // where it starts, 1-based
};

// Tokenizes the documents, joins them with EOS and packs the stream.
TokenRows pack_documents(const std::vector<Document>& docs, int64_t seq_len,
                         const DataModelInfo& info, const std::string& source) {
  KHUB_CHECK_ARG(!info.tokenizer_json.empty(), source,
                 ": a text source needs the model's tokenizer.json, and the model has none");
  auto tokenizer = Tokenizer::from_file(info.tokenizer_json.string());
  std::vector<std::string> texts;
  texts.reserve(docs.size());
  for (const Document& d : docs) texts.push_back(d.text);
  std::vector<std::vector<int32_t>> encoded;
  try {
    encoded = tokenizer->encode_batch(texts, /*add_special_tokens=*/false);
  } catch (const Error&) {
    // Find the document at fault, to name its line.
    for (const Document& d : docs) {
      try {
        tokenizer->encode(d.text, false);
      } catch (const Error& e) {
        fail(e.kind(), source, ": document at line ", d.line, ": ", e.what());
      }
    }
    throw;
  }
  std::vector<int32_t> stream;
  size_t used = 0;
  for (size_t i = 0; i < encoded.size(); ++i) {
    if (encoded[i].empty()) continue;
    if (used > 0) {
      KHUB_CHECK_ARG(info.eos_token_id >= 0, source,
                     ": several documents must be joined with the EOS token, but config.json "
                     "sets no eos_token_id");
      stream.push_back(info.eos_token_id);
    }
    for (int32_t id : encoded[i])
      check_id(id, info, source + ": document at line " + std::to_string(docs[i].line));
    stream.insert(stream.end(), encoded[i].begin(), encoded[i].end());
    ++used;
  }
  if (used > 1) check_id(info.eos_token_id, info, source + ": the EOS id of config.json");
  TokenRows rows = pack_token_stream(stream, seq_len);
  KHUB_CHECK_ARG(!rows.empty(), source, ": no usable row: the text gives ", stream.size(),
                 " token(s), and a row needs at least 2");
  return rows;
}

TokenRows load_txt(std::string_view text, int64_t seq_len, const DataModelInfo& info,
                   const std::string& source) {
  std::vector<Document> docs;
  std::vector<std::string_view> lines = split_lines(text);
  Document current;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (is_blank(lines[i])) {
      if (current.line != 0) docs.push_back(std::move(current));
      current = Document{};
      continue;
    }
    if (current.line == 0) {
      current.line = i + 1;
    } else {
      current.text += '\n';
    }
    current.text += lines[i];
  }
  if (current.line != 0) docs.push_back(std::move(current));
  KHUB_CHECK_ARG(!docs.empty(), source, ": no usable row: the file holds only blank lines");
  return pack_documents(docs, seq_len, info, source);
}

TokenRows load_jsonl(std::string_view text, int64_t seq_len, const DataModelInfo& info,
                     const std::string& source) {
  std::vector<Document> docs;
  TokenRows rows;
  size_t first_line = 0;
  bool ids_kind = false;
  std::vector<std::string_view> lines = split_lines(text);
  for (size_t i = 0; i < lines.size(); ++i) {
    if (is_blank(lines[i])) continue;
    const size_t line_no = i + 1;
    const std::string where = source + ":" + std::to_string(line_no);
    nlohmann::json row;
    try {
      row = parse_json(lines[i], where);
    } catch (const Error& e) {
      fail(ErrorKind::kInvalidArgument, "malformed JSON line: ", e.what());
    }
    KHUB_CHECK_ARG(row.is_object(), where, ": expected a JSON object, got ", json_type_name(row));
    const bool has_text = row.contains("text"), has_ids = row.contains("input_ids");
    KHUB_CHECK_ARG(has_text != has_ids, where,
                   has_text ? ": a row holds both \"text\" and \"input_ids\""
                            : ": a row needs \"text\" (a string) or \"input_ids\" (a list of ids)");
    if (first_line == 0) {
      first_line = line_no;
      ids_kind = has_ids;
    }
    KHUB_CHECK_ARG(has_ids == ids_kind, where, ": this row has \"", has_ids ? "input_ids" : "text",
                   "\" but line ", first_line, " has \"", ids_kind ? "input_ids" : "text",
                   "\" (a file holds one kind of row)");
    if (has_text) {
      KHUB_CHECK_ARG(row["text"].is_string(), where, ": \"text\" must be a string, got ",
                     json_type_name(row["text"]));
      docs.push_back({row["text"].get<std::string>(), line_no});
      continue;
    }
    const nlohmann::json& ids = row["input_ids"];
    KHUB_CHECK_ARG(ids.is_array(), where, ": \"input_ids\" must be a list of token ids, got ",
                   json_type_name(ids));
    KHUB_CHECK_ARG(ids.size() >= 2, where, ": the row has ", ids.size(),
                   " token(s); a training row needs at least 2");
    std::vector<int32_t> seq;
    seq.reserve(ids.size());
    for (size_t k = 0; k < ids.size(); ++k) {
      const nlohmann::json& v = ids[k];
      KHUB_CHECK_ARG(v.is_number_integer(), where, ": input_ids[", k, "] = ", v.dump(),
                     " is not an integer");
      int64_t id = v.is_number_unsigned() && v.get<uint64_t>() > uint64_t{INT64_MAX}
                       ? INT64_MAX
                       : v.get<int64_t>();
      check_id(id, info, where + ": input_ids[" + std::to_string(k) + "]");
      seq.push_back(static_cast<int32_t>(id));
    }
    for (size_t b = 0; b < seq.size(); b += static_cast<size_t>(seq_len)) {
      size_t e = std::min(seq.size(), b + static_cast<size_t>(seq_len));
      if (e - b >= 2) rows.emplace_back(seq.begin() + b, seq.begin() + e);
    }
  }
  KHUB_CHECK_ARG(first_line != 0, source, ": no usable row: the file holds only blank lines");
  if (!ids_kind) return pack_documents(docs, seq_len, info, source);
  return rows;
}

}  // namespace

DataModelInfo DataModelInfo::from_model_dir(const std::filesystem::path& model_dir) {
  ModelConfig config = load_model_config(model_dir.string());
  DataModelInfo info;
  info.vocab_size = config.vocab_size;
  info.max_position_embeddings = config.max_position_embeddings;
  if (!config.eos_token_ids.empty()) info.eos_token_id = config.eos_token_ids.front();
  std::filesystem::path tok = model_dir / "tokenizer.json";
  if (std::filesystem::exists(tok)) info.tokenizer_json = tok;
  return info;
}

TokenRows pack_token_stream(const std::vector<int32_t>& stream, int64_t seq_len) {
  KHUB_CHECK_ARG(seq_len >= 2, "sequence length ", seq_len, " is too short (at least 2 tokens)");
  TokenRows rows;
  const size_t t = static_cast<size_t>(seq_len);
  for (size_t b = 0; b + t <= stream.size(); b += t)
    rows.emplace_back(stream.begin() + b, stream.begin() + b + t);
  if (rows.empty() && stream.size() >= 2) rows.push_back(stream);
  return rows;
}

TokenRows load_token_rows(const std::filesystem::path& path, int64_t seq_len,
                          const DataModelInfo& info) {
  const std::string source = path.string();
  check_seq_len(seq_len, info);
  const std::string ext = path.extension().string();
  KHUB_CHECK_ARG(ext == ".txt" || ext == ".jsonl", source, ": unknown training data extension '",
                 ext, "' (expected .txt or .jsonl)");
  KHUB_CHECK_ARG(!std::filesystem::is_directory(path), source,
                 " is a directory, expected a .txt or .jsonl file");
  std::string text = read_text_file(path);  // Error(kNotFound) for a missing file
  KHUB_CHECK_ARG(!is_blank(text), source, ": the file is empty");
  return ext == ".txt" ? load_txt(text, seq_len, info, source)
                       : load_jsonl(text, seq_len, info, source);
}

TokenRows parse_token_rows(std::string_view text, const DataModelInfo& info) {
  KHUB_CHECK_ARG(!strip(text).empty(), "token ids: empty (expected rows like \"1,2,3;4,5,6\")");
  TokenRows rows;
  size_t start = 0;
  while (true) {
    size_t end = text.find(';', start);
    std::string_view row_text =
        text.substr(start, end == std::string_view::npos ? end : end - start);
    const size_t row_no = rows.size() + 1;
    const std::string where = "token ids, row " + std::to_string(row_no);
    // A trailing ';' ends the list; an empty row elsewhere is a mistake.
    if (strip(row_text).empty() && end == std::string_view::npos && !rows.empty()) break;
    KHUB_CHECK_ARG(!strip(row_text).empty(), where, ": empty row");
    std::vector<int32_t> row;
    size_t s = 0;
    while (true) {
      size_t comma = row_text.find(',', s);
      std::string_view item =
          strip(row_text.substr(s, comma == std::string_view::npos ? comma : comma - s));
      int64_t id = 0;
      auto [ptr, ec] = std::from_chars(item.data(), item.data() + item.size(), id);
      KHUB_CHECK_ARG(!item.empty() && ec == std::errc() && ptr == item.data() + item.size(), where,
                     ", item ", row.size() + 1, ": '", item, "' is not an integer token id");
      check_id(id, info, where + ", item " + std::to_string(row.size() + 1));
      row.push_back(static_cast<int32_t>(id));
      if (comma == std::string_view::npos) break;
      s = comma + 1;
    }
    KHUB_CHECK_ARG(row.size() >= 2, where, ": ", row.size(),
                   " token(s); a training row needs at least 2");
    KHUB_CHECK_ARG(rows.empty() || row.size() == rows.front().size(), where, " has ", row.size(),
                   " tokens but row 1 has ", rows.empty() ? 0 : rows.front().size(),
                   " (rows of a literal batch must be of equal length)");
    KHUB_CHECK_ARG(info.max_position_embeddings <= 0 ||
                       static_cast<int64_t>(row.size()) <= info.max_position_embeddings,
                   where, " has ", row.size(),
                   " tokens, more than the model's max_position_"
                   "embeddings ",
                   info.max_position_embeddings);
    rows.push_back(std::move(row));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return rows;
}

// ---------------------------------------------------------------------------------- DataLoader

std::vector<int64_t> shuffled_order(int64_t n, uint64_t seed, int64_t epoch) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) order[static_cast<size_t>(i)] = i;
  std::mt19937_64 rng(seed + static_cast<uint64_t>(epoch) * 0x9E3779B97F4A7C15ull);
  for (int64_t i = n - 1; i > 0; --i) {
    // Uniform j in [0, i]: reject the low 2^64 mod range draws so every residue is equally likely.
    const uint64_t range = static_cast<uint64_t>(i) + 1;
    const uint64_t threshold = (0 - range) % range;
    uint64_t x;
    do {
      x = rng();
    } while (x < threshold);
    std::swap(order[static_cast<size_t>(i)], order[static_cast<size_t>(x % range)]);
  }
  return order;
}

DataLoader::DataLoader(TokenRows rows, int64_t batch_size, uint64_t seed, bool shuffle)
    : rows_(std::move(rows)), batch_size_(batch_size), seed_(seed), shuffle_(shuffle) {
  KHUB_CHECK_ARG(!rows_.empty(), "data loader: no rows");
  KHUB_CHECK_ARG(batch_size_ >= 1, "data loader: batch size ", batch_size_,
                 " is invalid (expected >= 1)");
  make_order();
}

void DataLoader::make_order() {
  const int64_t n = num_rows();
  if (shuffle_) {
    order_ = shuffled_order(n, seed_, epoch_);
  } else {
    order_.resize(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) order_[static_cast<size_t>(i)] = i;
  }
}

TrainBatch DataLoader::next() {
  TrainBatch batch;
  batch.input_ids.reserve(static_cast<size_t>(batch_size_));
  for (int64_t b = 0; b < batch_size_; ++b) {
    if (cursor_ == num_rows()) {
      ++epoch_;
      cursor_ = 0;
      make_order();
    }
    batch.input_ids.push_back(rows_[static_cast<size_t>(order_[static_cast<size_t>(cursor_++)])]);
  }
  return batch;
}

DataPosition DataLoader::position() const { return {seed_, epoch_, cursor_, num_rows()}; }

void DataLoader::set_position(const DataPosition& p) {
  KHUB_CHECK_ARG(p.rows == num_rows(), "data position: saved for ", p.rows,
                 " rows, but the data has ", num_rows(),
                 " (resume with the same data and sequence length)");
  KHUB_CHECK_ARG(p.epoch >= 0 && p.cursor >= 0 && p.cursor <= num_rows(), "data position: epoch ",
                 p.epoch, ", cursor ", p.cursor, " is out of range for ", num_rows(), " rows");
  seed_ = p.seed;
  epoch_ = p.epoch;
  cursor_ = p.cursor;
  make_order();
}

nlohmann::json DataPosition::to_json() const {
  return {{"seed", seed}, {"epoch", epoch}, {"cursor", cursor}, {"rows", rows}};
}

DataPosition DataPosition::from_json(const nlohmann::json& j) {
  KHUB_CHECK_ARG(j.is_object(), "data position: expected an object, got ", j.dump());
  auto field = [&](const char* key) -> const nlohmann::json& {
    KHUB_CHECK_ARG(j.contains(key) && j[key].is_number_integer(), "data position: '", key,
                   "' must be an integer, got ", j.contains(key) ? j[key].dump() : "nothing");
    return j[key];
  };
  DataPosition p;
  p.seed = field("seed").get<uint64_t>();
  p.epoch = field("epoch").get<int64_t>();
  p.cursor = field("cursor").get<int64_t>();
  p.rows = field("rows").get<int64_t>();
  return p;
}

}  // namespace khub
