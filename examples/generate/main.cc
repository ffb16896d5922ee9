// Loads a model directory with hub kernels (a KernelConfig choosing the RMSNorm and SiluAndMul
// kernels, the rest from the default mapping), prints which kernel each layer key uses, and
// generates greedily from a few token ids. Usage: generate MODEL_DIR [MAX_NEW_TOKENS]
#include <khub/khub.h>

#include <cstdio>
#include <iostream>
#include <string>

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s MODEL_DIR [MAX_NEW_TOKENS]\n", argv[0]);
    return 2;
  }
  try {
    auto model = khub::AutoModelForCausalLM::from_pretrained(
        argv[1], {.use_kernels = true,
                  .kernel_config = khub::KernelConfig{{
                      {"RMSNorm", "khub-community/rmsnorm@^1:RMSNorm"},
                      {"SiluAndMul", {{"cpu", "khub-community/activation:SiluAndMul"}}},
                  }}});
    std::cerr << model->kernel_report().table();
    khub::GenerationOptions opt;
    opt.max_new_tokens = argc > 2 ? std::stoll(argv[2]) : 8;
    opt.ignore_eos = true;
    khub::GenerationResult r = khub::generate(*model, {{1, 2, 3}}, opt);
    for (int32_t t : r.tokens[0]) std::printf("%d ", t);
    std::printf("\n");
    for (const auto& k : model->kernel_report().keys) {
      if (k.kernel) std::printf("kernel %s %s\n", k.key.c_str(), k.kernel->label().c_str());
    }
  } catch (const khub::Error& e) {
    std::fprintf(stderr, "generate: %s\n", e.what());
    return 1;
  }
  return 0;
}
