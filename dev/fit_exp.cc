// Fits the polynomial of vexp (kernels/common/khub_cpu/vec_math.h): e^r ~ P(r) of degree n on
// |r| <= ln2/2, least squares on Chebyshev nodes weighted for relative error (near-minimax), with
// P(0) = 1 fixed. Long double throughout; prints the coefficients and the maximum relative error
// of the float Horner evaluation (with fma) against expl().
// Build: g++ -O2 -std=c++20 dev/fit_exp.cc -o /tmp/fit_exp && /tmp/fit_exp 6
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

using ld = long double;

int main(int argc, char** argv) {
  int n = argc > 1 ? std::atoi(argv[1]) : 6;
  const ld half = logl(2.0L) / 2;
  const int m = 300;
  // Unknowns c1..cn; P(r) = 1 + sum c_k r^k, fit (e^r - 1) / e^r ~ sum c_k r^k / e^r.
  std::vector<std::vector<ld>> a(m, std::vector<ld>(n));
  std::vector<ld> b(m);
  for (int i = 0; i < m; ++i) {
    ld r = half * cosl(acosl(-1.0L) * (i + 0.5L) / m);
    ld w = 1 / expl(r);
    ld rk = r;
    for (int k = 0; k < n; ++k, rk *= r) a[i][k] = rk * w;
    b[i] = (expl(r) - 1) * w;
  }
  // Normal equations (n <= 8, well scaled on this interval), solved by Gaussian elimination.
  std::vector<std::vector<ld>> ata(n, std::vector<ld>(n + 1, 0));
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      for (int k = 0; k < n; ++k) ata[j][k] += a[i][j] * a[i][k];
      ata[j][n] += a[i][j] * b[i];
    }
  for (int c = 0; c < n; ++c)
    for (int r = c + 1; r < n; ++r) {
      ld f = ata[r][c] / ata[c][c];
      for (int k = c; k <= n; ++k) ata[r][k] -= f * ata[c][k];
    }
  std::vector<ld> coef(n);
  for (int r = n - 1; r >= 0; --r) {
    ld s = ata[r][n];
    for (int k = r + 1; k < n; ++k) s -= ata[r][k] * coef[k];
    coef[r] = s / ata[r][r];
  }
  std::vector<float> cf(n + 1);
  cf[0] = 1.0f;
  for (int k = 0; k < n; ++k) cf[k + 1] = static_cast<float>(coef[k]);
  double worst = 0;
  for (int i = -100000; i <= 100000; ++i) {
    float r = static_cast<float>(half * i / 100000);
    float p = cf[n];
    for (int k = n - 1; k >= 0; --k) p = std::fma(p, r, cf[k]);
    double rel = std::fabs(static_cast<double>(p / expl(r) - 1));
    if (rel > worst) worst = rel;
  }
  std::printf("degree %d, max relative error of the float evaluation %.3g\n", n, worst);
  for (int k = 0; k <= n; ++k) std::printf("  c%d = %.9ef\n", k, static_cast<double>(cf[k]));
}
