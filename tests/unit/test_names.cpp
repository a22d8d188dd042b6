// Names, versions and references (DESIGN.md §3).

#include <catch2/catch.hpp>

#include "registry/core/error.hpp"
#include "registry/names.hpp"
#include "tests/unit/helpers.hpp"

using namespace lm;
using lm::test::code_of;

TEST_CASE("valid names are accepted", "[names]") {
  for (const char* name : {"churn", "team/churn", "a", "fraud-v2", "x.y_z", "a1/b2/c3", "0abc"}) {
    INFO(name);
    CHECK_NOTHROW(validate_name(name));
  }
}

TEST_CASE("invalid names are usage errors that quote the name", "[names]") {
  const std::string long_name(200, 'a');
  for (const std::string& name :
       {std::string("../x"), std::string("A B"), std::string("a//b"), std::string("a\r"),
        long_name, std::string("/a"), std::string("a/"), std::string("a\\b"), std::string(".a"),
        std::string("a..b"), std::string("x.lock"), std::string("a@{b"), std::string(""),
        std::string("a b"), std::string("Churn"), std::string("a-"), std::string("x'); DROP TABLE models;--"),
        std::string("a\0b", 3)}) {
    INFO(name);
    try {
      validate_name(name);
      FAIL("accepted");
    } catch (const Error& e) {
      CHECK(e.code() == ExitCode::usage);
      CHECK_THAT(e.what(), Catch::StartsWith("invalid model name '"));
      CHECK(std::string(e.what()).find('\r') == std::string::npos);  // one line
      CHECK_FALSE(e.hint().empty());
    }
  }
}

TEST_CASE("names are limited to 128 bytes", "[names]") {
  CHECK_NOTHROW(validate_name(std::string(128, 'a')));
  CHECK(code_of([] { validate_name(std::string(129, 'a')); }) == ExitCode::usage);
}

TEST_CASE("semver parses and prints", "[names][semver]") {
  CHECK(parse_semver("1.4.0").str() == "1.4.0");
  CHECK(parse_semver("v1.4.0").str() == "1.4.0");
  CHECK(parse_semver("2.0.0-rc.1+build.5").str() == "2.0.0-rc.1+build.5");
  CHECK(parse_semver("2.0.0-rc.1+build.5").key() == "2.0.0-rc.1");
  CHECK(parse_semver("0.0.0").str() == "0.0.0");
  CHECK(parse_semver("1.0.0+001").build == "001");  // leading zeros allowed in build
}

TEST_CASE("invalid versions are usage errors", "[names][semver]") {
  for (const char* v : {"1.2", "01.2.3", "1.2.3; rm -rf /", "1.2.3.4", "1.02.3", "a.b.c", "",
                        "1.2.3-", "1.2.3-01", "1.2.3+", "1.2.3-a..b", "-1.2.3",
                        "99999999999999999999999.0.0", "v", "V1.2.3",
                        "18446744073709551615.0.0", "1.9223372036854775808.0"}) {
    INFO(v);
    CHECK_FALSE(try_parse_semver(v));
    CHECK(code_of([&] { parse_semver(v); }) == ExitCode::usage);
  }
}

TEST_CASE("semver precedence follows semver.org", "[names][semver]") {
  // The example chain from semver.org §11.
  const char* chain[] = {"1.0.0-alpha",      "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta",
                         "1.0.0-beta.2",     "1.0.0-beta.11", "1.0.0-rc.1",       "1.0.0",
                         "1.0.1",            "1.1.0",         "2.0.0",            "10.0.0"};
  for (std::size_t i = 0; i + 1 < std::size(chain); ++i) {
    INFO(chain[i] << " < " << chain[i + 1]);
    CHECK(parse_semver(chain[i]) < parse_semver(chain[i + 1]));
    CHECK_FALSE(parse_semver(chain[i + 1]) < parse_semver(chain[i]));
  }
  CHECK(compare(parse_semver("1.0.0+a"), parse_semver("1.0.0+b")) == std::strong_ordering::equal);
}

TEST_CASE("bump picks the next version", "[names][semver]") {
  CHECK(bump(parse_semver("1.4.2"), BumpKind::major).str() == "2.0.0");
  CHECK(bump(parse_semver("1.4.2"), BumpKind::minor).str() == "1.5.0");
  CHECK(bump(parse_semver("1.4.2"), BumpKind::patch).str() == "1.4.3");
  CHECK(bump(parse_semver("1.5.0-rc.1"), BumpKind::minor).str() == "1.5.0");
  CHECK(bump(parse_semver("2.0.0-rc.1"), BumpKind::major).str() == "2.0.0");
  CHECK(bump(parse_semver("1.4.3-rc.1"), BumpKind::patch).str() == "1.4.3");
  CHECK(code_of([] { parse_bump("huge"); }) == ExitCode::usage);
  CHECK(parse_semver("9223372036854775807.0.0").major == 9223372036854775807ULL);
  CHECK(code_of([] { bump(parse_semver("9223372036854775807.0.0"), BumpKind::major); }) ==
        ExitCode::usage);
  CHECK(bump(parse_semver("9223372036854775807.0.0"), BumpKind::minor).str() ==
        "9223372036854775807.1.0");
}

TEST_CASE("references parse in every form", "[names][ref]") {
  auto r = parse_ref("churn@1.4.0");
  CHECK(r.name == "churn");
  CHECK(r.kind == Ref::Kind::version);
  CHECK(r.version.str() == "1.4.0");
  CHECK(parse_ref("churn@v1.4.0").version.str() == "1.4.0");
  CHECK(parse_ref("churn").kind == Ref::Kind::latest);
  CHECK(parse_ref("churn@latest").kind == Ref::Kind::latest);
  r = parse_ref("team/churn@production");
  CHECK(r.name == "team/churn");
  CHECK(r.kind == Ref::Kind::stage);
  CHECK(r.stage == "production");
  CHECK(parse_ref("churn#staging").stage == "staging");
  r = parse_ref("churn@sha256:ABCDEF012345");
  CHECK(r.kind == Ref::Kind::digest);
  CHECK(r.digest_hex == "abcdef012345");
}

TEST_CASE("malformed references are usage errors", "[names][ref]") {
  for (const char* text : {"churn@", "churn@1.2", "churn@sha256:abc", "churn@sha256:zzzzzzzzzzzzzz",
                           "Churn@1.0.0", "@1.0.0", "churn@Prod", "churn#", "churn@v1"}) {
    INFO(text);
    CHECK(code_of([&] { parse_ref(text); }) == ExitCode::usage);
  }
}

TEST_CASE("stage names follow the rule", "[names][stage]") {
  CHECK_NOTHROW(validate_stage("production"));
  CHECK_NOTHROW(validate_stage("canary-2"));
  CHECK(code_of([] { validate_stage("latest"); }) == ExitCode::usage);
  CHECK(code_of([] { validate_stage("2prod"); }) == ExitCode::usage);
}
