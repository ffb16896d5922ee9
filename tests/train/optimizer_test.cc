// AdamW and SGD against the update rules of torch.optim written out in float64 here; the f32
// results must agree to float rounding after several steps. State round trips must continue
// bit-identically.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/error.h"
#include "train/optimizer.h"

namespace khub {
namespace {

Parameter make_param(std::string name, Shape shape, double offset) {
  const int64_t n = shape_numel(shape);
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[i] = static_cast<float>(std::sin(0.37 * i + offset));
  return {std::move(name), Tensor::from_vector(v, shape, DType::kF32),
          Tensor::zeros(shape, DType::kF32)};
}

std::vector<Parameter> make_params() {
  return {make_param("w", {3, 4}, 0.1), make_param("b", {5}, 1.3)};
}

// Deterministic grads of magnitude ~0.1..1 (eps negligible), different every step.
void fill_grads(std::vector<Parameter>& params, int step) {
  for (size_t k = 0; k < params.size(); ++k) {
    float* g = params[k].grad.data_as<float>();
    for (int64_t i = 0; i < params[k].grad.numel(); ++i)
      g[i] = static_cast<float>(0.8 * std::cos(1.7 * i + 0.9 * step + static_cast<double>(k)) +
                                (i % 2 ? 0.15 : -0.2));
  }
}

std::vector<std::vector<double>> values_of(const std::vector<Parameter>& params) {
  std::vector<std::vector<double>> out;
  for (const Parameter& p : params) {
    std::vector<double> v;
    for (int64_t i = 0; i < p.value.numel(); ++i) v.push_back(p.value.data_as<float>()[i]);
    out.push_back(v);
  }
  return out;
}

void expect_close(const std::vector<Parameter>& params, const std::vector<std::vector<double>>& ref,
                  double rel) {
  for (size_t k = 0; k < params.size(); ++k)
    for (int64_t i = 0; i < params[k].value.numel(); ++i) {
      double got = params[k].value.data_as<float>()[i], want = ref[k][i];
      EXPECT_NEAR(got, want, rel * std::max(1.0, std::fabs(want)))
          << params[k].name << "[" << i << "]";
    }
}

// torch.optim.AdamW in float64.
struct AdamWRef {
  AdamWOptions o;
  std::vector<std::vector<double>> p, m, v;
  int t = 0;
  void step(const std::vector<Parameter>& params) {
    ++t;
    for (size_t k = 0; k < p.size(); ++k)
      for (size_t i = 0; i < p[k].size(); ++i) {
        double g = params[k].grad.data_as<float>()[i];
        p[k][i] *= 1 - o.lr * o.weight_decay;
        m[k][i] = o.beta1 * m[k][i] + (1 - o.beta1) * g;
        v[k][i] = o.beta2 * v[k][i] + (1 - o.beta2) * g * g;
        double bc1 = 1 - std::pow(o.beta1, t), bc2 = 1 - std::pow(o.beta2, t);
        double denom = std::sqrt(v[k][i]) / std::sqrt(bc2) + o.eps;
        p[k][i] -= (o.lr / bc1) * m[k][i] / denom;
      }
  }
};

struct SGDRef {
  SGDOptions o;
  std::vector<std::vector<double>> p, buf;
  int t = 0;
  void step(const std::vector<Parameter>& params) {
    ++t;
    for (size_t k = 0; k < p.size(); ++k)
      for (size_t i = 0; i < p[k].size(); ++i) {
        double g = params[k].grad.data_as<float>()[i] + o.weight_decay * p[k][i];
        if (o.momentum != 0) {
          buf[k][i] = t == 1 ? g : o.momentum * buf[k][i] + (1 - o.dampening) * g;
          g = o.nesterov ? g + o.momentum * buf[k][i] : buf[k][i];
        }
        p[k][i] -= o.lr * g;
      }
  }
};

std::vector<std::vector<double>> zeros_like(const std::vector<std::vector<double>>& x) {
  auto z = x;
  for (auto& r : z) std::fill(r.begin(), r.end(), 0.0);
  return z;
}

void run_adamw(const AdamWOptions& o) {
  auto params = make_params();
  AdamW opt(params, o);
  AdamWRef ref{o, values_of(params), {}, {}};
  ref.m = ref.v = zeros_like(ref.p);
  for (int s = 0; s < 5; ++s) {
    fill_grads(params, s);
    opt.step();
    ref.step(params);
    expect_close(params, ref.p, 1e-6);
  }
  EXPECT_EQ(opt.step_count(), 5);
}

TEST(AdamW, MatchesFloat64Reference) {
  run_adamw({});  // torch's defaults
  run_adamw({.lr = 3e-2, .beta1 = 0.8, .beta2 = 0.95, .eps = 1e-6, .weight_decay = 0.1});
  run_adamw({.lr = 1e-2, .weight_decay = 0.0});
}

TEST(AdamW, FirstStepMovesEachWeightByLr) {
  // At t = 1 the bias corrections cancel: p1 = p0·(1 - lr·wd) - lr·g/(|g| + eps).
  auto params = make_params();
  auto before = values_of(params);
  AdamW opt(params, {.lr = 0.01, .weight_decay = 0.5});
  fill_grads(params, 0);
  opt.step();
  for (size_t k = 0; k < params.size(); ++k)
    for (int64_t i = 0; i < params[k].value.numel(); ++i) {
      double g = params[k].grad.data_as<float>()[i];
      double want = before[k][i] * (1 - 0.01 * 0.5) - 0.01 * g / (std::fabs(g) + 1e-8);
      EXPECT_NEAR(params[k].value.data_as<float>()[i], want, 1e-6);
    }
}

void run_sgd(const SGDOptions& o) {
  auto params = make_params();
  SGD opt(params, o);
  SGDRef ref{o, values_of(params), {}};
  ref.buf = zeros_like(ref.p);
  for (int s = 0; s < 5; ++s) {
    fill_grads(params, s);
    opt.step();
    ref.step(params);
    expect_close(params, ref.p, 1e-6);
  }
  EXPECT_EQ(opt.state().size(), o.momentum != 0 ? params.size() : 0u);
}

TEST(SGD, MatchesFloat64Reference) {
  run_sgd({.lr = 0.1});
  run_sgd({.lr = 0.05, .weight_decay = 0.01});
  run_sgd({.lr = 0.05, .momentum = 0.9, .dampening = 0.1, .weight_decay = 0.02});
  run_sgd({.lr = 0.05, .momentum = 0.9, .weight_decay = 0.01, .nesterov = true});
}

TEST(SGD, FirstMomentumBufferIsTheGradient) {
  auto params = make_params();
  SGD opt(params, {.lr = 0.1, .momentum = 0.9, .dampening = 0.5});
  fill_grads(params, 0);
  opt.step();
  Tensor buf = opt.state().at("momentum_buffer.w");
  for (int64_t i = 0; i < buf.numel(); ++i)
    EXPECT_EQ(buf.data_as<float>()[i], params[0].grad.data_as<float>()[i]);  // no dampening yet
}

// Runs 3 steps, copies the state into a fresh optimizer over copies of the weights, then runs 2
// more steps on both: the results must be bit-identical.
void expect_resume_bit_identical(const nlohmann::json& config) {
  auto a = make_params();
  auto opt_a = make_optimizer(config, a);
  for (int s = 0; s < 3; ++s) {
    fill_grads(a, s);
    opt_a->step();
  }
  std::vector<Parameter> b;
  for (const Parameter& p : a) b.push_back({p.name, p.value.clone(), p.grad.clone()});
  auto opt_b = make_optimizer(opt_a->config(), b);
  std::map<std::string, Tensor> state;
  for (const auto& [k, t] : opt_a->state()) state[k] = t.clone();
  opt_b->load_state(state, opt_a->step_count());
  EXPECT_EQ(opt_b->step_count(), 3);
  for (int s = 3; s < 5; ++s) {
    fill_grads(a, s);
    fill_grads(b, s);
    opt_a->step();
    opt_b->step();
  }
  for (size_t k = 0; k < a.size(); ++k)
    for (int64_t i = 0; i < a[k].value.numel(); ++i)
      ASSERT_EQ(a[k].value.data_as<float>()[i], b[k].value.data_as<float>()[i]) << config.dump();
}

TEST(Optimizer, StateRoundTripContinuesBitIdentically) {
  expect_resume_bit_identical({{"type", "adamw"}, {"lr", 0.01}, {"weight_decay", 0.1}});
  expect_resume_bit_identical({{"type", "sgd"}, {"lr", 0.05}, {"momentum", 0.9}});
  expect_resume_bit_identical(
      {{"type", "sgd"}, {"lr", 0.05}, {"momentum", 0.9}, {"nesterov", true}});
  expect_resume_bit_identical({{"type", "sgd"}, {"lr", 0.05}});
}

TEST(Optimizer, StateNamesFollowTheParameters) {
  auto params = make_params();
  AdamW opt(params);
  EXPECT_TRUE(opt.state().empty());  // lazily created, as in torch
  fill_grads(params, 0);
  opt.step();
  std::vector<std::string> names;
  for (const auto& [k, t] : opt.state()) names.push_back(k);
  EXPECT_EQ(names,
            (std::vector<std::string>{"exp_avg.b", "exp_avg.w", "exp_avg_sq.b", "exp_avg_sq.w"}));
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no error";
  return "";
}

TEST(Optimizer, LoadStateRejectsMismatches) {
  auto params = make_params();
  AdamW opt(params);
  fill_grads(params, 0);
  opt.step();
  const auto good = opt.state();
  auto missing = good;
  missing.erase("exp_avg.w");
  EXPECT_NE(error_of([&] { opt.load_state(missing, 1); }).find("'exp_avg.w' is missing"),
            std::string::npos);
  auto wrong_shape = good;
  wrong_shape["exp_avg.b"] = Tensor::zeros({4}, DType::kF32);
  EXPECT_NE(error_of([&] { opt.load_state(wrong_shape, 1); }).find("exp_avg.b"), std::string::npos);
  auto extra = good;
  extra["exp_avg.nope"] = Tensor::zeros({1}, DType::kF32);
  EXPECT_NE(error_of([&] { opt.load_state(extra, 1); }).find("exp_avg.nope"), std::string::npos);
  EXPECT_NE(error_of([&] { opt.load_state(good, 0); }).find("step 0"), std::string::npos);
  EXPECT_EQ(opt.step_count(), 1);  // nothing changed by the failed loads
}

TEST(Optimizer, RejectsBadParametersAndHyperParameters) {
  EXPECT_NE(error_of([] { AdamW({}); }).find("no parameters"), std::string::npos);
  auto dup = make_params();
  dup[1].name = "w";
  EXPECT_NE(error_of([&] { AdamW a(dup); }).find("'w' appears twice"), std::string::npos);
  auto bad_grad = make_params();
  bad_grad[0].grad = Tensor::zeros({12}, DType::kF32);
  EXPECT_NE(error_of([&] { SGD s(bad_grad); }).find("grad has [12]"), std::string::npos);
  auto bf16 = make_params();
  bf16[0].value = bf16[0].value.to(DType::kBF16);
  EXPECT_THROW(AdamW a(bf16), Error);
  EXPECT_NE(error_of([] { AdamW a(make_params(), {.beta1 = 1.0}); }).find("beta1"),
            std::string::npos);
  EXPECT_NE(error_of([] { SGD s(make_params(), {.nesterov = true}); }).find("nesterov"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              make_optimizer({{"type", "lion"}}, make_params());
            }).find("'lion'"),
            std::string::npos);
  AdamW a(make_params());
  EXPECT_NE(error_of([&] { a.set_lr(-1); }).find("lr = -1"), std::string::npos);
}

TEST(Optimizer, ZeroGradAndConfig) {
  auto params = make_params();
  AdamW opt(params, {.lr = 0.02});
  fill_grads(params, 0);
  opt.zero_grad();
  for (const Parameter& p : params)
    for (int64_t i = 0; i < p.grad.numel(); ++i) EXPECT_EQ(p.grad.data_as<float>()[i], 0.0f);
  opt.set_lr(0.5);
  nlohmann::json c = opt.config();
  EXPECT_EQ(c["type"], "adamw");
  EXPECT_EQ(c["lr"], 0.5);
  EXPECT_EQ(c["betas"][1], 0.999);
  EXPECT_EQ(c["weight_decay"], 0.01);  // torch's AdamW default
  auto again = make_optimizer(c, make_params());
  EXPECT_EQ(again->config(), c);
}

}  // namespace
}  // namespace khub
