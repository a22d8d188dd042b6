// lastmile list, show, history

#include <catch2/catch.hpp>
#include <thread>

#include "tests/e2e/sandbox.hpp"

using lm::test::Sandbox;

namespace {

void populate(Sandbox& sb) {
  REQUIRE(sb.run({"init"}).rc == 0);
  sb.write("a.bin", "a");
  sb.write("b.bin", "bb");
  REQUIRE(sb.run({"register", "churn", "a.bin", "--version", "1.0.0"}).rc == 0);
  REQUIRE(sb.run({"register", "churn", "b.bin", "--version", "1.1.0"}).rc == 0);
  REQUIRE(sb.run({"register", "team/fraud", "b.bin", "--version", "2.0.0-rc.1"}).rc == 0);
}

}  // namespace

TEST_CASE("list on an empty registry prints nothing and a note", "[e2e][list]") {
  Sandbox sb;
  REQUIRE(sb.run({"init"}).rc == 0);
  const auto r = sb.run({"list"});
  CHECK(r.rc == 0);
  CHECK(r.out.empty());
  CHECK_THAT(r.err, Catch::Contains("no models registered yet"));
  CHECK(sb.run({"list", "--json"}).json()["models"].empty());
}

TEST_CASE("list shows models with their latest release", "[e2e][list]") {
  Sandbox sb;
  populate(sb);
  const auto r = sb.run({"list"});
  CHECK(r.rc == 0);
  CHECK_THAT(r.out, Catch::StartsWith("NAME        KIND   LATEST  VERSIONS  UPDATED\n"
                                      "churn       model  1.1.0   2"));
  CHECK_THAT(r.out, Catch::Contains("team/fraud  model  -       1"));
  const auto j = sb.run({"list", "--json"}).json();
  REQUIRE(j["models"].size() == 2);
  CHECK(j["models"][0]["name"] == "churn");
  CHECK(j["models"][0]["latest"] == "1.1.0");
  CHECK(j["models"][0]["versions"] == 2);
  CHECK(j["models"][1]["latest"].is_null());
}

TEST_CASE("list NAME shows the versions, highest first", "[e2e][list]") {
  Sandbox sb;
  populate(sb);
  const auto r = sb.run({"list", "churn"});
  CHECK(r.rc == 0);
  CHECK_THAT(r.out, Catch::StartsWith("VERSION  DIGEST"));
  CHECK(r.out.find("1.1.0") < r.out.find("1.0.0"));
  const auto j = sb.run({"list", "churn", "--json"}).json();
  CHECK(j["name"] == "churn");
  REQUIRE(j["versions"].size() == 2);
  CHECK(j["versions"][0]["version"] == "1.1.0");
}

TEST_CASE("show resolves every reference form", "[e2e][show]") {
  Sandbox sb;
  populate(sb);
  const std::string digest = sb.run({"show", "churn@1.0.0", "--json"}).json()["digest"];
  const std::pair<std::string, std::string> cases[] = {
      {"churn", "1.1.0"},
      {"churn@latest", "1.1.0"},
      {"churn@1.0.0", "1.0.0"},
      {"churn@v1.0.0", "1.0.0"},
      {"churn@sha256:" + digest.substr(7, 12), "1.0.0"},
      {"churn@sha256:" + digest.substr(7), "1.0.0"},
      {"team/fraud@2.0.0-rc.1", "2.0.0-rc.1"},
  };
  for (const auto& [ref, version] : cases) {
    INFO(ref);
    const auto r = sb.run({"show", ref, "--json"});
    REQUIRE(r.rc == 0);
    CHECK(r.json()["version"] == version);
  }
  const auto pre = sb.run({"show", "team/fraud"});
  CHECK(pre.rc == 66);
  CHECK_THAT(pre.err, Catch::Contains("has no release version yet"));
}

TEST_CASE("a digest held by several versions resolves to the highest", "[e2e][show]") {
  Sandbox sb;
  populate(sb);
  REQUIRE(sb.run({"register", "churn", "a.bin", "--version", "1.2.0"}).rc == 0);  // same bytes as 1.0.0
  const std::string digest = sb.run({"show", "churn@1.0.0", "--json"}).json()["digest"];
  const auto r = sb.run({"show", "churn@" + digest, "--json"});
  REQUIRE(r.rc == 0);
  CHECK(r.json()["version"] == "1.2.0");
}

TEST_CASE("show prints a readable summary", "[e2e][show]") {
  Sandbox sb;
  populate(sb);
  const auto r = sb.run({"show", "churn@1.0.0"});
  CHECK(r.rc == 0);
  CHECK_THAT(r.out, Catch::StartsWith("churn@1.0.0  (model)\ndigest       sha256:"));
  CHECK_THAT(r.out, Catch::Contains("size         1 B in 1 file") &&
                        Catch::Contains("registered   ") && Catch::Contains(" by Ada Lovelace") &&
                        Catch::Contains("git          ") && Catch::Contains(" on main") &&
                        Catch::Contains("files\n  PATH   SIZE  SHA256\n  a.bin  1 B   ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"));
}

TEST_CASE("control characters in values are shown as escapes", "[e2e][show]") {
  Sandbox sb;
  REQUIRE(sb.run({"init"}).rc == 0);
  sb.write("a.bin", "a");
  REQUIRE(sb.run({"register", "churn", "a.bin", "--description", "line one\nline two \x1b[2J",
                  "--owner", "ada\r"}).rc == 0);
  const auto r = sb.run({"show", "churn"});
  CHECK(r.rc == 0);
  CHECK_THAT(r.out, Catch::Contains("description  line one\\nline two \\x1b[2J\n") &&
                        Catch::Contains("owner        ada\\r\n"));
  CHECK(r.out.find('\x1b') == std::string::npos);
  // JSON keeps the value exactly.
  CHECK(sb.run({"show", "churn", "--json"}).json()["description"] == "line one\nline two \x1b[2J");
}

TEST_CASE("history lists events newest first, by name, limited", "[e2e][history]") {
  Sandbox sb;
  populate(sb);
  const auto r = sb.run({"history"});
  CHECK(r.rc == 0);
  CHECK_THAT(r.out, Catch::StartsWith("SEQ  TIME"));
  CHECK(r.out.find("team/fraud@2.0.0-rc.1") < r.out.find("churn@1.0.0"));
  const auto j = sb.run({"history", "--json"}).json();
  REQUIRE(j["events"].size() == 3);
  const auto& newest = j["events"][0];
  CHECK(newest["seq"] == 3);
  CHECK(newest["kind"] == "version.registered");
  CHECK(newest["subject"] == "team/fraud@2.0.0-rc.1");
  CHECK(newest["actor"] == "Ada Lovelace <ada@example.com>");
  CHECK(newest["prev"] == j["events"][1]["id"]);
  CHECK(newest["payload"]["version"] == "2.0.0-rc.1");
  CHECK(sb.run({"history", "churn", "--json"}).json()["events"].size() == 2);
  CHECK(sb.run({"history", "-n", "1", "--json"}).json()["events"].size() == 1);
}

TEST_CASE("show --at and history --at answer as the registry stood then", "[e2e][show][history][time]") {
  Sandbox sb;
  REQUIRE(sb.run({"init"}).rc == 0);
  sb.write("a.bin", "a");
  sb.write("b.bin", "b");
  REQUIRE(sb.run({"register", "churn", "a.bin", "--version", "1.0.0"}).rc == 0);
  const std::string first = sb.run({"history", "--json"}).json()["events"][0]["time"];
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  REQUIRE(sb.run({"register", "churn", "b.bin", "--version", "1.1.0"}).rc == 0);
  auto r = sb.run({"show", "churn", "--at", first, "--json"});
  REQUIRE(r.rc == 0);
  CHECK(r.json()["version"] == "1.0.0");
  CHECK(r.json()["as_of"] == first);
  CHECK_THAT(sb.run({"show", "churn", "--at", first}).err,
             Catch::Contains("as of " + first + ", churn was churn@1.0.0"));
  CHECK(sb.run({"show", "churn", "--json"}).json()["version"] == "1.1.0");
  CHECK(sb.run({"show", "churn", "--json"}).json()["as_of"].is_null());
  // A version registered later did not exist then.
  r = sb.run({"show", "churn@1.1.0", "--at", first});
  CHECK(r.rc == 66);
  CHECK_THAT(r.err, Catch::Contains("no version '1.1.0' of 'churn' at " + first));
  CHECK(sb.run({"history", "--at", first, "--json"}).json()["events"].size() == 1);
  CHECK(sb.run({"history", "churn", "--json"}).json()["events"].size() == 2);
  // A time zone offset means the same moment.
  r = sb.run({"show", "churn", "--at", "2000-01-01T01:00:00+01:00"});
  CHECK(r.rc == 66);
  CHECK_THAT(r.err, Catch::Contains("'churn' had no release version at 2000-01-01T00:00:00.000000Z"));
  r = sb.run({"show", "churn", "--at", "yesterday"});
  CHECK(r.rc == 64);
  CHECK_THAT(r.err, Catch::Contains("invalid time 'yesterday'"));
  CHECK(sb.run({"history", "--at", "soon"}).rc == 64);
}
