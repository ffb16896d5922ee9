// khub keygen --out FILE [--json]: a new ed25519 signing key (loader/signature.h). FILE (the
// private key) is created 0600 and never overwritten; FILE.pub holds the public key. Prints the
// key id and the public key — never the private key.
#include <cstdio>

#include <nlohmann/json.hpp>

#include "cli/args.h"
#include "cli/commands.h"
#include "loader/signature.h"

namespace khub::cli {

int cmd_keygen(int argc, char** argv) {
  Args args(argc, argv, {"json", "help"});
  args.reject_unknown({"out", "json", "help"});
  if (args.has("help") || !args.has("out") || !args.positionals().empty()) {
    std::fprintf(stderr,
                 "usage: khub keygen --out FILE [--json]\n"
                 "  writes a new ed25519 private key to FILE (mode 0600) and its public key to "
                 "FILE.pub\n");
    return args.has("help") ? 0 : 2;
  }
  std::string out = args.get("out");
  loader::SigningKey key = loader::SigningKey::generate();
  key.write(out);
  const loader::PublicKey& pub = key.public_key();
  if (args.has("json")) {
    nlohmann::json j = {{"key", pub.id},
                        {"public-key", pub.text()},
                        {"private-key-file", out},
                        {"public-key-file", out + ".pub"}};
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  std::printf("key %s\npublic key %s (in %s.pub)\nprivate key in %s (mode 0600; keep it secret)\n",
              pub.id.c_str(), pub.text().c_str(), out.c_str(), out.c_str());
  std::printf(
      "trust it with a policy entry:\n  [[keys]]\n  public-key = \"%s\"\n  repos = [\"org/*\"]\n",
      pub.text().c_str());
  return 0;
}

}  // namespace khub::cli
