// libFuzzer target: arbitrary bytes as a safetensors file image, and as JSON text.
//
// The parser must either accept the bytes or throw Error(kFormat / kUnsupported); anything else
// (another exception kind, a crash, an out-of-bounds read caught by ASan, UB caught by UBSan) is
// a bug. Accepted images are walked byte by byte over every tensor's range, so a validation hole
// that lets an offset point outside the buffer shows up as an ASan report.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/error.h"
#include "io/json_file.h"
#include "io/safetensors_header.h"

namespace {

void expect_input_error(const khub::Error& e) {
  if (e.kind() != khub::ErrorKind::kFormat && e.kind() != khub::ErrorKind::kUnsupported) {
    std::abort();  // an internal check or a wrong error kind on bad input
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    khub::SafetensorsHeader h = khub::parse_safetensors_image(data, size, "fuzz.safetensors");
    unsigned sum = 0;
    for (const khub::SafetensorsTensorInfo& t : h.tensors) {
      const uint8_t* begin = data + h.data_offset() + t.data_begin;
      for (uint64_t i = 0; i < t.nbytes(); ++i) sum += begin[i];
      if (h.find(t.name) != &t) std::abort();
      if (t.nbytes() !=
          static_cast<uint64_t>(khub::shape_numel(t.shape)) * khub::dtype_size(t.dtype)) {
        std::abort();
      }
    }
    if (h.data_offset() + h.data_size != size) std::abort();
    volatile unsigned sink = sum;
    (void)sink;
  } catch (const khub::Error& e) {
    expect_input_error(e);
  }
  try {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    (void)khub::parse_json(text, "fuzz.json", {.max_depth = 64});
  } catch (const khub::Error& e) {
    expect_input_error(e);
  }
  return 0;
}
