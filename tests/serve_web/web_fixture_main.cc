// khub_web_fixture_tool DIR [--bulk N] [--no-hostile]: writes the demo hub of web_fixture.h into
// DIR (which must not exist yet), for the browser test and for looking at the pages by hand.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "web_fixture.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s DIR [--bulk N] [--no-hostile]\n", argv[0]);
    return 2;
  }
  std::filesystem::path dir = argv[1];
  if (std::filesystem::exists(dir)) {
    std::fprintf(stderr, "%s: %s exists already (expected a new folder)\n", argv[0], argv[1]);
    return 2;
  }
  int bulk = 0;
  bool hostile = true;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--bulk" && i + 1 < argc) {
      bulk = std::atoi(argv[++i]);
    } else if (a == "--no-hostile") {
      hostile = false;
    } else {
      std::fprintf(stderr, "%s: unknown argument '%s'\n", argv[0], a.c_str());
      return 2;
    }
  }
  khub::test::write_demo_hub(dir, hostile);
  if (bulk > 0) khub::test::write_bulk_repos(dir, bulk);
  return 0;
}
