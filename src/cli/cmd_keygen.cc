// khub keygen --out FILE [--json]: a new ed25519 signing key (loader/signature.h). FILE (the
// private key) is created 0600 and never overwritten; FILE.pub holds the public key. Prints the
// key id and the public key — never the private key.
#include <cstdio>

#include <nlohmann/json.hpp>

#include "cli/args.h"
#include "cli/commands.h"
#include "loader/signature.h"

namespace khub::cli {

int cmd_keygen(const Args& args) {
  if (!args.has("out") || !args.positionals().empty()) {
    std::fprintf(stderr,
                 "usage: khub keygen --out FILE [--json]\n"
                 "  writes a new ed25519 private key to FILE (mode 0600) and its public key to "
                 "FILE.pub\n");
    return 2;
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

const CommandSpec& keygen_spec() {
  static const CommandSpec s{
      .name = "keygen",
      .summary = "create an ed25519 key for signing kernels (private half mode 0600)",
      .synopsis = "--out FILE [--json]",
      .details =
          "Writes the private key to FILE (0600, never overwritten) and the public key to "
          "FILE.pub.",
      .options = {opt("out", OptType::kPath, "FILE", "the private key file to create")
                      .default_doc("required")
                      .eg("~/.khub/acme.key"),
                  flag("json", "print the key id and public key as JSON")},
      .run = cmd_keygen};
  return s;
}

}  // namespace khub::cli
