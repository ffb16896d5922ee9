// Gets khub-community/rmsnorm from the hub (resolved, selected for the CPU, verified, loaded) and
// calls its RMSNorm forward on a tensor, then checks the result against RMSNorm computed here in
// double precision: out = x / sqrt(mean(x²) + eps) · weight. Prints the largest difference.
#include <khub/khub.h>

#include <cmath>
#include <cstdio>
#include <vector>

int main() {
  try {
    auto kernel = khub::hub::get_kernel("khub-community/rmsnorm@^1");
    khub::loader::KernelLayer rms = kernel->layer("RMSNorm");
    const int64_t rows = 3, dim = 64;
    const double eps = 1e-6;
    std::vector<float> xs(rows * dim), ws(dim);
    for (int64_t i = 0; i < rows * dim; ++i) xs[i] = std::sin(0.37 * i) * (1 + i % 5);
    for (int64_t j = 0; j < dim; ++j) ws[j] = 0.5f + 0.01f * j;
    khub::Tensor x = khub::Tensor::from_vector(xs, {rows, dim}, khub::DType::kF32);
    khub::Tensor w = khub::Tensor::from_vector(ws, {dim}, khub::DType::kF32);
    khub::Tensor out = khub::Tensor::zeros({rows, dim}, khub::DType::kF32);
    rms.forward({.tensors = {{"x", x}, {"weight", w}, {"out", out}}, .attrs = {{"eps", eps}}});
    const float* o = out.data_as<float>();
    double worst = 0.0;
    for (int64_t r = 0; r < rows; ++r) {
      double ss = 0.0;
      for (int64_t j = 0; j < dim; ++j) ss += double(xs[r * dim + j]) * xs[r * dim + j];
      const double inv = 1.0 / std::sqrt(ss / dim + eps);
      for (int64_t j = 0; j < dim; ++j) {
        worst = std::fmax(worst, std::fabs(o[r * dim + j] - xs[r * dim + j] * inv * ws[j]));
      }
    }
    std::printf("%s: max |kernel - float64 reference| = %.3g\n", kernel->identity().label().c_str(),
                worst);
    return worst < 1e-5 ? 0 : 1;
  } catch (const khub::Error& e) {
    std::fprintf(stderr, "get_kernel: %s\n", e.what());
    return 1;
  }
}
