// Training data → TrainBatch (models/training.h; training, docs/design.md §10).
//
// Sources, each turned into rows of token ids (every row 2..T tokens, ids in [0, vocab)):
//   *.txt    plain text. Documents are separated by blank lines (empty or whitespace only); each
//            is encoded with the model's tokenizer.json without special tokens, the documents are
//            joined with the EOS id between them (config.json's first eos_token_id) into one
//            stream, and the stream is packed into rows of exactly T tokens. A tail shorter than
//            T is dropped, unless it is the only row (the whole stream is shorter than T) and has
//            at least 2 tokens.
//   *.jsonl  one JSON object per line (blank lines skipped), either all {"text": "..."} (each a
//            document, tokenized, joined and packed as above) or all {"input_ids": [...]} (each
//            row its own sequence, cut into pieces of at most T; a piece shorter than 2 tokens is
//            dropped; a row shorter than 2 tokens is an error naming its line).
//   literal  "1,2,3;4,5,6" (the CLI's --data-ids): rows separated by ';', ids by ','; rows of
//            equal length, each at least 2 tokens. One fixed batch: use it with a DataLoader of
//            batch size = the number of rows and shuffle off.
// Every error is Error(kInvalidArgument) (kNotFound for a missing file) naming the file, the line
// or row, and the offending value.
//
// DataLoader: batches of B rows in a deterministic order. Each epoch visits every row once, in an
// order shuffled by a Fisher–Yates pass driven by std::mt19937_64 seeded from (seed, epoch) — both
// fully specified by the C++ standard, so the order is the same on every platform. A batch that
// runs past the end of an epoch continues with the next epoch's order. The position (seed,
// epoch, cursor) fully determines what comes next: restoring it makes a resumed run see exactly
// the batches an uninterrupted run would.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "models/training.h"

namespace khub {

using TokenRows = std::vector<std::vector<int32_t>>;

// What the data needs from the model.
struct DataModelInfo {
  int64_t vocab_size = 0;                // ids must be in [0, vocab_size)
  int64_t max_position_embeddings = 0;   // rows may not be longer; 0: no limit
  int32_t eos_token_id = -1;             // joins documents; -1: none (then one document only)
  std::filesystem::path tokenizer_json;  // empty when the model has no tokenizer.json

  // From <model_dir>/config.json (vocab_size, max_position_embeddings, the first eos_token_id)
  // and <model_dir>/tokenizer.json when it exists.
  static DataModelInfo from_model_dir(const std::filesystem::path& model_dir);
};

// Reads a .txt or .jsonl file into rows of at most seq_len tokens (see above). seq_len must be
// in [2, max_position_embeddings].
TokenRows load_token_rows(const std::filesystem::path& path, int64_t seq_len,
                          const DataModelInfo& info);

// Parses the literal "1,2,3;4,5,6" (see above); rows may not exceed max_position_embeddings.
TokenRows parse_token_rows(std::string_view text, const DataModelInfo& info);

// Packs a token stream into rows of exactly seq_len (the tail rule above). Empty when the stream
// has fewer than 2 tokens.
TokenRows pack_token_stream(const std::vector<int32_t>& stream, int64_t seq_len);

// Where a DataLoader stands; what a checkpoint saves.
struct DataPosition {
  uint64_t seed = 0;
  int64_t epoch = 0;   // epochs completed
  int64_t cursor = 0;  // rows of this epoch's order already served
  int64_t rows = 0;    // the data's row count, to detect resuming on other data

  nlohmann::json to_json() const;  // {"seed": ..., "epoch": ..., "cursor": ..., "rows": ...}
  // Throws Error(kInvalidArgument) naming a missing or malformed field.
  static DataPosition from_json(const nlohmann::json& j);
};

class DataLoader {
 public:
  // batch_size >= 1; rows non-empty. shuffle = false serves the rows in their order each epoch.
  DataLoader(TokenRows rows, int64_t batch_size, uint64_t seed, bool shuffle = true);

  // The next batch_size rows (labels empty: the labels are the inputs).
  TrainBatch next();

  DataPosition position() const;
  // Throws Error(kInvalidArgument) when the position was saved for another row count or is out
  // of range; adopts the position's seed.
  void set_position(const DataPosition& position);

  int64_t num_rows() const { return static_cast<int64_t>(rows_.size()); }
  int64_t batch_size() const { return batch_size_; }
  const TokenRows& rows() const { return rows_; }
  // Row indices in this epoch's order.
  const std::vector<int64_t>& order() const { return order_; }

 private:
  void make_order();

  TokenRows rows_;
  int64_t batch_size_;
  uint64_t seed_;
  bool shuffle_;
  int64_t epoch_ = 0;
  int64_t cursor_ = 0;
  std::vector<int64_t> order_;
};

// The epoch's row order: 0..n-1 shuffled by Fisher–Yates over std::mt19937_64 seeded with
// seed + epoch·0x9E3779B97F4A7C15 (indices drawn by rejection, never std::uniform_int_distribution,
// whose algorithm the standard leaves open). Exposed for tests.
std::vector<int64_t> shuffled_order(int64_t n, uint64_t seed, int64_t epoch);

}  // namespace khub
