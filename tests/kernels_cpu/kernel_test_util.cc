#include "kernel_test_util.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "core/dlpack.h"
#include "khub_cpu/isa.h"

namespace khub::kernel_test {

const std::vector<std::string>& all_isas() {
  static const std::vector<std::string> isas = {"scalar", "avx2", "avx512", "avx512bf16"};
  return isas;
}

bool isa_available(const std::string& isa) {
  int best = static_cast<int>(khub_cpu::cpu_isa_best());
  int wanted = isa == "scalar" ? 0 : isa == "avx2" ? 1 : isa == "avx512" ? 2 : 3;
  return wanted <= best;
}

void expect_streaming_matches(const std::function<std::vector<double>()>& fn) {
  std::vector<double> streamed, plain;
  {
    ScopedEnv on("KHUB_CPU_STREAM_MIN_BYTES", "0");
    streamed = fn();
  }
  {
    ScopedEnv off("KHUB_CPU_STREAM_MIN_BYTES", "1000000000000");
    plain = fn();
  }
  ASSERT_EQ(streamed.size(), plain.size());
  size_t differ = 0;
  for (size_t i = 0; i < plain.size(); ++i)
    differ += !(streamed[i] == plain[i] || (std::isnan(streamed[i]) && std::isnan(plain[i])));
  EXPECT_EQ(differ, 0u) << "streaming stores changed " << differ << " of " << plain.size()
                        << " output elements";
  for (double v : streamed)
    ASSERT_FALSE(std::isnan(v)) << "streaming stores left an element unwritten";
}

uint64_t test_seed() {
  static const uint64_t seed = [] {
    uint64_t s;
    if (const char* env = std::getenv("KHUB_TEST_SEED")) {
      s = std::strtoull(env, nullptr, 10);
    } else {
      std::random_device rd;
      s = (static_cast<uint64_t>(rd()) << 32) ^ rd();
    }
    std::printf("[kernel tests] random seed %llu (replay with KHUB_TEST_SEED=%llu)\n",
                static_cast<unsigned long long>(s), static_cast<unsigned long long>(s));
    return s;
  }();
  return seed;
}

std::mt19937_64& rng() {
  static std::mt19937_64 gen(test_seed());
  return gen;
}

const char* layout_name(Layout layout) {
  switch (layout) {
    case Layout::kContiguous:
      return "contiguous";
    case Layout::kRowPadded:
      return "row-padded";
    case Layout::kTransposed:
      return "transposed";
    case Layout::kInnerStrided:
      return "inner-strided";
  }
  return "?";
}

TestTensor make_tensor(const Shape& shape, DType dtype, Layout layout) {
  const size_t nd = shape.size();
  if (nd < 2 && layout == Layout::kTransposed) layout = Layout::kRowPadded;
  if (nd < 3 && layout == Layout::kTransposed) layout = Layout::kRowPadded;
  if (nd < 2 && layout == Layout::kRowPadded) layout = Layout::kContiguous;
  // One extra leading slice is allocated and sliced off, so views start at a non-zero
  // byte_offset, and the buffer has gaps before and after the view.
  Shape phys = shape;
  if (nd > 0) phys[0] += 1;
  Shape strides;
  switch (layout) {
    case Layout::kContiguous:
      strides = contiguous_strides(phys);
      break;
    case Layout::kRowPadded: {
      Shape padded = phys;
      padded[nd - 1] += 3;
      strides = contiguous_strides(padded);
      break;
    }
    case Layout::kTransposed: {
      Shape swapped = phys;
      std::swap(swapped[0], swapped[1]);
      strides = contiguous_strides(swapped);
      std::swap(strides[0], strides[1]);
      break;
    }
    case Layout::kInnerStrided: {
      Shape wide = phys;
      wide[nd - 1] *= 2;
      strides = contiguous_strides(wide);
      strides[nd - 1] = 2;
      break;
    }
  }
  int64_t span = 1;
  for (size_t d = 0; d < nd; ++d)
    if (phys[d] > 0) span += (phys[d] - 1) * strides[d];
  TestTensor t;
  t.base = Tensor::empty({span + 4}, dtype);
  t.base.fill(std::nan(""));
  Tensor full =
      Tensor::from_blob(t.base.data(), phys, dtype, Device::cpu(), t.base.storage(), strides);
  t.view = nd > 0 ? full.slice(0, 1, phys[0]) : full;
  return t;
}

void fill_normal(const Tensor& t, double mean, double stddev) {
  std::normal_distribution<double> dist(mean, stddev);
  std::vector<float> v(t.numel());
  for (float& x : v) x = static_cast<float>(dist(rng()));
  Tensor src = Tensor::from_vector(v, t.shape(), DType::kF32);
  Tensor dst = t;
  dst.copy_from(src);
}

void fill_rows_scaled(const Tensor& t, double log10_lo, double log10_hi) {
  std::normal_distribution<double> dist(0.0, 1.0);
  std::uniform_real_distribution<double> exponent(log10_lo, log10_hi);
  const int64_t n = t.dim() > 0 ? t.size(-1) : 1;
  std::vector<float> v(t.numel());
  double scale = 1;
  for (size_t i = 0; i < v.size(); ++i) {
    if (i % n == 0) scale = std::pow(10.0, exponent(rng()));
    v[i] = static_cast<float>(dist(rng()) * scale);
  }
  Tensor src = Tensor::from_vector(v, t.shape(), DType::kF32);
  Tensor dst = t;
  dst.copy_from(src);
}

void fill_uniform(const Tensor& t, double lo, double hi) {
  std::uniform_real_distribution<double> dist(lo, hi);
  std::vector<float> v(t.numel());
  for (float& x : v) x = static_cast<float>(dist(rng()));
  Tensor src = Tensor::from_vector(v, t.shape(), DType::kF32);
  Tensor dst = t;
  dst.copy_from(src);
}

std::vector<double> values(const Tensor& t) {
  std::vector<float> f = t.to_float_vector();
  return std::vector<double>(f.begin(), f.end());
}

int64_t count_written(const TestTensor& t) {
  int64_t n = 0;
  for (float v : t.base.to_float_vector()) n += !std::isnan(v);
  return n;
}

KernelCall::KernelCall() {
  context_.struct_version = 1;
  context_.device = {kDLCPU, 0};
}

KernelCall& KernelCall::tensor(const Tensor& t) {
  tensors_.push_back(t);
  dl_.push_back(to_dltensor(tensors_.back()));
  return *this;
}

KernelCall& KernelCall::raw(const DLTensor& t) {
  dl_.push_back(t);
  return *this;
}

KernelCall& KernelCall::attr_float(const char* name, double v) {
  names_.emplace_back(name);
  khub_named_value nv{names_.back().c_str(), {}};
  nv.value.kind = KHUB_VALUE_FLOAT;
  nv.value.v.f = v;
  attrs_.push_back(nv);
  return *this;
}

KernelCall& KernelCall::attr_int(const char* name, int64_t v) {
  names_.emplace_back(name);
  khub_named_value nv{names_.back().c_str(), {}};
  nv.value.kind = KHUB_VALUE_INT;
  nv.value.v.i = v;
  attrs_.push_back(nv);
  return *this;
}

KernelCall& KernelCall::attr_bool(const char* name, bool v) {
  names_.emplace_back(name);
  khub_named_value nv{names_.back().c_str(), {}};
  nv.value.kind = KHUB_VALUE_BOOL;
  nv.value.v.i = v ? 1 : 0;
  attrs_.push_back(nv);
  return *this;
}

KernelCall& KernelCall::threads(int n) {
  context_.num_threads = n;
  return *this;
}

KernelCall& KernelCall::workspace_override(uint64_t bytes) {
  override_workspace_ = true;
  override_bytes_ = bytes;
  return *this;
}

khub_status KernelCall::run(khub_kernel_fn fn, khub_workspace_fn workspace) {
  khub_call call{};
  call.struct_version = 1;
  call.context = &context_;
  call.num_tensors = static_cast<int32_t>(dl_.size());
  call.tensors = dl_.data();
  call.num_attrs = static_cast<int32_t>(attrs_.size());
  call.attrs = attrs_.data();
  context_.workspace = nullptr;
  context_.workspace_bytes = 0;
  workspace_bytes_ = workspace != nullptr ? workspace(&call) : 0;
  uint64_t bytes = override_workspace_ ? override_bytes_ : workspace_bytes_;
  if (bytes > 0) {
    workspace_.assign((bytes + 3) / 4, std::nanf(""));
    context_.workspace = workspace_.data();
    context_.workspace_bytes = bytes;
  }
  khub_error error{};
  error.struct_version = 1;
  khub_status status = fn(&call, &error);
  message_ = status == KHUB_STATUS_OK ? "" : error.message;
  return status;
}

const khub_function_desc* find_function(const khub_manifest* manifest, const char* name) {
  for (int i = 0; i < manifest->num_functions; ++i)
    if (std::strcmp(manifest->functions[i].name, name) == 0) return &manifest->functions[i];
  ADD_FAILURE() << "manifest has no function " << name;
  return nullptr;
}

Tolerance tolerance_for(DType dtype, double rounding_steps) {
  // f32 arithmetic error, relative to the magnitudes of the summed terms (rows up to ~4k).
  const double f32_slop = 1e-5;
  switch (dtype) {
    case DType::kF32:
      return {rounding_steps * std::ldexp(1.0, -24) + 1e-6, 4e-6, 1e-37};
    case DType::kBF16:
      return {rounding_steps * std::ldexp(1.0, -8) * 1.05 + 2e-6, f32_slop, 1e-37};
    case DType::kF16:
      // Below 2^-14 (subnormals) f16 values are spaced 2^-24 apart: one spacing per rounding.
      return {rounding_steps * std::ldexp(1.0, -11) * 1.05 + 2e-6, f32_slop,
              rounding_steps * std::ldexp(1.0, -24)};
    default:
      ADD_FAILURE() << "no tolerance for " << dtype_name(dtype);
      return {0, 0, 0};
  }
}

::testing::AssertionResult all_close(const char* what, const Tensor& got,
                                     const std::vector<double>& ref,
                                     const std::vector<double>& scale, const Tolerance& tol) {
  std::vector<double> g = values(got);
  if (g.size() != ref.size())
    return ::testing::AssertionFailure()
           << what << ": " << g.size() << " elements, reference has " << ref.size();
  int64_t bad = 0;
  double worst = 0;
  std::string detail;
  for (size_t i = 0; i < g.size(); ++i) {
    double s = scale.empty() ? std::fabs(ref[i]) : scale[i];
    double bound = tol.atol + tol.rtol * std::fabs(ref[i]) + tol.stol * s;
    double err = std::fabs(g[i] - ref[i]);
    bool ok = err <= bound;  // false for NaN (an unwritten, poisoned element)
    if (ok) {
      worst = std::max(worst, bound > 0 ? err / bound : 0.0);
      continue;
    }
    if (bad++ < 5) {
      char line[200];
      std::snprintf(line, sizeof(line),
                    "\n  [%zu] got %.9g, expected %.9g (error %.3g > bound %.3g)", i, g[i], ref[i],
                    err, bound);
      detail += line;
    }
  }
  if (std::getenv("KHUB_TEST_REPORT_ERRORS"))
    std::printf("[error/bound] %-60s %.3f\n", what, worst);
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << what << ": " << bad << " of " << g.size() << " elements outside tolerance (rtol "
         << tol.rtol << ", stol " << tol.stol << ", atol " << tol.atol << ")" << detail;
}

double round_to_dtype(double v, DType dtype) {
  float f = static_cast<float>(v);
  switch (dtype) {
    case DType::kBF16:
      return bf16_to_f32(f32_to_bf16(f));
    case DType::kF16:
      return f16_to_f32(f32_to_f16(f));
    case DType::kF64:
      return v;
    default:
      return f;
  }
}

}  // namespace khub::kernel_test
