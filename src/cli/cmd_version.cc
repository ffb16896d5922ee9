#include <cstdio>

#include "cli/commands.h"

namespace khub::cli {

int cmd_version(int, char**) {
  std::printf("khub 0.1.0\n");
  return 0;
}

}  // namespace khub::cli
