#include "cli/train_common.h"

#include <cmath>

#include "cli/load_options.h"

namespace khub::cli {

std::unique_ptr<CausalLM> load_model_for_training(const Args& args, const std::string& model_dir) {
  LoadOptions o = load_options_from_args(args);
  const bool cuda = Device::parse(o.device).is_cuda();
  const bool f32 = o.dtype.empty() || o.dtype == "f32" || o.dtype == "float32";
  KHUB_CHECK_ARG(f32 || (cuda && (o.dtype == "bf16" || o.dtype == "f16")), "--dtype ", o.dtype,
                 ": training runs in f32 on the CPU, and in f32 or bf16/f16 compute over f32 ",
                 "master weights on CUDA (expected f32", cuda ? ", bf16 or f16)" : ")");
  if (f32) o.dtype = "f32";
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
