// Tokenizers (khub public API, docs/cpp-api.md):
//   khub::AutoTokenizer::from_pretrained(dir)  tokenizer.json + tokenizer_config.json: encode,
//   decode, decode_stream(), apply_chat_template / apply_chat_template_ids
#pragma once

#include "tokenizer/auto_tokenizer.h"
