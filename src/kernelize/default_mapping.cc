#include "kernelize/default_mapping.h"

namespace khub {

const KernelMapping& default_kernel_mapping() {
  static const KernelMapping mapping = [] {
    KernelMapping m;
    auto ref = [](const char* text) { return KernelLayerRef::parse(text, "default mapping"); };
    const Mode inference = Mode::kInference, training = Mode::kTraining;
    const Mode inference_compile = Mode::kInference | Mode::kCompile;
    const Mode training_compile = Mode::kTraining | Mode::kCompile;
    // Norms, activations and rotary: the same layer serves every mode it qualifies for;
    // has-backward and can-capture decide per mode.
    for (auto [key, text] :
         {std::pair{"RMSNorm", "khub-community/rmsnorm@v1:RMSNorm"},
          std::pair{"GemmaRMSNorm", "khub-community/rmsnorm@v1:GemmaRMSNorm"},
          std::pair{"FusedAddRMSNorm", "khub-community/rmsnorm@v1:FusedAddRMSNorm"},
          std::pair{"SiluAndMul", "khub-community/activation@v1:SiluAndMul"},
          std::pair{"GeluTanhAndMul", "khub-community/activation@v1:GeluTanhAndMul"},
          std::pair{"GeluAndMul", "khub-community/activation@v1:GeluAndMul"},
          std::pair{"rotary_pos_emb", "khub-community/rotary@v1:rotary_pos_emb"}}) {
      // CPU kernels are never captured: no compile entries, so compile mode falls back visibly.
      m.add(key, DeviceType::kCPU, {{inference, ref(text)}, {training, ref(text)}});
      m.add(key, DeviceType::kCUDA,
            {{inference, ref(text)},
             {inference_compile, ref(text)},
             {training, ref(text)},
             {training_compile, ref(text)}},
            CapabilityRange{80, 120});
    }
    // The LM head and its loss: CPU and CUDA, training (the model offers the layer to kernelize
    // in training only). The CUDA layer can be captured: it leaves its per-row losses on the
    // device, and a captured training step (train/step_graph.h) reads them after the replay.
    {
      KernelLayerRef lce = ref("khub-community/linear-cross-entropy@v1:LinearCrossEntropy");
      m.add("LinearCrossEntropy", DeviceType::kCPU, {{training, lce}});
      m.add("LinearCrossEntropy", DeviceType::kCUDA, {{training, lce}, {training_compile, lce}},
            CapabilityRange{80, 120});
    }
    // Attention and the q/k-norm + rotary + cache-append layer before it: CUDA only, Ampere and
    // newer, inference. flash-attn's attention backward is bound in training only when a
    // KernelConfig maps Attention (entries apply in every mode): it has not yet run on a GPU, so
    // the default keeps training on the reference attention backward until its gpu tests pass
    // (tests/kernels_cuda/flash_attn_backward_test.cc). RotaryKVCache has no backward.
    for (auto [key, text] :
         {std::pair{"Attention", "khub-community/flash-attn@v1:Attention"},
          std::pair{"RotaryKVCache", "khub-community/flash-attn@v1:RotaryKVCache"}}) {
      KernelLayerRef fa = ref(text);
      m.add(key, DeviceType::kCUDA, {{inference, fa}, {inference_compile, fa}},
            CapabilityRange{80, 120});
    }
    // Mixture-of-experts MLPs: forward only, so inference; the CUDA variant can be captured.
    KernelLayerRef moe = ref("khub-community/moe@v1:MoE");
    m.add("MoE", DeviceType::kCPU, {{inference, moe}});
    m.add("MoE", DeviceType::kCUDA, {{inference, moe}, {inference_compile, moe}},
          CapabilityRange{80, 120});
    // The whole decoder stack of a batch-1 decode step in one persistent launch: CUDA, Hopper
    // only (TMA bulk copies; built for sm_90a), inference; prefill and larger batches keep the
    // per-layer keys above (docs/layer-contracts.md, `DecodeStep`).
    KernelLayerRef step = ref("khub-community/decode-step@v1:DecodeStep");
    m.add("DecodeStep", DeviceType::kCUDA, {{inference, step}, {inference_compile, step}},
          CapabilityRange{90, 90});
    return m;
  }();
  return mapping;
}

}  // namespace khub
