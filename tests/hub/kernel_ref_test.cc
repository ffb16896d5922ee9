#include "hub/ref/kernel_ref.h"

#include <gtest/gtest.h>

#include "core/error.h"

namespace khub::hub {
namespace {

TEST(KernelRef, EveryForm) {
  struct Case {
    const char* text;
    RevKind kind;
    const char* rev;
    const char* name;
  } cases[] = {
      {"khub-community/rmsnorm", RevKind::kDefault, "", ""},
      {"khub-community/rmsnorm:RMSNorm", RevKind::kDefault, "", "RMSNorm"},
      {"khub-community/rmsnorm@v2.1.0", RevKind::kVersion, "v2.1.0", ""},
      {"khub-community/rmsnorm@2.1.0", RevKind::kVersion, "2.1.0", ""},
      {"khub-community/rmsnorm@v2.1.0-rc.1", RevKind::kVersion, "v2.1.0-rc.1", ""},
      {"khub-community/flash-attn@>=1.2,<2:flash_attn", RevKind::kConstraint, ">=1.2,<2",
       "flash_attn"},
      {"khub-community/rmsnorm@^2.1", RevKind::kConstraint, "^2.1", ""},
      {"khub-community/rmsnorm@~2.1.3", RevKind::kConstraint, "~2.1.3", ""},
      {"khub-community/rmsnorm@==2.1.0", RevKind::kConstraint, "==2.1.0", ""},
      {"khub-community/rmsnorm@!=2.0.1", RevKind::kConstraint, "!=2.0.1", ""},
      {"khub-community/rmsnorm@<=2", RevKind::kConstraint, "<=2", ""},
      {"khub-community/rmsnorm@>2.0", RevKind::kConstraint, ">2.0", ""},
      {"khub-community/rmsnorm@v2", RevKind::kMajor, "v2", ""},
      {"khub-community/rmsnorm@v1:RMSNorm", RevKind::kMajor, "v1", "RMSNorm"},
      {"khub-community/rmsnorm@main", RevKind::kName, "main", ""},
      {"khub-community/rmsnorm@v2.1", RevKind::kName, "v2.1", ""},
      {"khub-community/rmsnorm@release/2026-q1", RevKind::kName, "release/2026-q1", ""},
      {"kernels-community/activation@0123456789ABCDEF0123456789abcdef01234567:gelu_fast",
       RevKind::kCommit, "0123456789abcdef0123456789abcdef01234567", "gelu_fast"},
      {"org.name/repo_name.v2", RevKind::kDefault, "", ""},
      {"a/b:layers.RMSNorm", RevKind::kDefault, "", "layers.RMSNorm"},
  };
  for (const auto& c : cases) {
    KernelRef r = parse_kernel_ref(c.text);
    EXPECT_EQ(r.rev_kind, c.kind) << c.text;
    EXPECT_EQ(r.rev, c.rev) << c.text;
    EXPECT_EQ(r.name, c.name) << c.text;
  }
  KernelRef r = parse_kernel_ref("khub-community/rmsnorm@v1:RMSNorm");
  EXPECT_EQ(r.org, "khub-community");
  EXPECT_EQ(r.repo, "rmsnorm");
  EXPECT_EQ(r.repo_id(), "khub-community/rmsnorm");
  EXPECT_EQ(r.str(), "khub-community/rmsnorm@v1:RMSNorm");
}

std::string error_of(const char* text) {
  try {
    parse_kernel_ref(text);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
    std::string msg = e.what();
    EXPECT_NE(msg.find("grammar: org/repo[@REV][:name]"), std::string::npos) << msg;
    return msg;
  }
  ADD_FAILURE() << "parsed: " << text;
  return "";
}

TEST(KernelRef, ErrorsNameTheOffendingCharacter) {
  EXPECT_NE(error_of("rmsnorm").find("missing '/'"), std::string::npos);
  EXPECT_NE(error_of("khub community/rmsnorm").find("character ' ' at position 4"),
            std::string::npos);
  EXPECT_NE(error_of("khub-community/rms norm")
                .find("character ' ' at position 18: not allowed in a repo name"),
            std::string::npos);
  EXPECT_NE(error_of("a/b/c").find("character '/' at position 3: a repo id has exactly one '/'"),
            std::string::npos);
  EXPECT_NE(error_of("a/b@").find("'@' must be followed by a revision"), std::string::npos);
  EXPECT_NE(error_of("a/b@v1:").find("':' must be followed"), std::string::npos);
  EXPECT_NE(error_of("a/b@v1:RMS-Norm").find("character '-' at position 10"), std::string::npos);
  EXPECT_NE(error_of("a/b@v1 ").find("character ' ' at position 6"), std::string::npos);
  EXPECT_NE(error_of("a/b@>=2.x").find("'2.x' is not a version"), std::string::npos);
  EXPECT_NE(error_of("a/b@>=2.0,,<3").find("empty clause"), std::string::npos);
  EXPECT_NE(error_of("a/b@~=2").find("~= needs at least X.Y"), std::string::npos);
  EXPECT_NE(error_of("a/b@>=2.*").find("wildcard"), std::string::npos);
  EXPECT_NE(error_of("a/b@release..x").find("may not contain \"..\""), std::string::npos);
  EXPECT_NE(error_of("-a/b").find("may not start or end"), std::string::npos);
  EXPECT_NE(error_of("a--b/c").find("\"--\""), std::string::npos);
  EXPECT_NE(error_of("").find("empty reference"), std::string::npos);
}

TEST(KernelRef, Validators) {
  EXPECT_EQ(check_ref_name("v1"), "");
  EXPECT_EQ(check_ref_name("feature/x-1"), "");
  EXPECT_NE(check_ref_name("../x"), "");
  EXPECT_NE(check_ref_name("x.lock"), "");
  EXPECT_NE(check_ref_name("a//b"), "");
  EXPECT_NE(check_repo_component("..", "repo"), "");
}

}  // namespace
}  // namespace khub::hub
