#include "layers/rotary_cache.h"

#include "ops/indexing.h"

namespace khub {

void RotaryKVCacheLayer::reference_forward(Tensor& q, Tensor& k, const Tensor& v, const Tensor& cos,
                                           const Tensor& sin, const Tensor& rows, Tensor& k_cache,
                                           Tensor& v_cache) const {
  if (q_norm != nullptr) {
    q = q_norm->forward(q);
    k = k_norm->forward(k);
  }
  rotary->forward(q, k, cos, sin);
  ops::kv_append(k_cache, v_cache, k, v, rows);
}

}  // namespace khub
