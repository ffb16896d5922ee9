#include "kernelize/mode.h"

#include <algorithm>
#include <sstream>

#include "core/error.h"

namespace khub {

std::string mode_name(Mode m) {
  if (m == Mode::kFallback) return "fallback";
  std::string s;
  auto add = [&](Mode f, const char* n) {
    if (mode_has(m, f)) s += (s.empty() ? "" : "|") + std::string(n);
  };
  add(Mode::kInference, "inference");
  add(Mode::kTraining, "training");
  add(Mode::kCompile, "compile");
  return s.empty() ? "none" : s;
}

Mode mode_parse(const std::string& text) {
  uint8_t bits = 0;
  std::string t = text;
  std::replace(t.begin(), t.end(), ',', '|');
  std::stringstream ss(t);
  for (std::string part; std::getline(ss, part, '|');) {
    std::transform(part.begin(), part.end(), part.begin(), ::tolower);
    if (part == "inference")
      bits |= static_cast<uint8_t>(Mode::kInference);
    else if (part == "training")
      bits |= static_cast<uint8_t>(Mode::kTraining);
    else if (part == "compile" || part == "torch_compile")
      bits |= static_cast<uint8_t>(Mode::kCompile);
    else if (part == "fallback")
      bits |= static_cast<uint8_t>(Mode::kFallback);
    else {
      fail(ErrorKind::kInvalidArgument, "mode '", text, "': '", part,
           "' is not one of inference, training, compile, fallback");
    }
  }
  Mode m = static_cast<Mode>(bits);
  mode_validate_registration(m);
  return m;
}

void mode_validate_registration(Mode m) {
  uint8_t b = static_cast<uint8_t>(m);
  KHUB_CHECK_ARG(b != 0, "an empty mode");
  KHUB_CHECK_ARG(!(mode_has(m, Mode::kFallback) && b != static_cast<uint8_t>(Mode::kFallback)),
                 "mode ", mode_name(m), ": fallback cannot be combined with other modes");
  KHUB_CHECK_ARG(!(mode_has(m, Mode::kInference) && mode_has(m, Mode::kTraining)),
                 "mode inference|training: inference and training exclude each other");
  KHUB_CHECK_ARG(m != Mode::kCompile, "mode compile must be combined with inference or training");
}

void mode_validate_request(Mode m) {
  mode_validate_registration(m);
  KHUB_CHECK_ARG(mode_has(m, Mode::kInference) || mode_has(m, Mode::kTraining), "mode ",
                 mode_name(m), ": kernelize needs inference or training");
}

const std::vector<Mode>& mode_fallback_chain(Mode requested) {
  using M = Mode;
  static const std::vector<Mode> inference = {M::kInference, M::kInference | M::kCompile,
                                              M::kTraining, M::kTraining | M::kCompile,
                                              M::kFallback};
  static const std::vector<Mode> inference_compile = {M::kInference | M::kCompile,
                                                      M::kTraining | M::kCompile, M::kFallback};
  static const std::vector<Mode> training = {M::kTraining, M::kTraining | M::kCompile,
                                             M::kFallback};
  static const std::vector<Mode> training_compile = {M::kTraining | M::kCompile, M::kFallback};
  mode_validate_request(requested);
  if (requested == M::kInference) return inference;
  if (requested == (M::kInference | M::kCompile)) return inference_compile;
  if (requested == M::kTraining) return training;
  return training_compile;
}

}  // namespace khub
