// Fits the polynomial used by the CPU GeluAndMul kernels (kernels/common/khub_cpu/vec_math.h):
//   erfc(z) = t * exp(-z*z) * P(s),  t = 1 / (1 + p*z),  s = 2*(t - t0)/(1 - t0) - 1 in [-1, 1]
// over z in [0, zmax], with P a polynomial of degree n fitted by least squares on Chebyshev nodes
// in s, weighted for relative error. Long double throughout; prints the coefficients and the
// measured maximum relative error of the float evaluation against erfcl().
// Build: g++ -O2 -std=c++20 dev/fit_erfcx.cc -o /tmp/fit_erfcx && /tmp/fit_erfcx 0.5 10 11
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

using ld = long double;

// erfcx(z) = exp(z^2) erfc(z); erfcl underflows for large z, so use the asymptotic series there.
static ld erfcx(ld z) {
  if (z < 25) return std::exp(z * z) * std::erfc(z);
  ld inv = 1 / (2 * z * z), term = 1, sum = 1;
  for (int k = 1; k < 12; ++k) {
    term *= -(2 * k - 1) * inv;
    sum += term;
  }
  return sum / (z * std::sqrt(acosl(-1)));
}

int main(int argc, char** argv) {
  ld p = argc > 1 ? std::strtold(argv[1], nullptr) : 0.5L;
  ld zmax = argc > 2 ? std::strtold(argv[2], nullptr) : 10;
  int n = argc > 3 ? std::atoi(argv[3]) : 10;
  ld t0 = 1 / (1 + p * zmax);
  int m = 400;
  std::vector<std::vector<ld>> a(m, std::vector<ld>(n + 1));
  std::vector<ld> b(m);
  for (int i = 0; i < m; ++i) {
    ld s = std::cos(acosl(-1) * (i + 0.5L) / m);
    ld t = t0 + (s + 1) * (1 - t0) / 2;
    ld z = (1 / t - 1) / p;
    ld f = erfcx(z) / t;
    ld w = 1 / f;  // relative error
    ld sk = 1;
    for (int k = 0; k <= n; ++k, sk *= s) a[i][k] = sk * w;
    b[i] = f * w;
  }
  // Householder QR least squares.
  for (int k = 0; k <= n; ++k) {
    ld norm = 0;
    for (int i = k; i < m; ++i) norm += a[i][k] * a[i][k];
    norm = std::sqrt(norm);
    if (a[k][k] > 0) norm = -norm;
    std::vector<ld> v(m, 0);
    for (int i = k; i < m; ++i) v[i] = a[i][k];
    v[k] -= norm;
    ld vv = 0;
    for (int i = k; i < m; ++i) vv += v[i] * v[i];
    for (int j = k; j <= n; ++j) {
      ld d = 0;
      for (int i = k; i < m; ++i) d += v[i] * a[i][j];
      for (int i = k; i < m; ++i) a[i][j] -= 2 * d / vv * v[i];
    }
    ld d = 0;
    for (int i = k; i < m; ++i) d += v[i] * b[i];
    for (int i = k; i < m; ++i) b[i] -= 2 * d / vv * v[i];
  }
  std::vector<ld> c(n + 1);
  for (int k = n; k >= 0; --k) {
    ld s = b[k];
    for (int j = k + 1; j <= n; ++j) s -= a[k][j] * c[j];
    c[k] = s / a[k][k];
  }
  // Evaluate in float, the way the kernel does.
  float cf[32];
  for (int k = 0; k <= n; ++k) cf[k] = static_cast<float>(c[k]);
  float pf = static_cast<float>(p), t0f = static_cast<float>(t0);
  float scale = 2 / (1 - t0f);
  double worst = 0, worst_z = 0;
  for (int i = 0; i <= 200000; ++i) {
    float z = static_cast<float>(zmax) * i / 200000;
    float t = 1.0f / (1.0f + pf * z);
    float s = (t - t0f) * scale - 1.0f;
    float poly = cf[n];
    for (int k = n - 1; k >= 0; --k) poly = poly * s + cf[k];
    ld approx = static_cast<ld>(t) * poly;  // erfcx
    ld exact = erfcx(static_cast<ld>(z));
    double rel = static_cast<double>(std::fabs(approx / exact - 1));
    if (rel > worst) worst = rel, worst_z = z;
  }
  std::printf("p=%Lg zmax=%Lg degree=%d t0=%.9g max rel err (float eval of erfcx) %.3g at z=%g\n",
              p, zmax, n, static_cast<double>(t0), worst, worst_z);
  for (int k = 0; k <= n; ++k) std::printf("  c%d = %.9ef\n", k, static_cast<double>(c[k]));
}
