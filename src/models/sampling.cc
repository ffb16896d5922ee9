#include "models/sampling.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "core/error.h"

namespace khub {

void validate_sampling(const SamplingOptions& o) {
  KHUB_CHECK_ARG(o.temperature > 0.0f, "temperature ", o.temperature, " must be > 0");
  KHUB_CHECK_ARG(o.top_k >= 0, "top_k ", o.top_k, " must be >= 0");
  KHUB_CHECK_ARG(o.top_p > 0.0f && o.top_p <= 1.0f, "top_p ", o.top_p, " must be in (0, 1]");
  KHUB_CHECK_ARG(o.min_p >= 0.0f && o.min_p <= 1.0f, "min_p ", o.min_p, " must be in [0, 1]");
  KHUB_CHECK_ARG(o.repetition_penalty > 0.0f, "repetition_penalty ", o.repetition_penalty,
                 " must be > 0");
}

int32_t sample_next(float* logits, int64_t vocab, const std::vector<int32_t>& seen,
                    const SamplingOptions& o, std::mt19937_64& rng) {
  if (o.repetition_penalty != 1.0f) {
    std::vector<int32_t> ids(seen);
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    for (int32_t id : ids) {
      if (id < 0 || id >= vocab) continue;
      float& l = logits[id];
      l = l < 0 ? l * o.repetition_penalty : l / o.repetition_penalty;
    }
  }
  if (!o.do_sample) {
    return static_cast<int32_t>(std::max_element(logits, logits + vocab) - logits);
  }
  for (int64_t i = 0; i < vocab; ++i) logits[i] /= o.temperature;
  // Candidates sorted by logit, descending; filters keep a prefix.
  std::vector<int32_t> order(vocab);
  std::iota(order.begin(), order.end(), 0);
  int64_t keep = vocab;
  if (o.top_k > 0 && o.top_k < vocab) {
    keep = o.top_k;
    std::partial_sort(order.begin(), order.begin() + keep, order.end(),
                      [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
  } else {
    std::sort(order.begin(), order.end(),
              [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
  }
  std::vector<double> probs(keep);
  double mx = logits[order[0]], sum = 0.0;
  for (int64_t i = 0; i < keep; ++i) sum += probs[i] = std::exp(double(logits[order[i]]) - mx);
  for (double& p : probs) p /= sum;
  if (o.top_p < 1.0f) {  // smallest prefix whose mass reaches top_p (at least one token)
    double cum = 0.0;
    int64_t n = 0;
    while (n < keep) {
      cum += probs[n++];
      if (cum >= o.top_p) break;
    }
    keep = n;
  }
  if (o.min_p > 0.0f) {  // drop tokens below min_p × the top probability
    double threshold = o.min_p * probs[0];
    int64_t n = 1;
    while (n < keep && probs[n] >= threshold) ++n;
    keep = n;
  }
  std::discrete_distribution<int64_t> dist(probs.begin(), probs.begin() + keep);
  return order[dist(rng)];
}

}  // namespace khub
