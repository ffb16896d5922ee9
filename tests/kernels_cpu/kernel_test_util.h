// Shared machinery of the CPU kernel tests: calling a kernel through its ABI function with
// DLTensors made from khub::Tensor (core/dlpack.h), random strided inputs, NaN-poisoned outputs,
// forcing a SIMD path, and comparing against float64 references with stated tolerances.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "khub/kernel_abi.h"
#include "testutil/scoped_env.h"

namespace khub::kernel_test {

// ---- SIMD paths ----------------------------------------------------------------------------

// Every path the kernels have; tests run each one by setting KHUB_CPU_ISA.
const std::vector<std::string>& all_isas();
// True when this CPU can run `isa` (kernels/common/khub_cpu/isa.h decides, as the kernel does).
bool isa_available(const std::string& isa);

using khub::testing::ScopedEnv;  // sets an environment variable for the lifetime of the object

// Sets KHUB_CPU_ISA for the lifetime of the object.
class ScopedIsa : public ScopedEnv {
 public:
  explicit ScopedIsa(const std::string& isa) : ScopedEnv("KHUB_CPU_ISA", isa) {}
};

// Runs fn() with streaming (non-temporal) output stores forced on and then off
// (KHUB_CPU_STREAM_MIN_BYTES = 0 / huge); fn returns the outputs, which must be bitwise equal.
void expect_streaming_matches(const std::function<std::vector<double>()>& fn);

// ---- random inputs -------------------------------------------------------------------------

// The seed of this test run: KHUB_TEST_SEED if set, else fresh from std::random_device. Printed
// once so a failure can be replayed.
uint64_t test_seed();
std::mt19937_64& rng();

// How a test tensor is laid out in memory (all with the same logical shape).
enum class Layout {
  kContiguous,
  kRowPadded,     // rows further apart than the row length (a slice of a wider tensor)
  kTransposed,    // leading dims in swapped order in memory (needs >= 2 leading dims, else padded)
  kInnerStrided,  // stride 2 in the last dim
};
const char* layout_name(Layout layout);

// A tensor view plus the buffer it lives in (so tests can see writes outside the view).
struct TestTensor {
  Tensor view;
  Tensor base;  // 1-D, covers the view; elements outside the view are gaps
};

// Allocates `shape` with `layout`; the whole buffer is filled with NaN.
TestTensor make_tensor(const Shape& shape, DType dtype, Layout layout);
// Fills the view with N(mean, stddev) values, rounded to the dtype.
void fill_normal(const Tensor& t, double mean = 0.0, double stddev = 1.0);
// Fills row r (last dim) with N(0, 1) times a per-row scale 10^U(-lo, hi).
void fill_rows_scaled(const Tensor& t, double log10_lo, double log10_hi);
void fill_uniform(const Tensor& t, double lo, double hi);
// The view's elements in row-major order, as doubles (exact for f32/bf16/f16).
std::vector<double> values(const Tensor& t);
// Elements of the base buffer that are not NaN: equals view.numel() after a kernel wrote every
// element of the view (with finite values) and nothing else.
int64_t count_written(const TestTensor& t);

// ---- calling a kernel ----------------------------------------------------------------------

class KernelCall {
 public:
  KernelCall();
  KernelCall& tensor(const Tensor& t);
  // A raw DLTensor (for bad-input tests); its shape/strides must outlive run().
  KernelCall& raw(const DLTensor& t);
  KernelCall& attr_float(const char* name, double v);
  KernelCall& attr_int(const char* name, int64_t v);
  KernelCall& attr_bool(const char* name, bool v);
  KernelCall& threads(int n);
  // Workspace of exactly `bytes` instead of what the query asks for.
  KernelCall& workspace_override(uint64_t bytes);

  // Queries `workspace` (if any), allocates it, calls fn. message() holds the kernel's error text.
  khub_status run(khub_kernel_fn fn, khub_workspace_fn workspace = nullptr);
  const std::string& message() const { return message_; }
  uint64_t workspace_bytes() const { return workspace_bytes_; }

 private:
  std::deque<Tensor> tensors_;
  std::vector<DLTensor> dl_;
  std::deque<std::string> names_;
  std::vector<khub_named_value> attrs_;
  khub_exec_context context_{};
  std::vector<float> workspace_;
  bool override_workspace_ = false;
  uint64_t override_bytes_ = 0;
  uint64_t workspace_bytes_ = 0;
  std::string message_;
};

// The manifest entry of function `name` (fails the test when absent).
const khub_function_desc* find_function(const khub_manifest* manifest, const char* name);

// ---- comparing -----------------------------------------------------------------------------

// |got - ref| <= atol + rtol * |ref| + stol * scale, per element. `scale` is the sum of the
// magnitudes of the terms that make up ref (its condition): it bounds the f32 computation's error
// where terms cancel. An empty `scale` means scale = |ref|.
struct Tolerance {
  double rtol;  // rounding of the result to the output dtype
  double stol;  // f32 arithmetic, relative to the terms' magnitudes
  double atol;  // the dtype's smallest magnitudes (f16 subnormals)
};
// The tolerance of each dtype for one rounding of an f32 result (see tests/kernels_cpu/README.md).
Tolerance tolerance_for(DType dtype, double rounding_steps = 1.0);

::testing::AssertionResult all_close(const char* what, const Tensor& got,
                                     const std::vector<double>& ref,
                                     const std::vector<double>& scale, const Tolerance& tol);

// Rounds v to dtype the way an f32 computation stored to that dtype does: to f32 first (f64 is
// left alone, so f64 means "no rounding" in references).
double round_to_dtype(double v, DType dtype);

}  // namespace khub::kernel_test
