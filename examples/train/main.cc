// A short training loop (the README's): AdamW on one fixed batch, with gradient clipping; prints
// the loss of every step. Usage: train MODEL_DIR [STEPS]. Exits 1 unless the loss fell.
#include <khub/khub.h>

#include <cstdio>
#include <string>

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s MODEL_DIR [STEPS]\n", argv[0]);
    return 2;
  }
  try {
    auto model = khub::CausalLM::from_pretrained(argv[1]);
    model->train();  // Mode::kTraining: only kernels with a backward
    khub::AdamW opt(model->parameters(),
                    {.lr = 1e-3, .beta1 = 0.9, .beta2 = 0.95, .weight_decay = 0.1});
    khub::TrainBatch batch{.input_ids = {{1, 17, 42, 99, 5, 6}, {9, 8, 7, 6, 5}}};
    const int steps = argc > 2 ? std::stoi(argv[2]) : 5;
    double first = 0.0, last = 0.0;
    for (int step = 0; step < steps; ++step) {
      khub::Loss loss = model->loss(batch);
      loss.backward();
      khub::clip_grad_norm(model->parameters(), 1.0);
      opt.step();
      opt.zero_grad();
      (step == 0 ? first : last) = loss.item();
      std::printf("step %d loss %.4f\n", step + 1, loss.item());
    }
    model->eval();
    return last < first ? 0 : 1;
  } catch (const khub::Error& e) {
    std::fprintf(stderr, "train: %s\n", e.what());
    return 1;
  }
}
