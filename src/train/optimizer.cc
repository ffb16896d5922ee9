// AdamW and SGD (optimizer.h). The loops follow torch's _single_tensor_adamw / _single_tensor_sgd
// operation by operation: each torch op rounds to f32, so each line below does too (scalars
// arrive in f32, as torch casts Python floats to the tensor's opmath type).
#include "train/optimizer.h"

#include <cmath>
#include <cstring>
#include <set>

#include "core/error.h"
#include "ops/elementwise.h"
#include "ops/optim.h"

namespace khub {
namespace {

float* f32(const Tensor& t) { return t.data_as<float>(); }

// State tensors live beside their parameter (CPU or CUDA).
Tensor zeros_like(const Tensor& t) {
  Tensor z = Tensor::empty(t.shape(), DType::kF32, t.device());
  ops::zero_inplace(z);
  return z;
}

Tensor copy_of(const Tensor& src, const Tensor& like) {
  Tensor out = Tensor::empty(src.shape(), DType::kF32, like.device());
  out.copy_from(src.to(DType::kF32));
  return out;
}

std::vector<Tensor> values(const std::vector<Parameter>& ps) {
  std::vector<Tensor> out;
  for (const Parameter& p : ps) out.push_back(p.value);
  return out;
}

std::vector<Tensor> grads(const std::vector<Parameter>& ps) {
  std::vector<Tensor> out;
  for (const Parameter& p : ps) out.push_back(p.grad);
  return out;
}

void check_hyper(bool ok, const char* optimizer, const char* field, double value,
                 const char* expected) {
  KHUB_CHECK_ARG(ok, optimizer, ": ", field, " = ", value, " is invalid (expected ", expected, ")");
}

}  // namespace

Optimizer::Optimizer(std::vector<Parameter> params, double lr) : params_(std::move(params)) {
  KHUB_CHECK_ARG(!params_.empty(), "optimizer: no parameters to optimize");
  std::set<std::string> names;
  for (const Parameter& p : params_) {
    KHUB_CHECK_ARG(!p.name.empty(), "optimizer: a parameter has an empty name");
    KHUB_CHECK_ARG(names.insert(p.name).second, "optimizer: parameter '", p.name,
                   "' appears twice");
    KHUB_CHECK_ARG(p.value.defined() && p.grad.defined(), "optimizer: parameter '", p.name,
                   "' has no value or no grad tensor");
    if (p.value.dtype() != DType::kF32 || p.grad.dtype() != DType::kF32 ||
        p.value.device() != params_[0].value.device() || p.grad.device() != p.value.device() ||
        !p.value.is_contiguous() || !p.grad.is_contiguous()) {
      fail(ErrorKind::kUnsupported, "optimizer: parameter '", p.name, "' is ", p.value.describe(),
           " with grad ", p.grad.describe(), "; optimizers run on contiguous f32 tensors, all on ",
           "the first parameter's device (", params_[0].value.device().str(), ")");
    }
    KHUB_CHECK_ARG(p.grad.shape() == p.value.shape(), "optimizer: parameter '", p.name,
                   "' has shape ", shape_str(p.value.shape()), " but its grad has ",
                   shape_str(p.grad.shape()));
  }
  set_lr(lr);
}

void Optimizer::set_lr(double lr) {
  KHUB_CHECK_ARG(std::isfinite(lr) && lr >= 0.0, "optimizer: lr = ", lr,
                 " is invalid (expected a finite value >= 0)");
  lr_ = lr;
}

void Optimizer::zero_grad() {
  for (Parameter& p : params_) ops::zero_inplace(p.grad);
}

void Optimizer::check_state(const std::map<std::string, Tensor>& state,
                            const std::vector<std::string>& prefixes) const {
  size_t expected = 0;
  for (const std::string& prefix : prefixes) {
    for (const Parameter& p : params_) {
      std::string key = prefix + p.name;
      auto it = state.find(key);
      KHUB_CHECK_ARG(it != state.end(), name(), " state: '", key, "' is missing");
      const Tensor& t = it->second;
      KHUB_CHECK_ARG(t.defined() && t.dtype() == DType::kF32 && t.shape() == p.value.shape(),
                     name(), " state: '", key, "' is ", t.defined() ? t.describe() : "undefined",
                     ", expected f32", shape_str(p.value.shape()));
      ++expected;
    }
  }
  if (state.size() != expected) {
    std::set<std::string> known;
    for (const std::string& prefix : prefixes)
      for (const Parameter& p : params_) known.insert(prefix + p.name);
    for (const auto& [key, t] : state)
      KHUB_CHECK_ARG(known.count(key), name(), " state: '", key,
                     "' belongs to no parameter of this model");
  }
}

// ---------------------------------------------------------------------------------------- AdamW

AdamW::AdamW(std::vector<Parameter> params, const AdamWOptions& o)
    : Optimizer(std::move(params), o.lr), options_(o) {
  check_hyper(std::isfinite(o.beta1) && o.beta1 >= 0 && o.beta1 < 1, "adamw", "beta1", o.beta1,
              "0 <= beta1 < 1");
  check_hyper(std::isfinite(o.beta2) && o.beta2 >= 0 && o.beta2 < 1, "adamw", "beta2", o.beta2,
              "0 <= beta2 < 1");
  check_hyper(std::isfinite(o.eps) && o.eps >= 0, "adamw", "eps", o.eps, "eps >= 0");
  check_hyper(std::isfinite(o.weight_decay) && o.weight_decay >= 0, "adamw", "weight_decay",
              o.weight_decay, "weight_decay >= 0");
}

void AdamW::ensure_state() {
  if (!exp_avg_.empty()) return;
  for (const Parameter& p : params_) {
    exp_avg_.push_back(zeros_like(p.value));
    exp_avg_sq_.push_back(zeros_like(p.value));
  }
}

ops::AdamWScalars AdamW::next_scalars() {
  ++step_;
  const double lr = lr_, b1 = options_.beta1, b2 = options_.beta2;
  // Python-float scalars, as torch computes them.
  const double t = static_cast<double>(step_);
  const double bias_correction1 = 1.0 - std::pow(b1, t);
  const double bias_correction2 = 1.0 - std::pow(b2, t);
  const float decay = static_cast<float>(1.0 - lr * options_.weight_decay);
  const float weight = static_cast<float>(1.0 - b1);  // lerp weight
  const bool small_weight = std::fabs(weight) < 0.5f;
  const float beta2 = static_cast<float>(b2);
  const float one_minus_beta2 = static_cast<float>(1.0 - b2);
  const float bc2_sqrt = static_cast<float>(std::sqrt(bias_correction2));
  const float eps = static_cast<float>(options_.eps);
  const float neg_step_size = static_cast<float>(-(lr / bias_correction1));
  return ops::AdamWScalars{decay,        options_.weight_decay != 0.0,
                           weight,       small_weight,
                           beta2,        one_minus_beta2,
                           bc2_sqrt,     eps,
                           neg_step_size};
}

void AdamW::step() {
  ensure_state();
  const ops::AdamWScalars sc = next_scalars();
  if (params_[0].value.device().is_cuda()) {
    ops::adamw_step_multi(values(params_), grads(params_), exp_avg_, exp_avg_sq_, sc);
    return;
  }
  for (size_t i = 0; i < params_.size(); ++i) {
    float* p = f32(params_[i].value);
    const float* g = f32(params_[i].grad);
    float* m = f32(exp_avg_[i]);
    float* v = f32(exp_avg_sq_[i]);
    const int64_t n = params_[i].value.numel();
    for (int64_t j = 0; j < n; ++j) ops::adamw_update(p[j], g[j], m[j], v[j], sc);
  }
}

void AdamW::prepare_captured_step() {
  const Device device = params_[0].value.device();
  KHUB_CHECK_ARG(device.is_cuda(), "adamw: a captured step runs on CUDA (parameters on ",
                 device.str(), ")");
  ensure_state();
  if (!planned_) {
    plan_ = ops::plan_adamw(values(params_), grads(params_), exp_avg_, exp_avg_sq_);
    scalars_ = Tensor::empty({static_cast<int64_t>(sizeof(ops::AdamWScalars))}, DType::kU8, device);
    planned_ = true;
  }
  const ops::AdamWScalars sc = next_scalars();
  Tensor host = Tensor::empty({static_cast<int64_t>(sizeof sc)}, DType::kU8);
  std::memcpy(host.data(), &sc, sizeof sc);
  scalars_.copy_from(host);
}

void AdamW::captured_step() {
  KHUB_CHECK_ARG(planned_, "adamw: captured_step() before prepare_captured_step()");
  ops::adamw_step_planned(plan_, scalars_);
}

nlohmann::json AdamW::config() const {
  return {{"type", name()},
          {"lr", lr_},
          {"betas", {options_.beta1, options_.beta2}},
          {"eps", options_.eps},
          {"weight_decay", options_.weight_decay}};
}

std::map<std::string, Tensor> AdamW::state() const {
  std::map<std::string, Tensor> out;
  for (size_t i = 0; i < exp_avg_.size(); ++i) {
    out["exp_avg." + params_[i].name] = exp_avg_[i];
    out["exp_avg_sq." + params_[i].name] = exp_avg_sq_[i];
  }
  return out;
}

void AdamW::load_state(const std::map<std::string, Tensor>& state, int64_t step_count) {
  KHUB_CHECK_ARG(step_count >= 0, "adamw state: step count ", step_count, " is negative");
  if (step_count == 0) {
    KHUB_CHECK_ARG(state.empty(), "adamw state: ", state.size(),
                   " tensors given for step 0 (expected none)");
    exp_avg_.clear();
    exp_avg_sq_.clear();
    step_ = 0;
    planned_ = false;  // a captured step's tables point at the old state
    return;
  }
  check_state(state, {"exp_avg.", "exp_avg_sq."});
  std::vector<Tensor> m, v;
  for (const Parameter& p : params_) {
    m.push_back(copy_of(state.at("exp_avg." + p.name), p.value));
    v.push_back(copy_of(state.at("exp_avg_sq." + p.name), p.value));
  }
  exp_avg_ = std::move(m);
  exp_avg_sq_ = std::move(v);
  step_ = step_count;
  planned_ = false;
}

// ------------------------------------------------------------------------------------------ SGD

SGD::SGD(std::vector<Parameter> params, const SGDOptions& o)
    : Optimizer(std::move(params), o.lr), options_(o) {
  check_hyper(std::isfinite(o.momentum) && o.momentum >= 0, "sgd", "momentum", o.momentum,
              "momentum >= 0");
  check_hyper(std::isfinite(o.dampening), "sgd", "dampening", o.dampening, "a finite value");
  check_hyper(std::isfinite(o.weight_decay) && o.weight_decay >= 0, "sgd", "weight_decay",
              o.weight_decay, "weight_decay >= 0");
  KHUB_CHECK_ARG(!o.nesterov || (o.momentum > 0 && o.dampening == 0),
                 "sgd: nesterov momentum requires a momentum > 0 and zero dampening (got "
                 "momentum ",
                 o.momentum, ", dampening ", o.dampening, ")");
}

void SGD::step() {
  const bool first = momentum_buffer_.empty();
  const bool uses_momentum = options_.momentum != 0.0;
  if (uses_momentum && first)
    for (const Parameter& p : params_) momentum_buffer_.push_back(zeros_like(p.value));
  ++step_;
  const ops::SGDScalars sc{static_cast<float>(options_.weight_decay),
                           options_.weight_decay != 0.0,
                           static_cast<float>(options_.momentum),
                           uses_momentum,
                           static_cast<float>(1.0 - options_.dampening),
                           options_.nesterov,
                           first,
                           static_cast<float>(-lr_)};
  if (params_[0].value.device().is_cuda()) {
    ops::sgd_step_multi(values(params_), grads(params_), momentum_buffer_, sc);
    return;
  }
  for (size_t i = 0; i < params_.size(); ++i) {
    float* p = f32(params_[i].value);
    const float* g = f32(params_[i].grad);
    float* buf = uses_momentum ? f32(momentum_buffer_[i]) : nullptr;
    const int64_t n = params_[i].value.numel();
    for (int64_t j = 0; j < n; ++j)
      ops::sgd_update(p[j], g[j], buf != nullptr ? buf + j : nullptr, sc);
  }
}

nlohmann::json SGD::config() const {
  return {{"type", name()},
          {"lr", lr_},
          {"momentum", options_.momentum},
          {"dampening", options_.dampening},
          {"weight_decay", options_.weight_decay},
          {"nesterov", options_.nesterov}};
}

std::map<std::string, Tensor> SGD::state() const {
  std::map<std::string, Tensor> out;
  for (size_t i = 0; i < momentum_buffer_.size(); ++i)
    out["momentum_buffer." + params_[i].name] = momentum_buffer_[i];
  return out;
}

void SGD::load_state(const std::map<std::string, Tensor>& state, int64_t step_count) {
  KHUB_CHECK_ARG(step_count >= 0, "sgd state: step count ", step_count, " is negative");
  if (step_count == 0 || options_.momentum == 0.0) {
    KHUB_CHECK_ARG(state.empty(), "sgd state: ", state.size(), " tensors given for ",
                   step_count == 0 ? "step 0" : "SGD without momentum", " (expected none)");
    momentum_buffer_.clear();
    step_ = step_count;
    return;
  }
  check_state(state, {"momentum_buffer."});
  std::vector<Tensor> bufs;
  for (const Parameter& p : params_)
    bufs.push_back(copy_of(state.at("momentum_buffer." + p.name), p.value));
  momentum_buffer_ = std::move(bufs);
  step_ = step_count;
}

// -------------------------------------------------------------------------------------- factory

namespace {

double number_field(const nlohmann::json& c, const char* key, double fallback) {
  if (!c.contains(key)) return fallback;
  KHUB_CHECK_ARG(c[key].is_number(), "optimizer config: '", key, "' must be a number, got ",
                 c[key].dump());
  return c[key].get<double>();
}

}  // namespace

std::unique_ptr<Optimizer> make_optimizer(const nlohmann::json& c, std::vector<Parameter> params) {
  KHUB_CHECK_ARG(c.is_object() && c.contains("type") && c["type"].is_string(),
                 "optimizer config must be an object with a string 'type', got ", c.dump());
  const std::string type = c["type"].get<std::string>();
  if (type == "adamw") {
    AdamWOptions o;
    o.lr = number_field(c, "lr", o.lr);
    if (c.contains("betas")) {
      const nlohmann::json& b = c["betas"];
      KHUB_CHECK_ARG(b.is_array() && b.size() == 2 && b[0].is_number() && b[1].is_number(),
                     "optimizer config: 'betas' must be two numbers, got ", b.dump());
      o.beta1 = b[0].get<double>();
      o.beta2 = b[1].get<double>();
    }
    o.eps = number_field(c, "eps", o.eps);
    o.weight_decay = number_field(c, "weight_decay", o.weight_decay);
    return std::make_unique<AdamW>(std::move(params), o);
  }
  if (type == "sgd") {
    SGDOptions o;
    o.lr = number_field(c, "lr", o.lr);
    o.momentum = number_field(c, "momentum", o.momentum);
    o.dampening = number_field(c, "dampening", o.dampening);
    o.weight_decay = number_field(c, "weight_decay", o.weight_decay);
    if (c.contains("nesterov")) {
      KHUB_CHECK_ARG(c["nesterov"].is_boolean(), "optimizer config: 'nesterov' must be a boolean");
      o.nesterov = c["nesterov"].get<bool>();
    }
    return std::make_unique<SGD>(std::move(params), o);
  }
  fail(ErrorKind::kInvalidArgument, "unknown optimizer '", type, "' (expected adamw or sgd)");
}

}  // namespace khub
