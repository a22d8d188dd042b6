// Stages: where registration lands, promote, approve, rollback, status --at
// and the audit trail of it all.

#include <catch2/catch.hpp>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <map>

#include "tests/e2e/sandbox.hpp"

using lm::test::RunOptions;
using lm::test::RunResult;
using lm::test::Sandbox;

namespace {

RunOptions as(const std::string& actor) { return {.env = {{"LASTMILE_ACTOR", actor}}}; }

// What a refusal must leave alone: the log and what every stage holds.
struct Snapshot {
  long events = 0;
  nlohmann::json status;
};

Snapshot snapshot(const Sandbox& sb) { return {sb.event_count(), sb.run({"status", "--json"}).json()}; }

void require_unchanged(const Sandbox& sb, const Snapshot& before) {
  CHECK(sb.event_count() == before.events);
  CHECK(sb.run({"status", "--json"}).json() == before.status);
}

// A registry with `count` versions of churn (0.1.0, 0.2.0, ...) registered
// by alice, under the default stages written by init.
void populate(Sandbox& sb, int count, const std::string& extra_policy = "") {
  REQUIRE(sb.run({"init"}).rc == 0);
  if (!extra_policy.empty()) sb.write("lastmile.yaml", extra_policy);
  for (int i = 1; i <= count; ++i) {
    sb.write("m" + std::to_string(i) + ".bin", "weights " + std::to_string(i));
    const RunResult r = sb.run({"register", "churn", "m" + std::to_string(i) + ".bin"}, as("alice"));
    INFO(r.err);
    REQUIRE(r.rc == 0);
  }
}

std::string v(int minor) { return "0." + std::to_string(minor) + ".0"; }

void promote(const Sandbox& sb, const std::string& version, const std::string& stage,
             const std::string& actor = "alice") {
  const RunResult r = sb.run({"promote", "churn@" + version, "--to", stage}, as(actor));
  INFO("promote " << version << " to " << stage << ": " << r.err);
  REQUIRE(r.rc == 0);
}

// Through staging into production.
void release(const Sandbox& sb, const std::string& version) {
  promote(sb, version, "staging");
  promote(sb, version, "production");
}

// The version a stage of churn holds per `status --json` (null when none).
nlohmann::json held(const nlohmann::json& status, const std::string& stage) {
  for (const auto& m : status["models"]) {
    if (m["name"] != "churn") continue;
    for (const auto& s : m["stages"]) {
      if (s["stage"] == stage) return s["version"];
    }
  }
  FAIL("status has no stage " << stage);
  return nullptr;
}

nlohmann::json held(const Sandbox& sb, const std::string& stage) {
  return held(sb.run({"status", "--json"}).json(), stage);
}

// Microseconds since the epoch of an event time ("2026-11-24T18:38:00.123456Z").
std::int64_t micros(const std::string& time) {
  std::tm tm{};
  REQUIRE(time.size() == 27);
  REQUIRE(::strptime(time.c_str(), "%Y-%m-%dT%H:%M:%S", &tm) != nullptr);
  return static_cast<std::int64_t>(::timegm(&tm)) * 1000000 + std::stoll(time.substr(20, 6));
}

// The time halfway between two event times, written with a UTC offset of
// `offset_minutes`.
std::string halfway(const std::string& a, const std::string& b, int offset_minutes) {
  const std::int64_t mid = (micros(a) + micros(b)) / 2;
  REQUIRE(micros(a) < mid);
  REQUIRE(mid < micros(b));
  const std::time_t local = static_cast<std::time_t>(mid / 1000000) + offset_minutes * 60;
  std::tm tm{};
  ::gmtime_r(&local, &tm);
  char text[64];
  std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%06lld", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<long long>(mid % 1000000));
  char zone[16];
  if (offset_minutes == 0) {
    std::snprintf(zone, sizeof zone, "Z");
  } else {
    std::snprintf(zone, sizeof zone, "+%02d:%02d", offset_minutes / 60, offset_minutes % 60);
  }
  return std::string(text) + zone;
}

// The newest event of the log, as audit --json shows it.
nlohmann::json last_event(const Sandbox& sb) { return sb.run({"audit", "--json"}).json()["events"][0]; }

const char* k_approvals_policy = R"(stages:
  - name: sandbox
  - name: staging
    from: [sandbox]
  - name: production
    from: [staging]
    approvals: {count: 2}
)";

const char* k_distinct_policy = R"(stages:
  - name: sandbox
  - name: staging
    from: [sandbox]
  - name: production
    from: [staging]
    approvals: {count: 1, distinct_from_registrant: true}
)";

}  // namespace

// --- where registration lands -------------------------------------------------

TEST_CASE("a registered model version lands in the default policy's first stage", "[e2e][promote]") {
  Sandbox sb;
  REQUIRE(sb.run({"init"}).rc == 0);
  std::filesystem::remove(sb.repo() / "lastmile.yaml");  // the built-in default policy
  sb.write("m.bin", "m");
  REQUIRE(sb.run({"register", "churn", "m.bin"}, as("alice")).rc == 0);
  const auto r = sb.run({"status"});
  CHECK(r.rc == 0);
  CHECK(r.err.empty());
  CHECK_THAT(r.out, Catch::StartsWith("MODEL  STAGE       VERSION  SINCE             BY     HOW\n"
                                      "churn  sandbox     0.1.0    "));
  CHECK_THAT(r.out, Catch::Contains("  alice  registered\nchurn  staging     -") &&
                        Catch::Contains("\nchurn  production  -"));
  const auto j = sb.run({"status", "--json"}).json();
  CHECK(j["at"].is_null());
  REQUIRE(j["models"].size() == 1);
  const auto& stages = j["models"][0]["stages"];
  REQUIRE(stages.size() == 3);
  CHECK(stages[0]["stage"] == "sandbox");
  CHECK(stages[0]["version"] == "0.1.0");
  CHECK(stages[0]["action"] == "registered");
  CHECK(stages[0]["by"] == "alice");
  CHECK(stages[0]["replaced"].is_null());
  CHECK(stages[1] == nlohmann::json({{"stage", "staging"}, {"version", nullptr}}));
  CHECK(stages[2] == nlohmann::json({{"stage", "production"}, {"version", nullptr}}));
  CHECK_THAT(sb.run({"audit"}).out, Catch::Contains("1 B in 1 file  into sandbox\n"));
  // The next registration takes the first stage over.
  sb.write("n.bin", "n");
  REQUIRE(sb.run({"register", "churn", "n.bin"}).rc == 0);
  CHECK(held(sb, "sandbox") == "0.2.0");
  // churn@sandbox names the holder.
  CHECK(sb.run({"show", "churn@sandbox", "--json"}).json()["version"] == "0.2.0");
}

TEST_CASE("a version lands in the first stage the policy names", "[e2e][promote]") {
  Sandbox sb;
  REQUIRE(sb.run({"init"}).rc == 0);
  sb.write("lastmile.yaml", R"(stages:
  - name: dev
  - name: qa
    from: [dev]
  - name: prod
    from: [qa]
)");
  sb.write("m.bin", "m");
  REQUIRE(sb.run({"register", "churn", "m.bin"}).rc == 0);
  const auto j = sb.run({"status", "churn", "--json"}).json();
  const auto& stages = j["models"][0]["stages"];
  REQUIRE(stages.size() == 3);
  CHECK(stages[0]["stage"] == "dev");
  CHECK(stages[0]["version"] == "0.1.0");
  CHECK(stages[1]["stage"] == "qa");
  CHECK(stages[1]["version"].is_null());
  CHECK(stages[2]["stage"] == "prod");
  CHECK(sb.run({"show", "churn@dev", "--json"}).json()["version"] == "0.1.0");
  // Nothing landed in a stage of the old policy.
  const auto r = sb.run({"show", "churn@sandbox"});
  CHECK(r.rc == 66);
  CHECK_THAT(r.err, Catch::Contains("no version of 'churn' is in stage 'sandbox'"));
}

TEST_CASE("datasets do not land in stages and cannot be promoted", "[e2e][promote]") {
  Sandbox sb;
  REQUIRE(sb.run({"init"}).rc == 0);
  sb.write("data/c.csv", "1\n");
  REQUIRE(sb.run({"dataset", "register", "customers", "data"}).rc == 0);
  CHECK(sb.run({"status", "--json"}).json()["models"].empty());
  const auto before = snapshot(sb);
  auto r = sb.run({"promote", "customers@0.1.0", "--to", "staging"});
  CHECK(r.rc == 64);
  CHECK(r.out.empty());
  CHECK(r.err == "lastmile: error: 'customers@0.1.0' is a dataset; only models move through stages\n");
  require_unchanged(sb, before);
  r = sb.run({"approve", "customers@0.1.0", "--stage", "staging"}, as("bob"));
  CHECK(r.rc == 64);
  CHECK_THAT(r.err, Catch::Contains("is a dataset"));
  r = sb.run({"rollback", "customers", "--stage", "staging", "--reason", "x"});
  CHECK(r.rc == 64);
  CHECK(r.out.empty());
  CHECK_THAT(r.err, Catch::StartsWith("lastmile: error: 'customers' is a dataset"));
  r = sb.run({"status", "customers"});
  CHECK(r.rc == 64);
  CHECK_THAT(r.err, Catch::Contains("'customers' is a dataset"));
  require_unchanged(sb, before);
}

// --- promote ------------------------------------------------------------------

TEST_CASE("promote moves a version along the path, one stage at a time", "[e2e][promote]") {
  Sandbox sb;
  populate(sb, 1);
  auto before = snapshot(sb);
  // Skipping staging is refused before any gate runs, and names the path.
  for (const bool dry_run : {false, true}) {
    std::vector<std::string> args{"promote", "churn@0.1.0", "--to", "production"};
    if (dry_run) args.push_back("--dry-run");
    const auto r = sb.run(args);
    CHECK(r.rc == 1);
    CHECK(r.out.empty());
    CHECK(r.err ==
          "lastmile: error: cannot promote 'churn@0.1.0' to 'production': 'churn@0.1.0' has not been in "
          "'staging'; the path to 'production' is sandbox → staging → production\n"
          "hint: promote it to 'staging' first\n");
    require_unchanged(sb, before);
  }
  auto r = sb.run({"promote", "churn@0.1.0", "--to", "staging"}, as("alice"));
  CHECK(r.rc == 0);
  CHECK(r.err.empty());
  CHECK(r.out ==
        "churn@0.1.0 → staging: passed (1 of 1 gates)\n"
        "  ok    from sandbox  has been in 'sandbox'\n"
        "promoted churn@0.1.0 to staging\n");
  CHECK(sb.event_count() == before.events + 2);  // the gate verdict and the move
  auto j = sb.run({"status", "--json"}).json();
  CHECK(held(j, "sandbox") == "0.1.0");  // promotion copies; the earlier stage keeps it
  CHECK(held(j, "staging") == "0.1.0");
  CHECK(held(j, "production").is_null());
  r = sb.run({"promote", "churn@staging", "--to", "production", "--json"}, as("alice"));
  CHECK(r.rc == 0);
  CHECK(r.err.empty());
  j = r.json();
  CHECK(j["version"] == "0.1.0");
  CHECK(j["promoted"] == true);
  CHECK(j["already_there"] == false);
  CHECK(j["dry_run"] == false);
  CHECK(j["replaced"].is_null());
  CHECK(held(sb, "production") == "0.1.0");
  const auto move = last_event(sb);
  CHECK(move["kind"] == "stage.assigned");
  CHECK(move["actor"] == "alice");
  CHECK(move["payload"]["stage"] == "production");
  CHECK(move["payload"]["replaced"].is_null());
  CHECK(sb.run({"verify"}).rc == 0);
}

TEST_CASE("a branching policy names the shortest path when a stage is skipped", "[e2e][promote]") {
  Sandbox sb;
  populate(sb, 1, R"(stages:
  - name: dev
  - name: shadow
    from: [dev]
  - name: staging
    from: [dev]
  - name: canary
    from: [staging, shadow]
  - name: prod
    from: [canary]
)");
  const auto before = snapshot(sb);
  const auto r = sb.run({"promote", "churn@0.1.0", "--to", "prod"});
  CHECK(r.rc == 1);
  CHECK(r.out.empty());
  CHECK(r.err ==
        "lastmile: error: cannot promote 'churn@0.1.0' to 'prod': 'churn@0.1.0' has not been in "
        "'canary'; the path to 'prod' is dev → shadow → canary → prod\n"
        "hint: promote it to 'canary' first\n");
  require_unchanged(sb, before);
  const auto canary = sb.run({"promote", "churn@0.1.0", "--to", "canary"});
  CHECK(canary.rc == 1);
  CHECK(canary.err ==
        "lastmile: error: cannot promote 'churn@0.1.0' to 'canary': 'churn@0.1.0' has not been in "
        "'staging or shadow'; the path to 'canary' is dev → shadow → canary\n"
        "hint: promote it to 'staging' or 'shadow' first\n");
  require_unchanged(sb, before);
  promote(sb, "0.1.0", "shadow");  // either way in is fine
  promote(sb, "0.1.0", "canary");
  promote(sb, "0.1.0", "prod");
  CHECK(held(sb, "prod") == "0.1.0");
}

TEST_CASE("an unknown stage is not found, and the stages are listed", "[e2e][promote]") {
  Sandbox sb;
  populate(sb, 1);
  const auto before = snapshot(sb);
  const std::string expected =
      "lastmile: error: no stage 'prod' in lastmile.yaml\nhint: the stages are: sandbox, staging, production\n";
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"promote", "churn@0.1.0", "--to", "prod"},
           {"promote", "churn@0.1.0", "--to", "prod", "--dry-run"},
           {"approve", "churn@0.1.0", "--stage", "prod"},
           {"rollback", "churn", "--stage", "prod", "--reason", "bad"}}) {
    INFO(args.front());
    const auto r = sb.run(args);
    CHECK(r.rc == 66);
    CHECK(r.out.empty());
    CHECK(r.err == expected);
    require_unchanged(sb, before);
  }
  std::filesystem::remove(sb.repo() / "lastmile.yaml");
  const auto r = sb.run({"promote", "churn@0.1.0", "--to", "prod"});
  CHECK(r.rc == 66);
  CHECK(r.err ==
        "lastmile: error: no stage 'prod' in the default policy\n"
        "hint: the stages are: sandbox, staging, production\n");
  // A stage reference to a stage nobody holds is not found either.
  const auto show = sb.run({"show", "churn@production"});
  CHECK(show.rc == 66);
  CHECK(show.out.empty());
  CHECK_THAT(show.err, Catch::Contains("no version of 'churn' is in stage 'production'"));
  require_unchanged(sb, before);
}

TEST_CASE("promoting the version a stage holds already is a no-op", "[e2e][promote]") {
  Sandbox sb;
  populate(sb, 1);
  promote(sb, "0.1.0", "staging");
  const auto before = snapshot(sb);
  const std::string since = before.status["models"][0]["stages"][1]["since"];
  for (const bool dry_run : {false, true}) {
    std::vector<std::string> args{"promote", "churn@0.1.0", "--to", "staging", "--reason", "again"};
    if (dry_run) args.push_back("--dry-run");
    const auto r = sb.run(args);
    CHECK(r.rc == 0);
    CHECK(r.err.empty());
    CHECK(r.out == "'staging' holds churn@0.1.0 already (since " + since + "); nothing to do\n");
    require_unchanged(sb, before);
  }
  const auto r = sb.run({"promote", "churn@0.1.0", "--to", "staging", "--json"});
  CHECK(r.rc == 0);
  CHECK(r.json()["already_there"] == true);
  CHECK(r.json()["promoted"] == false);
  CHECK(r.json()["incumbent"] == "0.1.0");
  require_unchanged(sb, before);
  // CI still gets the report it asked for.
  const auto json = sb.run({"promote", "churn@0.1.0", "--to", "staging", "--format", "json"});
  CHECK(json.rc == 0);
  CHECK(json.json()["already_there"] == true);
  const auto junit = sb.run({"promote", "churn@0.1.0", "--to", "staging", "--format", "junit",
                             "--output", "out/gates.xml"});
  CHECK(junit.rc == 0);
  CHECK_THAT(junit.out, Catch::Contains("nothing to do"));
  CHECK_THAT(sb.read("out/gates.xml"), Catch::Contains("<testsuites name=\"lastmile gates\" tests=\"0\""));
  require_unchanged(sb, before);
}

TEST_CASE("an --output that cannot be written stops a promotion before anything moves", "[e2e][promote]") {
  Sandbox sb;
  populate(sb, 1);
  std::filesystem::create_directories(sb.repo() / "report.xml");
  const auto before = snapshot(sb);
  const auto r = sb.run({"promote", "churn@0.1.0", "--to", "staging", "--format", "junit", "--output",
                         "report.xml"});
  CHECK(r.rc == 64);
  CHECK(r.out.empty());
  CHECK(r.err == "lastmile: error: cannot write the report to 'report.xml': it is a directory\n");
  require_unchanged(sb, before);
}

TEST_CASE("a failed promotion reports nothing replaced", "[e2e][promote]") {
  Sandbox sb;
  populate(sb, 2, "stages:\n  - name: sandbox\n  - name: staging\n    from: [sandbox]\n"
                  "    gates:\n      - {metric: auc, min: 0.9}\n");
  sb.write("m3.bin", "weights 3");
  REQUIRE(sb.run({"register", "churn", "m3.bin", "--metric", "auc=0.95"}).rc == 0);
  promote(sb, "0.3.0", "staging");
  const auto r = sb.run({"--json", "promote", "churn@0.2.0", "--to", "staging"});
  CHECK(r.rc == 1);
  CHECK(r.json()["promoted"] == false);
  CHECK(r.json()["replaced"].is_null());
  CHECK(r.json()["stage_moved"] == false);
}

TEST_CASE("a promotion replaces the holder, records what it replaced and why", "[e2e][promote]") {
  Sandbox sb;
  populate(sb, 2);
  promote(sb, "0.1.0", "staging");
  const std::string old_digest = sb.run({"show", "churn@0.1.0", "--json"}).json()["digest"];
  auto r = sb.run({"promote", "churn@0.2.0", "--to", "staging", "--reason", "retrained on March data"},
                  as("bob"));
  CHECK(r.rc == 0);
  CHECK(r.err.empty());
  CHECK_THAT(r.out, Catch::EndsWith("promoted churn@0.2.0 to staging (replacing churn@0.1.0)\n"));
  const auto move = last_event(sb);
  CHECK(move["kind"] == "stage.assigned");
  CHECK(move["subject"] == "churn@0.2.0");
  CHECK(move["actor"] == "bob");
  CHECK(move["payload"]["reason"] == "retrained on March data");
  CHECK(move["payload"]["replaced"] ==
        nlohmann::json({{"name", "churn"}, {"version", "0.1.0"}, {"digest", old_digest}}));
  const auto status = sb.run({"status", "--json"}).json()["models"][0]["stages"][1];
  CHECK(status["version"] == "0.2.0");
  CHECK(status["replaced"] == "0.1.0");
  CHECK(status["reason"] == "retrained on March data");
  CHECK(status["by"] == "bob");
  CHECK(status["action"] == "promoted");
  const auto audit = sb.run({"audit", "churn"});
  CHECK(audit.rc == 0);
  CHECK_THAT(audit.out, Catch::Contains("stage.assigned      churn@0.2.0  bob    "
                                        "into staging (was 0.1.0): retrained on March data\n"));
  CHECK(sb.run({"verify"}).rc == 0);
}

TEST_CASE("promote --dry-run evaluates and changes nothing", "[e2e][promote]") {
  Sandbox sb;
  REQUIRE(sb.run({"init"}).rc == 0);
  sb.write("lastmile.yaml", R"(stages:
  - name: sandbox
  - name: staging
    from: [sandbox]
    gates:
      - {metric: auc, min: 0.9}
  - name: production
    from: [staging]
)");
  sb.write("a.bin", "a");
  sb.write("b.bin", "b");
  REQUIRE(sb.run({"register", "churn", "a.bin", "--metric", "auc=0.95"}).rc == 0);
  REQUIRE(sb.run({"register", "churn", "b.bin", "--metric", "auc=0.8"}).rc == 0);
  const auto before = snapshot(sb);
  auto r = sb.run({"promote", "churn@0.1.0", "--to", "staging", "--dry-run"});
  CHECK(r.rc == 0);
  CHECK(r.err.empty());
  CHECK_THAT(r.out, Catch::StartsWith("churn@0.1.0 → staging: passed (2 of 2 gates)\n") &&
                        Catch::EndsWith("dry run: churn@0.1.0 would be promoted to staging; nothing was changed\n"));
  require_unchanged(sb, before);
  r = sb.run({"promote", "churn@0.1.0", "--to", "staging", "--dry-run", "--json"});
  CHECK(r.rc == 0);
  CHECK(r.json()["dry_run"] == true);
  CHECK(r.json()["promoted"] == false);
  CHECK(r.json()["passed"] == true);
  require_unchanged(sb, before);
  // A failing gate in a dry run: refused, and still nothing recorded.
  r = sb.run({"promote", "churn@0.2.0", "--to", "staging", "--dry-run"});
  CHECK(r.rc == 1);
  CHECK_THAT(r.out, Catch::Contains("FAIL  auc >= 0.9"));
  CHECK(r.err ==
        "lastmile: error: dry run: cannot promote 'churn@0.2.0' to 'staging': gate 'auc >= 0.9' failed "
        "(auc 0.8 < 0.9)\n");
  require_unchanged(sb, before);
  // The real thing records the failed verdict as evidence, and moves nothing.
  r = sb.run({"promote", "churn@0.2.0", "--to", "staging"});
  CHECK(r.rc == 1);
  CHECK(r.err ==
        "lastmile: error: cannot promote 'churn@0.2.0' to 'staging': gate 'auc >= 0.9' failed (auc 0.8 < 0.9)\n");
  CHECK(sb.event_count() == before.events + 1);
  CHECK(last_event(sb)["kind"] == "gate.evaluated");
  CHECK(last_event(sb)["payload"]["passed"] == false);
  CHECK(sb.run({"status", "--json"}).json() == before.status);
  // Dry run after a real promotion says what it would replace.
  promote(sb, "0.1.0", "staging");
  sb.write("c.bin", "c");
  REQUIRE(sb.run({"register", "churn", "c.bin", "--metric", "auc=0.97"}).rc == 0);
  const auto later = snapshot(sb);
  r = sb.run({"promote", "churn@0.3.0", "--to", "staging", "--dry-run"});
  CHECK(r.rc == 0);
  CHECK_THAT(r.out, Catch::EndsWith("dry run: churn@0.3.0 would be promoted to staging "
                                    "(replacing churn@0.1.0); nothing was changed\n"));
  require_unchanged(sb, later);
}

// --- approvals ----------------------------------------------------------------

TEST_CASE("approvals count distinct actors, and promotion waits for enough", "[e2e][promote]") {
  Sandbox sb;
  populate(sb, 1, k_approvals_policy);
  promote(sb, "0.1.0", "staging");
  auto before = snapshot(sb);
  auto r = sb.run({"promote", "churn@0.1.0", "--to", "production"});
  CHECK(r.rc == 1);
  CHECK_THAT(r.out, Catch::Contains("FAIL  approvals >= 2  0 of 2 approvals\n"));
  CHECK(r.err ==
        "lastmile: error: cannot promote 'churn@0.1.0' to 'production': gate 'approvals >= 2' failed "
        "(0 of 2 approvals)\nhint: an approver runs 'lastmile approve churn@0.1.0 --stage production'\n");
  CHECK(sb.event_count() == before.events + 1);  // the verdict only
  require_unchanged(sb, {before.events + 1, before.status});
  // The registrant may approve when the policy allows it.
  r = sb.run({"approve", "churn@0.1.0", "--stage", "production", "--comment", "numbers look right"},
             as("alice"));
  CHECK(r.rc == 0);
  CHECK(r.err.empty());
  CHECK(r.out == "approved churn@0.1.0 for production as alice (1 of 2 approvals)\n");
  before = snapshot(sb);
  // The same actor twice counts once, and says so.
  r = sb.run({"approve", "churn@0.1.0", "--stage", "production"}, as("alice"));
  CHECK(r.rc == 0);
  CHECK(r.err.empty());
  CHECK(r.out == "alice had approved churn@0.1.0 for production already (1 of 2 approvals)\n");
  require_unchanged(sb, before);
  r = sb.run({"approve", "churn@0.1.0", "--stage", "production", "--json"}, as("alice"));
  CHECK(r.json()["recorded"] == false);
  CHECK(r.json()["approvals"] == 1);
  require_unchanged(sb, before);
  r = sb.run({"promote", "churn@0.1.0", "--to", "production"});
  CHECK(r.rc == 1);
  CHECK_THAT(r.err, Catch::Contains("gate 'approvals >= 2' failed (1 of 2 approvals (alice))"));
  CHECK(held(sb, "production").is_null());
  // A second actor makes two.
  r = sb.run({"approve", "churn@0.1.0", "--stage", "production", "--json"}, as("bob"));
  CHECK(r.rc == 0);
  const auto j = r.json();
  CHECK(j["actor"] == "bob");
  CHECK(j["recorded"] == true);
  CHECK(j["approvals"] == 2);
  CHECK(j["required"] == 2);
  r = sb.run({"promote", "churn@0.1.0", "--to", "production"}, as("carol"));
  CHECK(r.rc == 0);
  CHECK(r.err.empty());
  CHECK_THAT(r.out, Catch::Contains("  ok    approvals >= 2  2 of 2 approvals (alice, bob)\n") &&
                        Catch::EndsWith("promoted churn@0.1.0 to production\n"));
  CHECK(held(sb, "production") == "0.1.0");
  // Approvals are for one version: the next one starts from zero.
  sb.write("n.bin", "n");
  REQUIRE(sb.run({"register", "churn", "n.bin"}, as("alice")).rc == 0);
  promote(sb, "0.2.0", "staging");
  r = sb.run({"promote", "churn@0.2.0", "--to", "production"});
  CHECK(r.rc == 1);
  CHECK_THAT(r.err, Catch::Contains("(0 of 2 approvals)"));
  CHECK(held(sb, "production") == "0.1.0");
}

TEST_CASE("distinct_from_registrant refuses the registrant's approval", "[e2e][promote]") {
  Sandbox sb;
  populate(sb, 1, k_distinct_policy);
  promote(sb, "0.1.0", "staging");
  const auto before = snapshot(sb);
  auto r = sb.run({"approve", "churn@0.1.0", "--stage", "production"}, as("alice"));
  CHECK(r.rc == 1);
  CHECK(r.out.empty());
  CHECK(r.err ==
        "lastmile: error: cannot approve 'churn@0.1.0' for 'production': 'alice' registered it, and the "
        "policy wants someone else\n"
        "hint: approvals for 'production' are distinct_from_registrant (lastmile.yaml); ask a colleague "
        "to approve\n");
  require_unchanged(sb, before);
  // Promoting needs someone else's approval too, whoever promotes.
  r = sb.run({"promote", "churn@0.1.0", "--to", "production"}, as("alice"));
  CHECK(r.rc == 1);
  CHECK_THAT(r.err, Catch::Contains("gate 'approvals >= 1 (not the registrant)' failed (0 of 1 approvals)"));
  CHECK(held(sb, "production").is_null());
  r = sb.run({"approve", "churn@0.1.0", "--stage", "production", "--comment", "reviewed the eval"},
             as("bob"));
  CHECK(r.rc == 0);
  CHECK(r.err.empty());
  CHECK(r.out == "approved churn@0.1.0 for production as bob (1 of 1 approvals)\n");
  const auto approval = last_event(sb);
  CHECK(approval["kind"] == "approval.granted");
  CHECK(approval["actor"] == "bob");
  CHECK(approval["payload"]["comment"] == "reviewed the eval");
  r = sb.run({"promote", "churn@0.1.0", "--to", "production"}, as("alice"));
  CHECK(r.rc == 0);
  CHECK_THAT(r.out, Catch::Contains("1 of 1 approvals (bob)"));
  CHECK(held(sb, "production") == "0.1.0");
  CHECK(sb.run({"verify"}).rc == 0);
}

TEST_CASE("an approval for a stage without an approval rule says so", "[e2e][promote]") {
  Sandbox sb;
  populate(sb, 1);
  const auto r = sb.run({"approve", "churn@0.1.0", "--stage", "staging"}, as("bob"));
  CHECK(r.rc == 0);
  CHECK(r.out == "approved churn@0.1.0 for staging as bob (the stage asks for no approvals)\n");
}

// --- rollback -----------------------------------------------------------------

TEST_CASE("rollback restores the previous holder, and again goes further back", "[e2e][promote]") {
  Sandbox sb;
  populate(sb, 3);
  for (int i = 1; i <= 3; ++i) release(sb, v(i));
  CHECK(held(sb, "production") == "0.3.0");
  auto r = sb.run({"rollback", "churn", "--stage", "production", "--reason", "auc dropped in prod"},
                  as("oncall"));
  CHECK(r.rc == 0);
  CHECK(r.err.empty());
  CHECK(r.out == "rolled production back to churn@0.2.0 (was 0.3.0)\n");
  auto j = sb.run({"status", "--json"}).json();
  CHECK(held(j, "production") == "0.2.0");
  CHECK(held(j, "staging") == "0.3.0");  // other stages stay
  const auto move = last_event(sb);
  CHECK(move["kind"] == "stage.rolled_back");
  CHECK(move["actor"] == "oncall");
  CHECK(move["payload"]["reason"] == "auc dropped in prod");
  CHECK(move["payload"]["replaced"]["version"] == "0.3.0");
  r = sb.run({"rollback", "churn", "--stage", "production", "--reason", "0.2.0 too", "--json"});
  CHECK(r.rc == 0);
  j = r.json();
  CHECK(j["version"] == "0.1.0");
  CHECK(j["replaced"] == "0.2.0");
  CHECK(j["reason"] == "0.2.0 too");
  CHECK(held(sb, "production") == "0.1.0");
  const auto status = sb.run({"status", "--json"}).json()["models"][0]["stages"][2];
  CHECK(status["action"] == "rolled_back");
  CHECK(status["reason"] == "0.2.0 too");
  // 0.1.0 was the first: there is nothing further back.
  const auto before = snapshot(sb);
  r = sb.run({"rollback", "churn", "--stage", "production", "--reason", "again"});
  CHECK(r.rc == 1);
  CHECK(r.out.empty());
  CHECK(r.err ==
        "lastmile: error: cannot roll 'production' of 'churn' back: 'churn@0.1.0' is the first version it "
        "held\nhint: name another version with --to VERSION\n");
  require_unchanged(sb, before);
  CHECK(sb.run({"verify"}).rc == 0);
}

TEST_CASE("rollback after a rollback and a new promotion keeps going back", "[e2e][promote]") {
  Sandbox sb;
  populate(sb, 4);
  for (int i = 1; i <= 3; ++i) release(sb, v(i));
  REQUIRE(sb.run({"rollback", "churn", "--stage", "production", "--reason", "r1"}).rc == 0);  // → 0.2.0
  release(sb, v(4));                                                                        // replaces 0.2.0
  auto r = sb.run({"rollback", "churn", "--stage", "production", "--reason", "r2"});
  CHECK(r.out == "rolled production back to churn@0.2.0 (was 0.4.0)\n");
  r = sb.run({"rollback", "churn", "--stage", "production", "--reason", "r3"});
  CHECK(r.out == "rolled production back to churn@0.1.0 (was 0.2.0)\n");
  CHECK(sb.run({"verify"}).rc == 0);
}

TEST_CASE("rollbacks walk back through a version that held the stage twice, and stop", "[e2e][promote]") {
  // Production held 0.1.0, 0.2.0, 0.1.0 again (promoted back by hand), then
  // 0.3.0. Rolling back retraces that in reverse and stops at the start;
  // it never bounces between the two versions.
  Sandbox sb;
  populate(sb, 3);
  release(sb, v(1));
  release(sb, v(2));
  promote(sb, v(1), "production");
  release(sb, v(3));
  for (const auto& [now, was] : std::vector<std::pair<std::string, std::string>>{
           {"0.1.0", "0.3.0"}, {"0.2.0", "0.1.0"}, {"0.1.0", "0.2.0"}}) {
    const auto r = sb.run({"rollback", "churn", "--stage", "production", "--reason", "back"});
    CHECK(r.rc == 0);
    CHECK(r.out == "rolled production back to churn@" + now + " (was " + was + ")\n");
  }
  const auto before = snapshot(sb);
  const auto r = sb.run({"rollback", "churn", "--stage", "production", "--reason", "back"});
  CHECK(r.rc == 1);
  CHECK_THAT(r.err, Catch::Contains("'churn@0.1.0' is the first version it held"));
  require_unchanged(sb, before);
  CHECK(sb.run({"verify"}).rc == 0);
}

TEST_CASE("rollback --to restores a version the stage held", "[e2e][promote]") {
  Sandbox sb;
  populate(sb, 4);
  for (int i = 1; i <= 3; ++i) release(sb, v(i));
  auto r = sb.run({"rollback", "churn", "--stage", "production", "--reason", "known good", "--to", "v0.1.0"});
  CHECK(r.rc == 0);
  CHECK(r.err.empty());
  CHECK(r.out == "rolled production back to churn@0.1.0 (was 0.3.0)\n");
  CHECK(held(sb, "production") == "0.1.0");
  const auto before = snapshot(sb);
  // Never in production: refused, listing what production held.
  r = sb.run({"rollback", "churn", "--stage", "production", "--reason", "x", "--to", "0.4.0"});
  CHECK(r.rc == 1);
  CHECK(r.out.empty());
  CHECK(r.err ==
        "lastmile: error: cannot roll 'production' of 'churn' back to 'churn@0.4.0': it was never in "
        "'production'\nhint: versions it has held: 0.1.0, 0.2.0, 0.3.0\n");
  require_unchanged(sb, before);
  // The holder itself.
  r = sb.run({"rollback", "churn", "--stage", "production", "--reason", "x", "--to", "0.1.0"});
  CHECK(r.rc == 1);
  CHECK(r.err == "lastmile: error: cannot roll 'production' of 'churn' back: it holds 'churn@0.1.0' already\n");
  require_unchanged(sb, before);
  // No such version, or no version at all.
  r = sb.run({"rollback", "churn", "--stage", "production", "--reason", "x", "--to", "9.9.9"});
  CHECK(r.rc == 66);
  CHECK(r.err == "lastmile: error: no version '9.9.9' of 'churn'\n");
  r = sb.run({"rollback", "churn", "--stage", "production", "--reason", "x", "--to", "latest"});
  CHECK(r.rc == 64);
  r = sb.run({"rollback", "nope", "--stage", "production", "--reason", "x"});
  CHECK(r.rc == 66);
  CHECK_THAT(r.err, Catch::StartsWith("lastmile: error: no model or dataset named 'nope'"));
  require_unchanged(sb, before);
  // Forward again, to the newest it held.
  r = sb.run({"rollback", "churn", "--stage", "production", "--reason", "fixed upstream", "--to", "0.3.0"});
  CHECK(r.rc == 0);
  CHECK(held(sb, "production") == "0.3.0");
  CHECK(sb.run({"verify"}).rc == 0);
}

TEST_CASE("rollback --to lists every version the stage held, whatever their digits", "[e2e][promote]") {
  Sandbox sb;
  REQUIRE(sb.run({"init"}).rc == 0);
  for (const std::string version : {"10.1.0", "0.1.0", "1.1.0"}) {
    sb.write(version + ".bin", version);
    REQUIRE(sb.run({"register", "churn", version + ".bin", "--version", version}).rc == 0);
  }
  release(sb, "10.1.0");
  release(sb, "0.1.0");
  const auto r = sb.run({"rollback", "churn", "--stage", "production", "--reason", "x", "--to", "1.1.0"});
  CHECK(r.rc == 1);
  CHECK_THAT(r.err, Catch::EndsWith("hint: versions it has held: 10.1.0, 0.1.0\n"));
}

TEST_CASE("rollback needs a reason", "[e2e][promote]") {
  Sandbox sb;
  populate(sb, 2);
  release(sb, v(1));
  release(sb, v(2));
  const auto before = snapshot(sb);
  auto r = sb.run({"rollback", "churn", "--stage", "production"});
  CHECK(r.rc == 64);
  CHECK(r.out.empty());
  CHECK_THAT(r.err, Catch::StartsWith("lastmile: error: --reason is required\n"));
  require_unchanged(sb, before);
  for (const char* blank : {"", "  \t"}) {
    r = sb.run({"rollback", "churn", "--stage", "production", "--reason", blank});
    CHECK(r.rc == 64);
    CHECK(r.out.empty());
    CHECK(r.err ==
          "lastmile: error: a rollback needs a reason\n"
          "hint: say why with --reason TEXT; it is kept in the audit trail\n");
    require_unchanged(sb, before);
  }
}

TEST_CASE("rollback of a stage with one version, or none, is refused", "[e2e][promote]") {
  Sandbox sb;
  populate(sb, 2);
  auto before = snapshot(sb);
  auto r = sb.run({"rollback", "churn", "--stage", "production", "--reason", "x"});
  CHECK(r.rc == 1);
  CHECK(r.out.empty());
  CHECK(r.err ==
        "lastmile: error: cannot roll 'production' of 'churn' back: it holds no version\n"
        "hint: 'lastmile status churn' shows what each stage holds\n");
  require_unchanged(sb, before);
  release(sb, v(1));
  before = snapshot(sb);
  r = sb.run({"rollback", "churn", "--stage", "production", "--reason", "x"});
  CHECK(r.rc == 1);
  CHECK(r.out.empty());
  CHECK_THAT(r.err, Catch::StartsWith("lastmile: error: cannot roll 'production' of 'churn' back: "
                                      "'churn@0.1.0' is the first version it held\n"));
  require_unchanged(sb, before);
  // The first stage's history starts with the registrations.
  r = sb.run({"rollback", "churn", "--stage", "sandbox", "--reason", "x"});
  CHECK(r.rc == 0);
  CHECK(r.out == "rolled sandbox back to churn@0.1.0 (was 0.2.0)\n");
}

TEST_CASE("rollback does not run gates", "[e2e][promote]") {
  Sandbox sb;
  populate(sb, 2);
  release(sb, v(1));
  release(sb, v(2));
  // Now production's gates would fail every version, and say so if they ran.
  sb.write("lastmile.yaml", R"(stages:
  - name: sandbox
  - name: staging
    from: [sandbox]
  - name: production
    from: [staging]
    approvals: {count: 3}
    gates:
      - {metric: auc, min: 0.99}
      - {command: [sh, -c, "touch gate-ran; exit 1"]}
)");
  const long events = sb.event_count();
  const auto r = sb.run({"rollback", "churn", "--stage", "production", "--reason", "page at 3am"});
  CHECK(r.rc == 0);
  CHECK(r.err.empty());
  CHECK(r.out == "rolled production back to churn@0.1.0 (was 0.2.0)\n");
  CHECK(sb.event_count() == events + 1);  // the rollback alone, no gate verdict
  CHECK(last_event(sb)["kind"] == "stage.rolled_back");
  CHECK_FALSE(std::filesystem::exists(sb.repo() / "gate-ran"));
  // The gates do fail, when they are asked.
  CHECK(sb.run({"promote", "churn@0.2.0", "--to", "production", "--dry-run"}).rc == 1);
  CHECK(std::filesystem::exists(sb.repo() / "gate-ran"));
  CHECK(held(sb, "production") == "0.1.0");
}

// --- time travel ----------------------------------------------------------------

TEST_CASE("status --at and show --at answer what production held then", "[e2e][promote]") {
  Sandbox sb;
  populate(sb, 3);
  promote(sb, "0.1.0", "staging");
  const long before_production = sb.event_count();
  promote(sb, "0.1.0", "production");
  const long p1 = sb.event_count();
  release(sb, "0.2.0");
  const long p2 = sb.event_count();
  release(sb, "0.3.0");
  const long p3 = sb.event_count();
  REQUIRE(sb.run({"rollback", "churn", "--stage", "production", "--reason", "r1"}).rc == 0);
  const long r1 = sb.event_count();
  REQUIRE(sb.run({"rollback", "churn", "--stage", "production", "--reason", "r2"}).rc == 0);
  const long r2 = sb.event_count();
  REQUIRE(sb.run({"rollback", "churn", "--stage", "production", "--reason", "r3", "--to", "0.3.0"}).rc == 0);
  const long r3 = sb.event_count();
  // Event times by seq, from the audit trail.
  std::map<long, std::string> times;
  const auto events = sb.run({"audit", "--json"}).json()["events"];
  for (const auto& e : events) times[e["seq"].get<long>()] = e["time"];
  REQUIRE(times.size() == static_cast<std::size_t>(r3));
  const std::vector<std::pair<long, nlohmann::json>> expected = {
      {before_production, nullptr}, {p1, "0.1.0"}, {p2, "0.2.0"}, {p3, "0.3.0"},
      {r1, "0.2.0"},                {r2, "0.1.0"}, {r3, "0.3.0"}};
  for (const auto& [seq, version] : expected) {
    const std::string at = times.at(seq);
    INFO("at event " << seq << ", " << at);
    auto r = sb.run({"status", "churn", "--at", at, "--json"});
    REQUIRE(r.rc == 0);
    const auto j = r.json();
    CHECK(j["at"] == at);
    CHECK(held(j, "production") == version);
    CHECK(held(j, "sandbox") == "0.3.0");  // all three were registered first
    r = sb.run({"show", "churn@production", "--at", at, "--json"});
    if (version.is_null()) {
      CHECK(r.rc == 66);
      CHECK(r.out.empty());
      CHECK_THAT(r.err, Catch::StartsWith("lastmile: error: no version of 'churn' is in stage 'production' at "));
    } else {
      CHECK(r.rc == 0);
      CHECK(r.json()["version"] == version);
    }
  }
  // Halfway between two events the earlier one stands, in any time zone.
  const std::string between = halfway(times.at(r1), times.at(r2), 0);
  auto r = sb.run({"status", "--at", between});
  CHECK(r.rc == 0);
  CHECK(r.err == "as of " + between + "\n");
  CHECK_THAT(r.out, Catch::Contains("\nchurn  production  0.2.0  ") && Catch::Contains("  rolled back\n"));
  const std::string between_in_paris = halfway(times.at(r1), times.at(r2), 60);
  CHECK(held(sb.run({"status", "--at", between_in_paris, "--json"}).json(), "production") == "0.2.0");
  r = sb.run({"show", "churn@production", "--at", between, "--json"});
  CHECK(r.rc == 0);
  CHECK(r.json()["version"] == "0.2.0");
  r = sb.run({"show", "churn@production", "--at", times.at(p2)});
  CHECK(r.rc == 0);
  CHECK_THAT(r.out, Catch::StartsWith("churn@0.2.0  (model)\n"));
  CHECK_THAT(r.err, Catch::Contains("churn@production was churn@0.2.0"));
  // Without --at: what it holds now.
  r = sb.run({"show", "churn@production", "--json"});
  CHECK(r.rc == 0);
  CHECK(r.json()["version"] == "0.3.0");
  CHECK(sb.run({"show", "churn#production", "--json"}).json()["version"] == "0.3.0");
  // Before the registry existed, and a stage nothing ever entered.
  r = sb.run({"show", "churn@production", "--at", "2000-01-01"});
  CHECK(r.rc == 66);
  r = sb.run({"status", "--at", "2000-01-01", "--json"});
  CHECK(r.rc == 0);
  CHECK(r.json()["models"].empty());
  r = sb.run({"show", "churn@canary"});
  CHECK(r.rc == 66);
  CHECK_THAT(r.err, Catch::Contains("no version of 'churn' is in stage 'canary'"));
}

// --- audit ----------------------------------------------------------------------

TEST_CASE("audit lists promotions, approvals and rollbacks with actor and reason", "[e2e][promote]") {
  Sandbox sb;
  populate(sb, 2, k_distinct_policy);
  promote(sb, "0.1.0", "staging");
  REQUIRE(sb.run({"approve", "churn@0.1.0", "--stage", "production", "--comment", "eval ok"}, as("bob")).rc == 0);
  REQUIRE(sb.run({"promote", "churn@0.1.0", "--to", "production", "--reason", "quarterly release"},
                 as("carol")).rc == 0);
  promote(sb, "0.2.0", "staging");
  REQUIRE(sb.run({"approve", "churn@0.2.0", "--stage", "production"}, as("bob")).rc == 0);
  promote(sb, "0.2.0", "production", "carol");
  REQUIRE(sb.run({"rollback", "churn", "--stage", "production", "--reason", "latency regression"},
                 as("dave")).rc == 0);
  const auto r = sb.run({"audit", "churn"});
  CHECK(r.rc == 0);
  CHECK(r.err.empty());
  CHECK_THAT(r.out, Catch::StartsWith("SEQ  TIME                         EVENT               SUBJECT      BY     "
                                      "DETAIL\n"));
  CHECK_THAT(r.out, Catch::Contains("stage.rolled_back   churn@0.1.0  dave   "
                                    "production rolled back (was 0.2.0): latency regression\n"));
  CHECK_THAT(r.out, Catch::Contains("stage.assigned      churn@0.2.0  carol  into production (was 0.1.0)\n"));
  CHECK_THAT(r.out, Catch::Contains("approval.granted    churn@0.2.0  bob    for production\n"));
  CHECK_THAT(r.out, Catch::Contains("stage.assigned      churn@0.1.0  carol  into production: quarterly release\n"));
  CHECK_THAT(r.out, Catch::Contains("gate.evaluated      churn@0.1.0  carol  production: passed 2 gates\n"));
  CHECK_THAT(r.out, Catch::Contains("approval.granted    churn@0.1.0  bob    for production: eval ok\n"));
  const auto events = sb.run({"audit", "--json"}).json()["events"];
  std::vector<std::string> kinds;
  for (const auto& e : events) kinds.push_back(e["kind"]);
  CHECK(kinds == std::vector<std::string>{"stage.rolled_back", "stage.assigned", "gate.evaluated",
                                          "approval.granted", "stage.assigned", "gate.evaluated",
                                          "stage.assigned", "gate.evaluated", "approval.granted",
                                          "stage.assigned", "gate.evaluated", "version.registered",
                                          "version.registered"});
  CHECK(events[0]["actor"] == "dave");
  CHECK(events[0]["payload"]["reason"] == "latency regression");
  // audit NAME is about that model only.
  sb.write("o.bin", "o");
  REQUIRE(sb.run({"register", "other", "o.bin"}).rc == 0);
  CHECK(sb.run({"audit", "churn", "--json"}).json()["events"].size() == events.size());
  CHECK(sb.run({"audit", "--json"}).json()["events"].size() == events.size() + 1);
}

TEST_CASE("audit verify checks the chain and names the first tampered event", "[e2e][promote]") {
  Sandbox sb;
  populate(sb, 2);
  release(sb, v(1));
  REQUIRE(sb.run({"promote", "churn@0.2.0", "--to", "staging", "--reason", "routine"}).rc == 0);
  REQUIRE(sb.run({"rollback", "churn", "--stage", "staging", "--reason", "bad"}).rc == 0);
  const long events = sb.event_count();
  auto r = sb.run({"audit", "verify"});
  CHECK(r.rc == 0);
  CHECK(r.err.empty());
  CHECK_THAT(r.out, Catch::StartsWith("audit chain ok: " + std::to_string(events) + " events, head "));
  // Rewrite a promotion's reason behind lastmile's back.
  const auto list = sb.run({"audit", "--json"}).json()["events"];
  long seq = 0;
  for (const auto& e : list) {
    if (e["kind"] == "stage.assigned" && e["payload"]["reason"] == "routine") seq = e["seq"];
  }
  REQUIRE(seq > 2);
  sb.sql("UPDATE events SET payload = replace(payload, '\"routine\"', '\"approved by the CTO\"') WHERE seq = " +
         std::to_string(seq));
  r = sb.run({"audit", "verify"});
  CHECK(r.rc == 1);
  CHECK(r.out.empty());
  CHECK(r.err == "lastmile: error: the audit chain is broken at event " + std::to_string(seq) +
                     ": its content does not match its id\nhint: " + std::to_string(seq - 1) +
                     " events before it are intact; the log was changed outside lastmile\n");
  r = sb.run({"audit", "verify", "--json"});
  CHECK(r.rc == 1);
  CHECK(r.json()["ok"] == false);
  CHECK(r.json()["first_bad_seq"] == seq);
  r = sb.run({"verify"});
  CHECK(r.rc == 1);
  CHECK_THAT(r.out, Catch::Contains("event " + std::to_string(seq) + " breaks the hash chain"));
}

TEST_CASE("verify reports a stage assignment edited behind the log's back", "[e2e][promote]") {
  Sandbox sb;
  populate(sb, 2);
  release(sb, v(1));
  release(sb, v(2));
  REQUIRE(sb.run({"verify"}).rc == 0);
  sb.sql("UPDATE stage_assignments SET version_id = (SELECT id FROM versions WHERE version = '0.1.0') "
         "WHERE stage = 'production'");
  const auto r = sb.run({"verify"});
  CHECK(r.rc == 1);
  CHECK_THAT(r.out, Catch::Contains("the stage_assignments row for 'churn production' differs from the log in version"));
  CHECK_THAT(r.err, Catch::Contains("verification failed"));
  // The log still tells the truth; the chain itself is intact.
  CHECK(sb.run({"audit", "verify"}).rc == 0);
}
