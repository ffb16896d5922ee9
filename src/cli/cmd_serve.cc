// khub serve --root DIR [--port P] [--host H] [--token-file F] [--faults SPEC] [--threads N]
//            [--page-size N] [--log FILE]
// Serves a local hub directory over the Hugging Face Hub API (see serve/hub_server.h) until
// SIGINT or SIGTERM. Prints "khub serve: listening on http://HOST:PORT" on stdout once ready
// (with --port 0 the port is chosen by the system). Request logs go to stderr or --log FILE.
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <mutex>
#include <thread>

#include "cli/args.h"
#include "cli/commands.h"
#include "core/env.h"
#include "core/error.h"
#include "serve/hub_server.h"

namespace khub::cli {

int cmd_serve(const Args& args) {
  serve::ServeOptions opts;
  opts.root = args.get("root");
  opts.host = args.get("host");
  long long port = args.get_int("port");
  if (port < 0 || port > 65535) {
    fail(ErrorKind::kInvalidArgument, "--port ", port, " is not in 0..65535");
  }
  opts.port = static_cast<int>(port);
  if (args.has("token-file")) opts.token_file = args.get("token-file");
  opts.faults = args.get_or("faults", "");
  if (opts.faults.empty()) {
    if (std::optional<std::string> f = env::get("KHUB_SERVE_FAULTS")) opts.faults = *f;
  }
  opts.threads = static_cast<int>(args.get_int("threads"));
  opts.page_size = static_cast<size_t>(args.get_int("page-size"));
  if (opts.threads < 2 || opts.threads > 1024) {
    fail(ErrorKind::kInvalidArgument, "--threads must be in 2..1024");
  }
  if (opts.page_size < 1) fail(ErrorKind::kInvalidArgument, "--page-size must be >= 1");
  long long revalidate = args.get_int("web-revalidate-ms");
  if (revalidate < 0 || revalidate > 3'600'000) {
    fail(ErrorKind::kInvalidArgument, "--web-revalidate-ms ", revalidate,
         " must be in 0..3600000 (0: the web pages look at the hub folder on every request)");
  }
  opts.web_revalidate = std::chrono::milliseconds(revalidate);
  opts.web_prewarm = !args.has("no-web-prewarm");
  std::shared_ptr<std::ofstream> log_file;
  if (args.has("log")) {
    log_file = std::make_shared<std::ofstream>(args.get("log"), std::ios::app);
    if (!*log_file) fail(ErrorKind::kIo, "cannot open --log ", args.get("log"));
    auto mu = std::make_shared<std::mutex>();
    opts.log = [log_file, mu](const std::string& line) {
      std::lock_guard<std::mutex> lock(*mu);
      *log_file << line << '\n';
      log_file->flush();
    };
  }

  // Signals are taken by sigwait on this thread while the server runs on another one.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);

  serve::HubServer server(opts);
  int bound = server.start();
  std::printf("khub serve: listening on http://%s:%d (hub %s%s%s)\n", opts.host.c_str(), bound,
              opts.root.c_str(), opts.token_file ? ", tokens from " : "",
              opts.token_file ? opts.token_file->c_str() : "");
  std::fflush(stdout);
  int sig = 0;
  sigwait(&set, &sig);
  std::fprintf(stderr, "khub serve: stopping (signal %d)\n", sig);
  server.stop();
  return 0;
}

const CommandSpec& serve_spec() {
  static const CommandSpec s{
      .name = "serve",
      .summary = "serve a local hub directory over the Hugging Face Hub API",
      .synopsis = "--root DIR [--port P] [--host H] [options]",
      .details =
          "Runs until SIGINT or SIGTERM; prints \"khub serve: listening on URL\" once ready.",
      .options = {opt("root", OptType::kPath, "DIR", "the local hub directory")
                      .default_doc("required")
                      .eg("build/hub"),
                  opt("port", OptType::kInt, "P", "the port (0: any free port)")
                      .with_default("8080")
                      .eg("0"),
                  opt("host", OptType::kText, "H", "the address to listen on")
                      .with_default("127.0.0.1")
                      .eg("0.0.0.0"),
                  opt("token-file", OptType::kPath, "FILE", "TOKEN [read|write] lines")
                      .default_doc("no tokens: private repos refused")
                      .eg("tokens.txt"),
                  opt("faults", OptType::kText, "SPEC", "inject faults for tests (serve/faults.h)")
                      .eg("drop=0.1"),
                  opt("threads", OptType::kInt, "N", "worker threads").with_default("64").eg("8"),
                  opt("page-size", OptType::kInt, "N", "entries per listing page")
                      .with_default("1000")
                      .eg("100"),
                  opt("log", OptType::kPath, "FILE", "append request logs to FILE")
                      .default_doc("stderr")
                      .eg("serve.log"),
                  opt("web-revalidate-ms", OptType::kInt, "MS",
                      "how long the web pages use what they read from the hub folder")
                      .with_default("250")
                      .eg("0"),
                  flag("no-web-prewarm", "do not read every repo for the web index at start")},
      .run = cmd_serve};
  return s;
}

}  // namespace khub::cli
