// Registering, resolving and verifying through the library.

#include <sqlite3.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>

#include "registry/core/error.hpp"
#include "registry/core/git.hpp"
#include "registry/register.hpp"
#include "registry/registry.hpp"
#include "registry/schema.hpp"
#include "registry/stat_cache.hpp"
#include "registry/verify.hpp"
#include "tests/unit/helpers.hpp"

using namespace lm;
using lm::test::code_of;

namespace {

struct Fixture {
  test::TempDir dir;
  RegistryLocation location{dir / ".lastmile", true, false};

  Registry open() {
    Registry::init(location, std::chrono::seconds(1));
    return Registry::open(location, std::chrono::seconds(1));
  }

  RegisterRequest request(const std::string& name, const fs::path& path) const {
    RegisterRequest r;
    r.name = name;
    r.path = path;
    r.actor = "ada";
    r.cwd = dir.path();
    return r;
  }
};

bool no_temp_files(const Registry& reg) {
  for (const auto& e : fs::directory_iterator(reg.store().temp_dir())) {
    if (e.path().extension() != ".lock") return false;
  }
  return true;
}

}  // namespace

TEST_CASE("versions are picked from the highest, and resolve by every ref form", "[registry]") {
  Fixture f;
  Registry reg = f.open();
  f.dir.write("a.bin", "a");
  f.dir.write("b.bin", "b");
  const auto first = register_version(reg, f.request("churn", f.dir / "a.bin"), nullptr);
  CHECK(first.created);
  CHECK(first.version.version == "0.1.0");
  CHECK(first.new_objects == 1);
  auto r = f.request("churn", f.dir / "b.bin");
  r.bump = BumpKind::major;
  CHECK(register_version(reg, r, nullptr).version.version == "1.0.0");
  r.version = parse_semver("2.0.0-rc.1");
  CHECK(register_version(reg, r, nullptr).version.version == "2.0.0-rc.1");
  CHECK(resolve(reg.db(), parse_ref("churn")).version == "1.0.0");  // pre-releases are not latest
  CHECK(resolve(reg.db(), parse_ref("churn@2.0.0-rc.1")).version == "2.0.0-rc.1");
  const std::string hex = first.version.digest.substr(7, 16);
  CHECK(resolve(reg.db(), parse_ref("churn@sha256:" + hex)).version == "0.1.0");
  CHECK(code_of([&] { resolve(reg.db(), parse_ref("churn@9.9.9")); }) == ExitCode::not_found);
  CHECK(code_of([&] { resolve(reg.db(), parse_ref("nope")); }) == ExitCode::not_found);
  CHECK(code_of([&] { resolve(reg.db(), parse_ref("churn@production")); }) == ExitCode::not_found);
  const auto models = list_models(reg.db());
  REQUIRE(models.size() == 1);
  CHECK(models[0].latest == "1.0.0");
  CHECK(models[0].version_count == 3);
  const auto versions = list_versions(reg.db(), "churn");
  REQUIRE(versions.size() == 3);
  CHECK(versions[0].version == "2.0.0-rc.1");
  CHECK(versions[2].version == "0.1.0");
}

TEST_CASE("an ambiguous digest prefix lists the versions it matches", "[registry]") {
  Fixture f;
  Registry reg = f.open();
  f.dir.write("a.bin", "a");
  f.dir.write("b.bin", "b");
  register_version(reg, f.request("churn", f.dir / "a.bin"), nullptr);
  register_version(reg, f.request("churn", f.dir / "b.bin"), nullptr);
  // Two digests that share their first 12 hex digits.
  reg.db().exec("UPDATE versions SET digest = 'sha256:aaaaaaaaaaaa' || substr(digest, 20)");
  try {
    resolve(reg.db(), parse_ref("churn@sha256:aaaaaaaaaaaa"));
    FAIL("resolved");
  } catch (const Error& e) {
    CHECK(e.code() == ExitCode::usage);
    CHECK_THAT(e.what(), Catch::Contains("is ambiguous: it matches churn@0.1.0 (sha256:aaaaaaaaaaaa") &&
                             Catch::Contains("churn@0.2.0 (sha256:aaaaaaaaaaaa"));
  }
}

TEST_CASE("a version never changes: same bytes no-op, other bytes refused", "[registry]") {
  Fixture f;
  Registry reg = f.open();
  f.dir.write("a.bin", "a");
  f.dir.write("b.bin", "b");
  auto r = f.request("churn", f.dir / "a.bin");
  r.version = parse_semver("1.0.0");
  REQUIRE(register_version(reg, r, nullptr).created);
  const auto again = register_version(reg, r, nullptr);
  CHECK_FALSE(again.created);
  CHECK_FALSE(again.metadata_differs);
  r.owner = "someone else";
  CHECK(register_version(reg, r, nullptr).metadata_differs);
  r.owner.clear();
  r.version = parse_semver("1.0.0");
  CHECK_FALSE(register_version(reg, r, nullptr).metadata_differs);  // none given
  r.path = f.dir / "b.bin";
  r.path = f.dir / "b.bin";
  CHECK(code_of([&] { register_version(reg, r, nullptr); }) == ExitCode::check_failed);
  CHECK(verify_chain(reg.db()).events == 1);
  CHECK(no_temp_files(reg));
}

TEST_CASE("a held write lock turns into temp_fail after the timeout", "[registry][lock]") {
  Fixture f;
  { Registry reg = f.open(); }
  f.dir.write("a.bin", "a");
  sql::Db holder = sql::Db::open(f.location.dir / "registry.db", sql::OpenMode::read_write,
                                 std::chrono::seconds(1));
  holder.exec("BEGIN IMMEDIATE");
  Registry reg = Registry::open(f.location, std::chrono::milliseconds(200));
  try {
    register_version(reg, f.request("churn", f.dir / "a.bin"), nullptr);
    FAIL("registered while locked");
  } catch (const Error& e) {
    CHECK(e.code() == ExitCode::temp_fail);
    CHECK_THAT(e.what(), Catch::Contains("registry busy"));
  }
  holder.exec("ROLLBACK");
  CHECK(no_temp_files(reg));
  CHECK(register_version(reg, f.request("churn", f.dir / "a.bin"), nullptr).created);
}

TEST_CASE("a registry written by a newer schema is refused", "[registry][schema]") {
  Fixture f;
  { Registry reg = f.open(); reg.db().exec("PRAGMA user_version = 99"); }
  try {
    Registry::open(f.location, std::chrono::seconds(1));
    FAIL("opened");
  } catch (const Error& e) {
    CHECK(e.code() == ExitCode::data);
    CHECK_THAT(e.what(), Catch::Contains("schema v99 is newer than supported v" +
                                         std::to_string(k_schema_version)));
  }
}

TEST_CASE("a registry from schema v1 gains the stage tables and keeps its versions", "[registry][schema]") {
  Fixture f;
  f.dir.write("a.bin", "a");
  {
    Registry reg = f.open();
    register_version(reg, f.request("churn", f.dir / "a.bin"), nullptr);
    // What a v1 registry looks like: no stage, approval or gate tables.
    reg.db().exec("DROP TABLE stage_assignments; DROP TABLE stage_history; DROP TABLE approvals; "
                  "DROP TABLE gate_results; DROP INDEX events_by_time; DROP TABLE deployments; "
                  "DROP TABLE sync_state; DROP TABLE artifact_locations; "
                  "DROP TABLE feedback; DROP TABLE drift_measurements; DROP TABLE profiles; PRAGMA user_version = 1");
  }
  Registry reg = Registry::open(f.location, std::chrono::seconds(1));
  CHECK(schema_version(reg.db()) == k_schema_version);
  CHECK(reg.db().query_int("SELECT COUNT(*) FROM stage_history") == 0);
  CHECK(list_versions(reg.db(), "churn").size() == 1);
}

TEST_CASE("a registry from schema v2 gains the deployments table", "[registry][schema]") {
  Fixture f;
  f.dir.write("a.bin", "a");
  {
    Registry reg = f.open();
    register_version(reg, f.request("churn", f.dir / "a.bin"), nullptr);
    reg.db().exec("DROP TABLE deployments; DROP TABLE sync_state; DROP TABLE artifact_locations; "
                  "DROP TABLE feedback; DROP TABLE drift_measurements; DROP TABLE profiles; PRAGMA user_version = 2");
  }
  Registry reg = Registry::open(f.location, std::chrono::seconds(1));
  CHECK(schema_version(reg.db()) == k_schema_version);
  CHECK(reg.db().query_int("SELECT COUNT(*) FROM deployments") == 0);
  CHECK(list_versions(reg.db(), "churn").size() == 1);
}

TEST_CASE("a registry from schema v4 gains the profile, drift and feedback tables", "[registry][schema]") {
  Fixture f;
  f.dir.write("a.bin", "a");
  {
    Registry reg = f.open();
    register_version(reg, f.request("churn", f.dir / "a.bin"), nullptr);
    reg.db().exec("DROP TABLE feedback; DROP TABLE drift_measurements; DROP TABLE profiles; PRAGMA user_version = 4");
  }
  Registry reg = Registry::open(f.location, std::chrono::seconds(1));
  CHECK(schema_version(reg.db()) == k_schema_version);
  for (const char* table : {"profiles", "drift_measurements", "feedback"}) {
    CHECK(reg.db().query_int(std::string("SELECT COUNT(*) FROM ") + table) == 0);
  }
  CHECK(list_versions(reg.db(), "churn").size() == 1);
}

TEST_CASE("a registry from schema v3 gains the sync state and artifact location tables", "[registry][schema]") {
  Fixture f;
  f.dir.write("a.bin", "a");
  {
    Registry reg = f.open();
    register_version(reg, f.request("churn", f.dir / "a.bin"), nullptr);
    reg.db().exec("DROP TABLE sync_state; DROP TABLE artifact_locations; "
                  "DROP TABLE feedback; DROP TABLE drift_measurements; DROP TABLE profiles; PRAGMA user_version = 3");
  }
  Registry reg = Registry::open(f.location, std::chrono::seconds(1));
  CHECK(schema_version(reg.db()) == k_schema_version);
  CHECK(reg.db().query_int("SELECT COUNT(*) FROM sync_state") == 0);
  CHECK(reg.db().query_int("SELECT COUNT(*) FROM artifact_locations") == 0);
  CHECK(list_versions(reg.db(), "churn").size() == 1);
}

TEST_CASE("opening a missing registry says how to create one", "[registry]") {
  Fixture f;
  try {
    Registry::open(f.location, std::chrono::seconds(1));
    FAIL("opened");
  } catch (const Error& e) {
    CHECK(e.code() == ExitCode::not_found);
    CHECK_THAT(e.hint(), Catch::Contains("init"));
  }
}

TEST_CASE("verify trusts an unchanged stat, rehashes a changed one", "[registry][verify]") {
  Fixture f;
  Registry reg = f.open();
  f.dir.write("m/w.bin", std::string(1000, 'w'));
  auto r = f.request("churn", f.dir / "m");
  r.store = StoreMode::reference;
  register_version(reg, r, nullptr);
  // Make the cache entry old enough not to be racy.
  reg.db().exec("UPDATE stat_cache SET racy = 0");
  VerifyReport report = verify(reg, {}, false, nullptr);
  CHECK(report.ok());
  CHECK(report.files_from_cache == 1);
  CHECK(report.files_hashed == 0);
  report = verify(reg, {}, true, nullptr);
  CHECK(report.files_hashed == 1);
  f.dir.write("m/w.bin", std::string(999, 'w') + "x");  // same size, new content
  report = verify(reg, {}, false, nullptr);
  REQUIRE_FALSE(report.ok());
  CHECK(report.problems[0].kind == "changed");
  CHECK(report.problems[0].path == "w.bin");
}

TEST_CASE("a stat entry taken right after a change is racy", "[registry][stat]") {
  struct stat st {};
  st.st_size = 10;
  st.st_mtim = {100, 5};
  st.st_ctim = {100, 5};
  const std::int64_t changed = 100'000'000'000;
  CHECK(make_stat_entry(st, "x", changed + 1'000'000).racy);
  const StatEntry old = make_stat_entry(st, "x", changed + 2'000'000'000);
  CHECK_FALSE(old.racy);
  CHECK(stat_matches(old, st));
  struct stat touched = st;
  touched.st_ctim = {101, 0};
  CHECK_FALSE(stat_matches(old, touched));
  // Whole-second times: the file system's clock is coarse; wait longer.
  struct stat coarse = st;
  coarse.st_mtim = {100, 0};
  coarse.st_ctim = {100, 0};
  CHECK(make_stat_entry(coarse, "x", 102'000'000'000).racy);
  CHECK_FALSE(make_stat_entry(coarse, "x", 104'000'000'000).racy);
}
