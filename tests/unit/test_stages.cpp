// Promotion, approval, rollback and what the stages hold, through the
// library, checked against the event log.

#include <catch2/catch.hpp>

#include <chrono>
#include <thread>

#include "registry/core/error.hpp"
#include "registry/events.hpp"
#include "registry/log_check.hpp"
#include "registry/policy.hpp"
#include "registry/projection.hpp"
#include "registry/promote.hpp"
#include "registry/register.hpp"
#include "registry/registry.hpp"
#include "registry/stages.hpp"
#include "tests/unit/helpers.hpp"

using namespace lm;
using lm::test::code_of;

namespace {

Registry open_registry(const RegistryLocation& location) {
  Registry::init(location, std::chrono::seconds(1));
  return Registry::open(location, std::chrono::seconds(1));
}

// sandbox -> staging (auc >= 0.8) -> production.
Policy three_stages() {
  const PolicyLoad load = parse_policy(
      "stages:\n"
      "  - name: sandbox\n"
      "  - name: staging\n"
      "    from: [sandbox]\n"
      "    gates:\n"
      "      - {metric: auc, min: 0.8}\n"
      "  - name: production\n"
      "    from: [staging]\n",
      "lastmile.yaml");
  REQUIRE(load.ok());
  return load.policy;
}

struct Fixture {
  test::TempDir dir;
  RegistryLocation location{dir / ".lastmile", true, false};
  Registry reg = open_registry(location);
  Policy policy = three_stages();
  int artifacts = 0;

  VersionRecord add(const std::string& name, double auc, const std::string& actor = "ada") {
    RegisterRequest r;
    r.name = name;
    r.actor = actor;
    r.cwd = dir.path();
    r.stage = "sandbox";
    r.metrics = {{"auc", auc}};
    const int n = artifacts++;
    r.path = dir.write("artifacts/" + std::to_string(n) + ".bin", "artifact " + std::to_string(n));
    return register_version(reg, r, nullptr).version;
  }

  PromoteResult promote_to(const VersionRecord& v, const std::string& stage, bool dry_run = false,
                           const std::string& actor = "ada") {
    PromoteRequest r;
    r.ref = parse_ref(v.ref());
    r.stage = stage;
    r.reason = "ship " + v.version;
    r.actor = actor;
    r.setting.project_root = dir.path();
    r.dry_run = dry_run;
    return promote(reg, policy, r);
  }

  // Promotes through staging into production.
  void release(const VersionRecord& v) {
    REQUIRE(promote_to(v, "staging").promoted);
    REQUIRE(promote_to(v, "production").promoted);
  }

  RollbackResult roll_back(const std::string& name, const std::string& stage,
                           std::optional<std::string> to = std::nullopt,
                           const std::string& reason = "bad release") {
    RollbackRequest r;
    r.name = name;
    r.stage = stage;
    r.reason = reason;
    if (to) r.to = parse_semver(*to);
    r.actor = "ops";
    return rollback(reg, policy, r);
  }

  ApproveResult approve_as(const VersionRecord& v, const std::string& stage, const std::string& actor) {
    ApproveRequest r;
    r.ref = parse_ref(v.ref());
    r.stage = stage;
    r.actor = actor;
    r.comment = "lgtm";
    return approve(reg, policy, r);
  }

  std::int64_t events() { return reg.db().query_int("SELECT COUNT(*) FROM events").value_or(-1); }

  std::string holder(const std::string& stage, const std::string& name = "churn") {
    const auto h = stage_holder(reg.db(), name, stage);
    return h ? h->version : "";
  }

  std::string event_time(std::int64_t seq) {
    auto stmt = reg.db().prepare("SELECT time FROM events WHERE seq = ?");
    stmt.bind(1, seq);
    REQUIRE(stmt.step());
    return stmt.text(0);
  }

  std::int64_t last_seq() { return reg.db().query_int("SELECT MAX(seq) FROM events").value_or(0); }
};

Json version_json(const VersionRecord& v) {
  return {{"name", v.name}, {"version", v.version}, {"digest", v.digest}};
}

// Some time passes, so that events of successive operations have distinct
// times.
void tick() { std::this_thread::sleep_for(std::chrono::milliseconds(2)); }

}  // namespace

TEST_CASE("promote moves the stage and records the version it replaced", "[stages]") {
  Fixture f;
  const VersionRecord v1 = f.add("churn", 0.9);
  const VersionRecord v2 = f.add("churn", 0.95);
  CHECK(f.holder("sandbox") == "0.2.0");  // registration lands in the first stage
  CHECK(f.holder("staging") == "");

  const PromoteResult first = f.promote_to(v1, "staging");
  CHECK(first.promoted);
  CHECK_FALSE(first.already_there);
  CHECK_FALSE(first.holder.has_value());
  CHECK_FALSE(first.evaluation.incumbent.has_value());
  CHECK(first.evaluation.passed());
  auto h = stage_holder(f.reg.db(), "churn", "staging");
  REQUIRE(h.has_value());
  CHECK(h->version == "0.1.0");
  CHECK(h->action == "promoted");
  CHECK_FALSE(h->replaced.has_value());
  CHECK(h->reason == "ship 0.1.0");
  CHECK(h->actor == "ada");
  CHECK(h->digest == v1.digest);
  auto events = load_events(f.reg.db(), "churn", 2);
  REQUIRE(events.size() == 2);
  CHECK(events[0].kind == "stage.assigned");
  CHECK(events[0].payload.at("replaced").is_null());
  CHECK(events[0].payload.at("stage") == "staging");
  CHECK(events[1].kind == "gate.evaluated");
  CHECK(events[0].payload.at("gates_event") == events[1].id);

  const PromoteResult second = f.promote_to(v2, "staging", false, "bob");
  CHECK(second.promoted);
  REQUIRE(second.holder.has_value());
  CHECK(second.holder->version == "0.1.0");
  REQUIRE(second.evaluation.incumbent.has_value());
  CHECK(second.evaluation.incumbent->version == "0.1.0");
  h = stage_holder(f.reg.db(), "churn", "staging");
  REQUIRE(h.has_value());
  CHECK(h->version == "0.2.0");
  CHECK(h->replaced == std::optional<std::string>("0.1.0"));
  CHECK(h->previous == std::optional<std::string>("0.1.0"));
  CHECK(h->actor == "bob");
  CHECK(current_holder_id(f.reg.db(), "churn", "staging") == std::optional<std::int64_t>(v2.id));
  events = load_events(f.reg.db(), "churn", 1);
  REQUIRE(events.size() == 1);
  CHECK(events[0].payload.at("replaced") == version_json(v1));
  CHECK(events[0].actor == "bob");
  const auto moves = stage_moves(f.reg.db(), "churn", "staging");
  REQUIRE(moves.size() == 2);
  CHECK(moves[0].version == "0.1.0");
  CHECK(moves[1].version == "0.2.0");
  CHECK(has_been_in(f.reg.db(), v1.id, "staging"));
  CHECK_FALSE(has_been_in(f.reg.db(), v1.id, "production"));
}

TEST_CASE("the references that name a version now: every version, every stage holding one", "[stages]") {
  Fixture f;
  CHECK(list_refs(f.reg.db()).empty());
  const VersionRecord v1 = f.add("churn", 0.9);
  f.add("churn", 0.95);
  f.add("fraud", 0.85);
  REQUIRE(f.promote_to(v1, "staging").promoted);
  CHECK(list_refs(f.reg.db()) == std::vector<std::string>{"churn@0.1.0", "churn@0.2.0", "churn@sandbox",
                                                          "churn@staging", "fraud@0.1.0", "fraud@sandbox"});
}

TEST_CASE("promoting a version the stage holds already does nothing", "[stages]") {
  Fixture f;
  const VersionRecord v1 = f.add("churn", 0.9);
  REQUIRE(f.promote_to(v1, "staging").promoted);
  const auto before = f.events();
  const PromoteResult again = f.promote_to(v1, "staging");
  CHECK(again.already_there);
  CHECK_FALSE(again.promoted);
  CHECK(again.evaluation.gates.empty());
  REQUIRE(again.holder.has_value());
  CHECK(again.holder->version == "0.1.0");
  CHECK(f.events() == before);
  // The first stage holds it from registration on.
  const PromoteResult sandbox = f.promote_to(v1, "sandbox");
  CHECK(sandbox.already_there);
  CHECK(f.events() == before);
}

TEST_CASE("a dry run evaluates the gates and appends nothing", "[stages]") {
  Fixture f;
  const VersionRecord good = f.add("churn", 0.9);
  const VersionRecord bad = f.add("churn", 0.5);
  const auto before = f.events();
  const PromoteResult ok = f.promote_to(good, "staging", true);
  CHECK_FALSE(ok.promoted);
  CHECK(ok.evaluation.passed());
  CHECK(ok.evaluation.gates.size() == 2);  // from sandbox, auc >= 0.8
  const PromoteResult failed = f.promote_to(bad, "staging", true);
  CHECK_FALSE(failed.promoted);
  CHECK_FALSE(failed.evaluation.passed());
  CHECK(f.events() == before);
  CHECK(f.holder("staging") == "");
  CHECK(f.reg.db().query_int("SELECT COUNT(*) FROM gate_results") == 0);
}

TEST_CASE("failed gates append exactly one gate.evaluated and do not move the stage", "[stages]") {
  Fixture f;
  const VersionRecord good = f.add("churn", 0.9);
  const VersionRecord bad = f.add("churn", 0.5);
  REQUIRE(f.promote_to(good, "staging").promoted);
  const auto before = f.events();
  const PromoteResult r = f.promote_to(bad, "staging");
  CHECK_FALSE(r.promoted);
  CHECK_FALSE(r.evaluation.passed());
  CHECK(f.events() == before + 1);
  const auto last = load_events(f.reg.db(), "", 1);
  REQUIRE(last.size() == 1);
  CHECK(last[0].kind == "gate.evaluated");
  CHECK(last[0].subject == "churn@0.2.0");
  CHECK(last[0].payload.at("passed") == false);
  CHECK(last[0].payload.at("stage") == "staging");
  CHECK(f.holder("staging") == "0.1.0");
  CHECK(f.reg.db().query_int("SELECT COUNT(*) FROM gate_results WHERE passed = 0") == 1);
}

TEST_CASE("entering a stage from one the version has not been in is refused before any gate", "[stages]") {
  Fixture f;
  const VersionRecord v = f.add("churn", 0.9);
  const auto before = f.events();
  try {
    f.promote_to(v, "production");
    FAIL("promoted");
  } catch (const Error& e) {
    CHECK(e.code() == ExitCode::check_failed);
    CHECK_THAT(e.what(), Catch::Contains("sandbox → staging → production"));
  }
  CHECK(f.events() == before);
  CHECK(code_of([&] { f.promote_to(v, "nowhere"); }) == ExitCode::not_found);
}

TEST_CASE("rollback walks back through the versions the stage held", "[stages]") {
  Fixture f;
  const VersionRecord v1 = f.add("churn", 0.9);
  const VersionRecord v2 = f.add("churn", 0.91);
  const VersionRecord v3 = f.add("churn", 0.92);
  f.release(v1);
  f.release(v2);
  f.release(v3);
  REQUIRE(f.holder("production") == "0.3.0");

  RollbackResult r = f.roll_back("churn", "production");
  CHECK(r.restored.version == "0.2.0");
  CHECK(r.replaced.version == "0.3.0");
  CHECK(f.holder("production") == "0.2.0");
  auto h = stage_holder(f.reg.db(), "churn", "production");
  REQUIRE(h.has_value());
  CHECK(h->action == "rolled_back");
  CHECK(h->reason == "bad release");
  CHECK(h->actor == "ops");
  CHECK(h->replaced == std::optional<std::string>("0.3.0"));
  const auto last = load_events(f.reg.db(), "churn", 1);
  REQUIRE(last.size() == 1);
  CHECK(last[0].kind == "stage.rolled_back");
  CHECK(last[0].payload.at("replaced") == version_json(v3));

  r = f.roll_back("churn", "production");
  CHECK(r.restored.version == "0.1.0");
  CHECK(r.replaced.version == "0.2.0");
  CHECK(f.holder("production") == "0.1.0");

  const auto before = f.events();
  try {
    f.roll_back("churn", "production");
    FAIL("rolled back past the first version");
  } catch (const Error& e) {
    CHECK(e.code() == ExitCode::check_failed);
    CHECK_THAT(e.what(), Catch::Contains("first version"));
  }
  CHECK(f.events() == before);
  CHECK(f.holder("production") == "0.1.0");
  // Other stages did not move.
  CHECK(f.holder("staging") == "0.3.0");
}

TEST_CASE("rollback --to names a version the stage held before", "[stages]") {
  Fixture f;
  const VersionRecord v1 = f.add("churn", 0.9);
  const VersionRecord v2 = f.add("churn", 0.91);
  const VersionRecord v3 = f.add("churn", 0.92);
  f.release(v1);
  f.release(v2);
  REQUIRE(f.promote_to(v3, "staging").promoted);  // staging, never production
  const auto before = f.events();

  try {
    f.roll_back("churn", "production", "0.3.0");
    FAIL("rolled back to a version never in the stage");
  } catch (const Error& e) {
    CHECK(e.code() == ExitCode::check_failed);
    CHECK_THAT(e.what(), Catch::Contains("never in 'production'"));
  }
  CHECK(code_of([&] { f.roll_back("churn", "production", "0.2.0"); }) == ExitCode::check_failed);  // held
  CHECK(code_of([&] { f.roll_back("churn", "production", "9.9.9"); }) == ExitCode::not_found);
  CHECK(f.events() == before);

  const RollbackResult r = f.roll_back("churn", "production", "0.1.0");
  CHECK(r.restored.version == "0.1.0");
  CHECK(f.holder("production") == "0.1.0");
  CHECK(f.events() == before + 1);
}

TEST_CASE("a rollback needs a reason, a model and a stage that holds something", "[stages]") {
  Fixture f;
  const VersionRecord v1 = f.add("churn", 0.9);
  const VersionRecord v2 = f.add("churn", 0.91);
  f.release(v1);
  f.release(v2);
  const auto before = f.events();
  CHECK(code_of([&] { f.roll_back("churn", "production", std::nullopt, ""); }) == ExitCode::usage);
  CHECK(code_of([&] { f.roll_back("churn", "production", std::nullopt, "  \t\n "); }) == ExitCode::usage);
  CHECK(code_of([&] { f.roll_back("nope", "production"); }) == ExitCode::not_found);
  CHECK(code_of([&] { f.roll_back("churn", "nowhere"); }) == ExitCode::not_found);
  f.add("other", 0.9);
  CHECK(code_of([&] { f.roll_back("other", "production"); }) == ExitCode::check_failed);
  CHECK(f.events() == before + 1);  // only the registration of 'other'
  CHECK(f.holder("production") == "0.2.0");
}

TEST_CASE("an actor's second approval is not recorded again", "[stages]") {
  Fixture f;
  const VersionRecord v = f.add("churn", 0.9);
  const auto before = f.events();
  const ApproveResult first = f.approve_as(v, "production", "bob");
  CHECK(first.recorded);
  CHECK(first.counted == 1);
  const ApproveResult again = f.approve_as(v, "production", "bob");
  CHECK_FALSE(again.recorded);
  CHECK(again.counted == 1);
  CHECK(f.events() == before + 1);
  const auto approvals = approvals_for(f.reg.db(), v.id, "production");
  REQUIRE(approvals.size() == 1);
  CHECK(approvals[0].actor == "bob");
  CHECK(approvals[0].comment == "lgtm");
  // Another actor, and the same actor for another stage, are recorded.
  CHECK(f.approve_as(v, "production", "carol").recorded);
  CHECK(f.approve_as(v, "staging", "bob").recorded);
  CHECK(approvals_for(f.reg.db(), v.id, "production").size() == 2);
  CHECK(approvals_for(f.reg.db(), v.id, "staging").size() == 1);
  CHECK(f.events() == before + 3);
}

TEST_CASE("stage_holder and resolve answer as the registry stood at a past time", "[stages]") {
  Fixture f;
  const VersionRecord v1 = f.add("churn", 0.9);
  tick();
  f.release(v1);
  const std::int64_t v1_in_production = f.last_seq();
  tick();
  const VersionRecord v2 = f.add("churn", 0.95);
  tick();
  f.release(v2);
  const std::int64_t v2_in_production = f.last_seq();
  tick();
  f.roll_back("churn", "production");
  sql::Db& db = f.reg.db();

  const AsOf at1 = as_of(db, f.event_time(v1_in_production));
  CHECK(at1.seq == v1_in_production);
  CHECK(at1.past());
  auto h = stage_holder(db, "churn", "production", at1);
  REQUIRE(h.has_value());
  CHECK(h->version == "0.1.0");
  CHECK(stage_holder(db, "churn", "sandbox", at1)->version == "0.1.0");
  CHECK(resolve(db, parse_ref("churn@production"), at1).version == "0.1.0");
  CHECK(resolve(db, parse_ref("churn@staging"), at1).version == "0.1.0");

  const AsOf at2 = as_of(db, f.event_time(v2_in_production));
  CHECK(at2.seq == v2_in_production);
  CHECK(stage_holder(db, "churn", "production", at2)->version == "0.2.0");
  CHECK(stage_holder(db, "churn", "sandbox", at2)->version == "0.2.0");
  CHECK(resolve(db, parse_ref("churn@production"), at2).version == "0.2.0");
  const auto holders = stage_holders(db, "churn", at2);
  REQUIRE(holders.size() == 3);
  CHECK(holders[0].stage == "production");
  CHECK(holders[0].version == "0.2.0");

  // Now: rolled back to 0.1.0.
  CHECK(stage_holder(db, "churn", "production")->version == "0.1.0");
  CHECK(resolve(db, parse_ref("churn@production")).version == "0.1.0");
  CHECK(resolve(db, parse_ref("churn@staging")).version == "0.2.0");

  // Before anything happened, the stage held nothing.
  const AsOf before = as_of(db, "2000-01-01");
  CHECK(before.seq == 0);
  CHECK_FALSE(stage_holder(db, "churn", "production", before).has_value());
  CHECK(stage_holders(db, "churn", before).empty());
  CHECK(code_of([&] { resolve(db, parse_ref("churn@production"), before); }) == ExitCode::not_found);
  // A stage that never held the model.
  CHECK(code_of([&] { resolve(db, parse_ref("churn@canary")); }) == ExitCode::not_found);
  CHECK(code_of([&] { as_of(db, "yesterday"); }) == ExitCode::usage);
}

TEST_CASE("the projection refuses a stage move that does not replace the current holder", "[stages]") {
  Fixture f;
  const VersionRecord v1 = f.add("churn", 0.9);
  const VersionRecord v2 = f.add("churn", 0.91);
  f.release(v1);
  f.release(v2);  // production holds 0.2.0
  sql::Db& db = f.reg.db();
  const auto before = f.events();

  const auto apply_move = [&](const char* kind, const VersionRecord& to, const Json& replaced) {
    sql::Transaction txn(db);  // never committed: rolled back when it goes
    Json payload = version_json(to);
    payload["stage"] = "production";
    payload["reason"] = "by hand";
    payload["replaced"] = replaced;
    const Event event = append_event(db, kind, to.ref(), to.name, payload, "mallory");
    apply_event(db, event);
  };
  for (const char* kind : {"stage.assigned", "stage.rolled_back"}) {
    INFO(kind);
    // Claims to replace 0.1.0, which production no longer holds.
    CHECK(code_of([&] { apply_move(kind, v1, version_json(v1)); }) == ExitCode::data);
    // Claims production held nothing.
    CHECK(code_of([&] { apply_move(kind, v1, Json()); }) == ExitCode::data);
  }
  // Replacing the actual holder applies.
  CHECK(code_of([&] { apply_move("stage.assigned", v1, version_json(v2)); }) == ExitCode::ok);
  // A replaced version named with a digest that is not its own is refused too.
  Json forged = version_json(v2);
  forged["digest"] = v1.digest;
  CHECK(code_of([&] { apply_move("stage.assigned", v1, forged); }) == ExitCode::data);

  CHECK(f.events() == before);
  CHECK(f.holder("production") == "0.2.0");
  CHECK(compare_tables_with_log(db).empty());
}

TEST_CASE("the tables match the log after promotions, approvals and rollbacks, until edited", "[stages]") {
  Fixture f;
  const VersionRecord v1 = f.add("churn", 0.9);
  const VersionRecord v2 = f.add("churn", 0.91);
  const VersionRecord v3 = f.add("churn", 0.5);
  f.add("other", 0.99);
  f.release(v1);
  f.approve_as(v2, "production", "bob");
  f.approve_as(v2, "production", "bob");
  f.release(v2);
  CHECK_FALSE(f.promote_to(v3, "staging").promoted);  // a failed evaluation
  f.roll_back("churn", "production");
  f.roll_back("churn", "production", "0.2.0");
  sql::Db& db = f.reg.db();
  const auto clean = compare_tables_with_log(db);
  for (const auto& d : clean) FAIL_CHECK(d.subject << ": " << d.message);
  CHECK(clean.empty());
  CHECK(verify_chain(db).ok);

  db.exec("UPDATE stage_assignments SET version_id = " + std::to_string(v1.id) +
          " WHERE stage = 'production'");
  const auto edited = compare_tables_with_log(db);
  REQUIRE_FALSE(edited.empty());
  bool names_table = false;
  for (const auto& d : edited) names_table |= d.message.find("stage_assignments") != std::string::npos;
  CHECK(names_table);
  // The query now believes the edit: the check is what catches it.
  CHECK(current_holder_id(db, "churn", "production") == std::optional<std::int64_t>(v1.id));
}

TEST_CASE("a deleted approval or stage history row shows up as a difference", "[stages]") {
  Fixture f;
  const VersionRecord v1 = f.add("churn", 0.9);
  f.release(v1);
  f.approve_as(v1, "production", "bob");
  sql::Db& db = f.reg.db();
  REQUIRE(compare_tables_with_log(db).empty());
  db.exec("DELETE FROM approvals");
  auto diffs = compare_tables_with_log(db);
  REQUIRE(diffs.size() == 1);
  CHECK_THAT(diffs[0].message, Catch::Contains("approvals") && Catch::Contains("lack"));
  CHECK(diffs[0].subject == "churn@0.1.0");
}
