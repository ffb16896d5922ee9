// khub CLI entry point: dispatches to the command registry in commands.h. Every khub::Error is
// printed as one line naming its kind; exit code 1 for errors, 2 for usage mistakes.
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "core/error.h"
#include "loader/trust_policy.h"

namespace khub::cli {
namespace {

// One line per command, alphabetical.
const std::vector<Command> kCommands = {
    {"bench", cmd_bench, "run a benchmark; writes JSON under bench/results/"},
    {"build", cmd_build, "compile a kernel project (build.toml) into variant folders"},
    {"chat", cmd_chat, "an interactive, streaming chat with a model directory's chat template"},
    {"download", cmd_download, "pre-fetch kernels (REF or --lock FILE) into the cache"},
    {"forward", cmd_forward, "run one forward pass; write logits to a safetensors file"},
    {"generate", cmd_generate, "generate tokens from a model directory"},
    {"grad", cmd_grad, "one forward and backward on a batch: loss and per-parameter grad norms"},
    {"info", cmd_info, "how a kernel reference resolves; variants, metadata, manifest"},
    {"init-model", cmd_init_model, "write a random-weight Hugging Face checkpoint"},
    {"keygen", cmd_keygen, "create an ed25519 key for signing kernels (private half mode 0600)"},
    {"lock", cmd_lock, "resolve the project's kernels.toml into kernels.lock"},
    {"publish", cmd_publish, "add built variants to a local hub as an immutable revision"},
    {"serve", cmd_serve, "serve a local hub directory over the Hugging Face Hub API"},
    {"sign", cmd_sign, "sign a published revision's variants (or a local folder's) with a key"},
    {"tokenize", cmd_tokenize, "encode JSON-lines text (or chat messages) with a tokenizer.json"},
    {"train", cmd_train, "train a model directory on a text or token file; writes a checkpoint"},
    {"verify", cmd_verify, "re-hash a kernel's files against its metadata digest"},
    {"version", cmd_version, "print the khub version and the kernel ABI version"},
    {"versions", cmd_versions, "list a kernel repo's versions and which variants fit here"},
};

void print_usage() {
  std::fprintf(stderr, "usage: khub <command> [options]\n\ncommands:\n");
  for (const auto& c : kCommands) std::fprintf(stderr, "  %-12s %s\n", c.name, c.summary);
  std::fprintf(stderr,
               "\noptions of every command that loads or checks kernels:\n"
               "  --trust-policy FILE   apply FILE on top of the trust policy layers\n"
               "  --require-signed      refuse every kernel no trusted key signed\n");
}

// Takes the trust options out of a command's arguments (they apply to every command), so each
// command's own parser never sees them. Returns the new argc.
int take_trust_options(int argc, char** argv) {
  khub::loader::TrustOverrides o;
  int out = 0;
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--require-signed") {
      o.require_signed = true;
    } else if (a == "--trust-policy") {
      if (i + 1 >= argc) {
        khub::fail(khub::ErrorKind::kInvalidArgument, "--trust-policy needs a FILE");
      }
      o.files.push_back(argv[++i]);
    } else if (a.rfind("--trust-policy=", 0) == 0) {
      o.files.push_back(a.substr(15));
    } else {
      argv[out++] = argv[i];
    }
  }
  khub::loader::set_trust_overrides(std::move(o));
  return out;
}

}  // namespace
}  // namespace khub::cli

int main(int argc, char** argv) {
  using namespace khub::cli;
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    print_usage();
    return argc < 2 ? 2 : 0;
  }
  for (const auto& c : kCommands) {
    if (std::strcmp(argv[1], c.name) != 0) continue;
    try {
      int n = take_trust_options(argc - 2, argv + 2);
      return c.run(n, argv + 2);
    } catch (const khub::Error& e) {
      std::fprintf(stderr, "khub %s: %s: %s\n", c.name,
                   std::string(khub::error_kind_name(e.kind())).c_str(), e.what());
      return e.kind() == khub::ErrorKind::kInvalidArgument ? 2 : 1;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "khub %s: %s\n", c.name, e.what());
      return 1;
    }
  }
  std::fprintf(stderr, "khub: unknown command '%s'\n", argv[1]);
  print_usage();
  return 2;
}
