// lastmile init

#include <sys/stat.h>

#include <catch2/catch.hpp>

#include "tests/e2e/sandbox.hpp"

using lm::test::Sandbox;
namespace fs = std::filesystem;

TEST_CASE("init creates .lastmile at the top of the work tree, ignored by git", "[e2e][init]") {
  Sandbox sb;
  fs::create_directories(sb.repo() / "src/deep");
  const auto r = sb.run({"init"}, {.cwd = sb.repo() / "src/deep"});
  CHECK(r.rc == 0);
  CHECK(r.out == "initialized empty lastmile registry in " + sb.registry().string() + "\n" +
                     "wrote an example policy to " + (sb.repo() / "lastmile.yaml").string() +
                     " (the default stages, gates commented out)\n");
  CHECK(r.err.empty());
  CHECK(fs::exists(sb.registry() / "registry.db"));
  CHECK(fs::is_directory(sb.registry() / "objects/sha256"));
  CHECK(sb.read(sb.registry() / ".gitignore") == "*\n");
  const auto status = sb.exec({"git", "status", "--porcelain"});
  CHECK(status.out == "?? lastmile.yaml\n");  // the registry itself never shows up
  // The example policy is valid and means the default.
  const auto check = sb.run({"policy", "check"});
  CHECK(check.rc == 0);
  CHECK(check.out == "lastmile.yaml: ok: 3 stages (sandbox → staging → production), 0 gates\n");
}

TEST_CASE("init again changes nothing and says so", "[e2e][init]") {
  Sandbox sb;
  REQUIRE(sb.run({"init"}).rc == 0);
  sb.write("m.bin", "w");
  REQUIRE(sb.run({"register", "churn", "m.bin"}).rc == 0);
  const auto r = sb.run({"init"});
  CHECK(r.rc == 0);
  CHECK_THAT(r.out, Catch::Contains("already exists"));
  CHECK(sb.event_count() == 1);
  const auto j = sb.run({"init", "--json"}).json();
  CHECK(j["created"] == false);
  CHECK(j["repaired"].empty());
  CHECK(j["policy_created"] == false);  // an existing lastmile.yaml is never touched
  fs::remove_all(sb.registry() / "tmp");
  const auto repaired = sb.run({"init"});
  CHECK(repaired.out == "registry already exists in " + sb.registry().string() + "; recreated missing tmp/\n");
  CHECK(fs::is_directory(sb.registry() / "tmp"));
  CHECK(j["registry"] == sb.registry().string());
}

TEST_CASE("outside git the registry goes in the current directory", "[e2e][init]") {
  Sandbox sb(false);
  const auto r = sb.run({"init", "--json"});
  CHECK(r.rc == 0);
  CHECK(r.json()["created"] == true);
  CHECK(fs::exists(sb.repo() / ".lastmile/registry.db"));
}

TEST_CASE("options --registry and LASTMILE_REGISTRY choose the directory", "[e2e][init]") {
  Sandbox sb;
  const fs::path elsewhere = sb.root() / "shared-registry";
  CHECK(sb.run({"--registry", elsewhere.string(), "init"}).rc == 0);
  CHECK(fs::exists(elsewhere / "registry.db"));
  CHECK_FALSE(fs::exists(sb.registry()));
  sb.write("m.bin", "w");
  CHECK(sb.run({"register", "churn", "m.bin"}, {.env = {{"LASTMILE_REGISTRY", elsewhere.string()}}}).rc == 0);
  const auto r = sb.run({"--registry", elsewhere.string(), "list"});
  CHECK_THAT(r.out, Catch::Contains("churn"));
  const auto missing = sb.run({"--registry", (sb.root() / "nope").string(), "list"});
  CHECK(missing.rc == 66);
  CHECK_THAT(missing.err, Catch::Contains("lastmile --registry " + (sb.root() / "nope").string() + " init"));
}

TEST_CASE("init where it may not write is a permission error", "[e2e][init]") {
  Sandbox sb;
  const fs::path locked = sb.root() / "locked";
  fs::create_directories(locked);
  ::chmod(locked.c_str(), 0555);
  const auto r = sb.run({"--registry", (locked / "reg").string(), "init"},
                        {.cwd = sb.root(), .as_unprivileged_user = true});
  CHECK(r.rc == 77);
  CHECK(r.out.empty());
  CHECK_THAT(r.err, Catch::Contains("lastmile: error: cannot create directory '" +
                                    (locked / "reg").string() + "': permission denied"));
  CHECK_FALSE(fs::exists(locked / "reg"));
}
