#include "cli/train_common.h"

#include <cmath>

#include "cli/load_options.h"

namespace khub::cli {

std::unique_ptr<CausalLM> load_model_for_training(const Args& args, const std::string& model_dir) {
  LoadOptions o = load_options_from_args(args);
  KHUB_CHECK_ARG(o.dtype.empty() || o.dtype == "f32" || o.dtype == "float32", "--dtype ", o.dtype,
                 ": training keeps f32 weights and gradients on the CPU and on CUDA (bf16 ",
                 "compute over f32 master weights is not built yet); use --dtype f32 or leave it ",
                 "out");
  o.dtype = "f32";
  auto model = CausalLM::from_pretrained(model_dir.empty() ? args.get("model") : model_dir, o);
  model->set_activation_checkpointing(args.has("checkpoint-activations"));
  model->train();
  model->parameters();
  return model;
}

double l2_norm(const Tensor& t) {
  Tensor c = t.to(Device::cpu()).contiguous();
  KHUB_CHECK_ARG(c.dtype() == DType::kF32 && c.device().is_cpu(), "l2_norm: ", c.describe());
  const float* p = c.data_as<float>();
  double s = 0.0;
  for (int64_t i = 0, n = c.numel(); i < n; ++i) s += static_cast<double>(p[i]) * p[i];
  return std::sqrt(s);
}

}  // namespace khub::cli
