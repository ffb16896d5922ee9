// Kernel modes (HF kernels' Mode, research/hf-kernels.md §1.7). Inference and Training exclude
// each other; Compile (khub's torch.compile: the step is captured into a CUDA graph and replayed)
// combines with either; Fallback stands alone and marks an entry usable in every mode.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace khub {

enum class Mode : uint8_t {
  kFallback = 1,
  kTraining = 2,
  kInference = 4,
  kCompile = 8,
};

constexpr Mode operator|(Mode a, Mode b) {
  return static_cast<Mode>(static_cast<uint8_t>(a) | static_cast<uint8_t>(b));
}
constexpr bool mode_has(Mode m, Mode flag) {
  return (static_cast<uint8_t>(m) & static_cast<uint8_t>(flag)) != 0;
}

// "inference", "training|compile", "fallback".
std::string mode_name(Mode m);
// Parses "inference", "training", "compile" joined by '|' or ',' (any case), or "fallback".
// Throws Error(kInvalidArgument) naming the text.
Mode mode_parse(const std::string& text);
// Throws for invalid combinations: Inference|Training, Fallback|anything, Compile alone, empty.
void mode_validate_registration(Mode m);
// A mode kernelize can be asked for: must contain Inference or Training (not Fallback).
void mode_validate_request(Mode m);
// The registered modes searched for a requested mode, first match wins.
const std::vector<Mode>& mode_fallback_chain(Mode requested);

}  // namespace khub
