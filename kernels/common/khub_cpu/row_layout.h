// Where the rows of a [..., N] tensor live: the leading dims flattened into "rows" without copying,
// whatever their strides (transposed, sliced or broadcast views), plus the stride of the last dim.
#ifndef KHUB_CPU_ROW_LAYOUT_H_
#define KHUB_CPU_ROW_LAYOUT_H_

#include <cstdint>

namespace khub_cpu {

struct RowLayout {
  static constexpr int kMaxDims = 8;  // leading dims after merging mergeable neighbours

  int64_t rows = 1;
  int ndim = 0;  // leading dims kept; 0 means a single row
  int64_t sizes[kMaxDims] = {};
  int64_t strides[kMaxDims] = {};  // elements
  int64_t inner_stride = 1;        // elements between neighbours within a row

  // Element offset of row r's first element.
  int64_t offset(int64_t r) const {
    if (ndim == 1) return r * strides[0];
    int64_t off = 0;
    for (int d = ndim - 1; d >= 0 && r != 0; --d) {
      off += (r % sizes[d]) * strides[d];
      r /= sizes[d];
    }
    return off;
  }
};

}  // namespace khub_cpu

#endif  // KHUB_CPU_ROW_LAYOUT_H_
