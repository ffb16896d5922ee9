#include "hub/ref/version_resolve.h"

#include <gtest/gtest.h>

#include "core/error.h"

namespace khub::hub {
namespace {

std::string rev(char c) { return std::string(40, c); }

// A repo with version branches v1 and v2, main, a feature branch and a spread of tags.
RefList sample_refs() {
  RefList r;
  r.branches = {{"main", rev('m')}, {"v1", rev('1')}, {"v2", rev('2')}, {"dev", rev('d')}};
  r.tags = {{"v1.0.0", rev('a')}, {"v1.1.0", rev('b')}, {"v1.2.3", rev('c')},
            {"v2.0.0", rev('e')}, {"v2.1.0", rev('f')}, {"v2.2.0-rc.1", rev('9')},
            {"nightly", rev('8')}};
  return r;
}

Resolution resolve(const std::string& text, const RefList& refs = sample_refs()) {
  return resolve_revision(parse_kernel_ref("org/k" + text), refs,
                          [](const std::string& r) { return r == std::string(40, '7'); });
}

TEST(Resolve, Table) {
  struct Case {
    const char* ref;
    char revision;
    const char* from;
  } cases[] = {
      {"", '2', "v2"},     // highest vN branch
      {"@v1", '1', "v1"},  // major branch
      {"@v2", '2', "v2"},
      {"@v1.1.0", 'b', "v1.1.0"},      // exact tag
      {"@1.1.0", 'b', "v1.1.0"},       // same version without the v
      {"@>=1.0,<2.0", 'c', "v1.2.3"},  // highest match
      {"@>=2.0,<3.0", 'f', "v2.1.0"},  // pre-release excluded
      {"@^1.1", 'c', "v1.2.3"},
      {"@^2", 'f', "v2.1.0"},
      {"@~1.1", 'b', "v1.1.0"},
      {"@~1", 'c', "v1.2.3"},
      {"@~=1.1", 'c', "v1.2.3"},
      {"@~=1.1.0", 'b', "v1.1.0"},
      {"@==2.0.0", 'e', "v2.0.0"},
      {"@==1.*", 'c', "v1.2.3"},
      {"@!=2.1.0", 'e', "v2.0.0"},
      {"@<=2.0", 'e', "v2.0.0"},  // PEP 440: <=2.0 is <=2.0.0
      {"@>2.0", 'f', "v2.1.0"},
      {"@<1.1", 'a', "v1.0.0"},
      {"@>=2.2.0-rc.1", '9', "v2.2.0-rc.1"},  // a pre-release clause admits pre-releases
      {"@main", 'm', "main"},
      {"@dev", 'd', "dev"},
      {"@nightly", '8', "nightly"},  // a tag by name
      {"@7777777777777777777777777777777777777777", '7', ""},
  };
  for (const auto& c : cases) {
    Resolution r = resolve(c.ref);
    EXPECT_EQ(r.revision, std::string(40, c.revision)) << c.ref << " -> " << r.how;
    EXPECT_EQ(r.ref, c.from) << c.ref;
  }
}

TEST(Resolve, DefaultFallsBackToMain) {
  RefList r;
  r.branches = {{"main", rev('m')}, {"dev", rev('d')}};
  EXPECT_EQ(resolve("", r).revision, rev('m'));
  r.branches.erase("main");
  EXPECT_THROW(resolve("", r), Error);
}

TEST(Resolve, OlderMajorGetsANote) {
  Resolution r = resolve("@v1");
  ASSERT_EQ(r.notes.size(), 1u);
  EXPECT_NE(r.notes[0].find("newer major version v2"), std::string::npos);
  EXPECT_TRUE(resolve("@v2").notes.empty());
}

std::string error_of(const std::string& ref) {
  try {
    resolve(ref);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kNotFound);
    return e.what();
  }
  ADD_FAILURE() << "resolved " << ref;
  return "";
}

TEST(Resolve, ErrorsListWhatExists) {
  std::string listing =
      "(version branches: v2, v1; other branches: dev, main; tags: v2.2.0-rc.1, v2.1.0, v2.0.0, "
      "v1.2.3, v1.1.0, v1.0.0, nightly)";
  std::string m = error_of("@v3");
  EXPECT_NE(m.find("no version branch v3 (versions: v2, v1)"), std::string::npos) << m;
  EXPECT_NE(m.find(listing), std::string::npos) << m;
  m = error_of("@v3.0.0");
  EXPECT_NE(m.find("org/k: no tag v3.0.0"), std::string::npos) << m;
  m = error_of("@>=3");
  EXPECT_NE(m.find("no version tag matches >=3"), std::string::npos) << m;
  EXPECT_NE(m.find(listing), std::string::npos) << m;
  m = error_of("@feature");
  EXPECT_NE(m.find("no branch or tag named feature"), std::string::npos) << m;
  m = error_of("@0123456789012345678901234567890123456789");
  EXPECT_NE(m.find("no revision 0123456789012345678901234567890123456789"), std::string::npos) << m;
}

TEST(SemVer, OrderingAndParsing) {
  auto v = [](const char* s) { return *parse_semver(s); };
  EXPECT_TRUE(v("1.0.0-alpha") < v("1.0.0-alpha.1"));
  EXPECT_TRUE(v("1.0.0-alpha.1") < v("1.0.0-alpha.beta"));
  EXPECT_TRUE(v("1.0.0-beta.2") < v("1.0.0-beta.11"));
  EXPECT_TRUE(v("1.0.0-rc.1") < v("1.0.0"));
  EXPECT_TRUE(v("1.9.0") < v("1.10.0"));
  EXPECT_TRUE(v("v1.2.3+build.5") == v("1.2.3"));
  EXPECT_FALSE(parse_semver("1.2"));
  EXPECT_FALSE(parse_semver("01.2.3"));
  EXPECT_FALSE(parse_semver("1.2.3-"));
  EXPECT_FALSE(parse_semver("1.2.3.4"));
  int comps = 0;
  EXPECT_TRUE(parse_semver("v2", true, &comps));
  EXPECT_EQ(comps, 1);
}

TEST(SemVer, Constraints) {
  auto m = [](const char* c, const char* v) {
    return VersionConstraint::parse(c).matches(*parse_semver(v));
  };
  EXPECT_TRUE(m("^0.2.3", "0.2.9"));
  EXPECT_FALSE(m("^0.2.3", "0.3.0"));
  EXPECT_TRUE(m("^0.0.3", "0.0.3"));
  EXPECT_FALSE(m("^0.0.3", "0.0.4"));
  EXPECT_TRUE(m("~2.1.3", "2.1.9"));
  EXPECT_FALSE(m("~2.1.3", "2.2.0"));
  EXPECT_TRUE(m(">= 2.0 , < 3", "2.5.0"));
  EXPECT_FALSE(m("!=2.*", "2.5.0"));
  EXPECT_TRUE(m("==2.1", "2.1.0"));
  EXPECT_FALSE(m("==2.1", "2.1.1"));
  EXPECT_FALSE(m(">=1.0", "2.0.0-rc.1"));
  EXPECT_THROW(VersionConstraint::parse("=>2"), Error);
  EXPECT_THROW(VersionConstraint::parse(""), Error);
}

}  // namespace
}  // namespace khub::hub
