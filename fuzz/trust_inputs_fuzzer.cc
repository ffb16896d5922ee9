// libFuzzer target for the signed-kernel inputs khub did not write (docs/kernel-hub.md §8): the
// signature file and the statement it carries, the trust policy TOML, and the decision over a
// fuzzed signature file (evaluate_trust never throws for a bad signature: it records a check).
// The first byte picks the parser; the rest is its input. Parsing may succeed or throw
// khub::Error; any other exception, abort or sanitizer report is a crash.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/error.h"
#include "loader/signature.h"
#include "loader/trust_policy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const std::string in(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    switch (data[0] % 5) {
      case 0: {
        khub::loader::SignatureFile sig = khub::loader::parse_signature_file(in, "fuzz.sig");
        khub::loader::verify_signature(sig.key, sig.signature, sig.statement);
        khub::loader::parse_statement(sig.statement, "fuzz.sig");
        break;
      }
      case 1: {
        khub::loader::Statement st = khub::loader::parse_statement(in, "fuzz-statement");
        if (st.text() != in) __builtin_trap();  // canonical: what parses is what text() writes
        break;
      }
      case 2: {
        khub::loader::TrustPolicy p = khub::loader::parse_trust_policy(in, "fuzz.toml");
        khub::loader::TrustPolicy base = khub::loader::TrustPolicy::builtin();
        base.merge(p);
        base.to_json().dump();
        break;
      }
      case 3: {
        khub::loader::TrustSubject s;
        s.repo = "acme/x";
        s.revision = std::string(40, 'a');
        s.variant = "khub1-cpu-x86_64-linux";
        s.signatures = {{"signatures/0123456789abcdef.sig", in}};
        khub::loader::evaluate_trust(khub::loader::TrustPolicy::builtin(), s).to_json().dump();
        break;
      }
      case 4:
        khub::loader::parse_public_key(in, "fuzz-key");
        break;
    }
  } catch (const khub::Error&) {
  }
  return 0;
}
