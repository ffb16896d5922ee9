// The CLI's command registry: one entry per `khub <command>`, each implemented in cmd_<name>.cc.
// A command gets the arguments after its name and returns the process exit code.
#pragma once

namespace khub::cli {

using CommandFn = int (*)(int argc, char** argv);

struct Command {
  const char* name;
  CommandFn run;
  const char* summary;
};

// Declared here, defined in cmd_<name>.cc. Keep alphabetical.
int cmd_bench(int argc, char** argv);
int cmd_bench_train(int argc, char** argv);  // khub bench train
int cmd_build(int argc, char** argv);
int cmd_chat(int argc, char** argv);
int cmd_download(int argc, char** argv);
int cmd_forward(int argc, char** argv);
int cmd_generate(int argc, char** argv);
int cmd_grad(int argc, char** argv);
int cmd_info(int argc, char** argv);
int cmd_init_model(int argc, char** argv);
int cmd_keygen(int argc, char** argv);
int cmd_lock(int argc, char** argv);
int cmd_publish(int argc, char** argv);
int cmd_serve(int argc, char** argv);
int cmd_sign(int argc, char** argv);
int cmd_tokenize(int argc, char** argv);
int cmd_train(int argc, char** argv);
int cmd_verify(int argc, char** argv);
int cmd_version(int argc, char** argv);
int cmd_versions(int argc, char** argv);

}  // namespace khub::cli
