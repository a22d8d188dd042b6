// Many writers and readers against one registry at once, and a write lock
// held by someone else past the timeout. Every lastmile run is a process of
// its own, started the way a user or a CI job starts it.
//
// Knobs: LASTMILE_STRESS_PROCESSES (8; large 32), LASTMILE_STRESS_OPERATIONS
// per process (50; large 200), LASTMILE_STRESS_LOCK_ROUNDS (2; large 10).

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <future>
#include <set>
#include <sstream>

#include "tests/stress/concurrency_workload.hpp"
#include "tests/stress/registry_probe.hpp"
#include "tests/stress/stress.hpp"

using lm::stress::DbReader;
using lm::stress::LoggedEvent;
using lm::test::RunResult;
using lm::test::Sandbox;

namespace {

using namespace lm::stress::workload;

// The registry the workload left, compared with what the processes were told.
struct Audit {
  long failures = 0;
  std::vector<std::string> problems;  // the first few, for the test's output

  void fail(const std::string& what) {
    ++failures;
    if (problems.size() < 20) problems.push_back(what);
  }
};

// How an event of the log is told apart: its kind, who, what, and the detail
// an acknowledged operation knew (the registration's seq and digest, the
// label set, the stage).
std::string event_key(const LoggedEvent& e) {
  std::string key = e.kind + " " + e.actor + " " + e.subject;
  if (e.kind == "version.registered") {
    key += " seq=" + std::to_string(e.seq) + " " + e.payload.value("digest", "");
  } else if (e.kind == "version.annotated") {
    key += " labels=" + e.payload.value("labels", nlohmann::json::object()).dump();
  } else if (e.kind == "gate.evaluated") {
    key += " " + e.payload.value("stage", "") + (e.payload.value("passed", false) ? " passed" : " failed");
  } else if (e.kind == "stage.assigned") {
    key += " " + e.payload.value("stage", "");
  }
  return key;
}

// Every acknowledged write is in the log exactly once, and nothing else
// the workers did is.
void compare_with_log(const std::vector<Op>& ops, const std::vector<LoggedEvent>& events, Audit& audit) {
  std::multiset<std::string> expected, logged;
  for (const auto& op : ops) {
    for (const auto& key : op.expected_events) expected.insert(key);
  }
  for (const auto& e : events) {
    if (e.actor.rfind("worker-", 0) == 0) logged.insert(event_key(e));
  }
  std::vector<std::string> missing, extra;
  std::set_difference(expected.begin(), expected.end(), logged.begin(), logged.end(),
                      std::back_inserter(missing));
  std::set_difference(logged.begin(), logged.end(), expected.begin(), expected.end(),
                      std::back_inserter(extra));
  for (const auto& m : missing) audit.fail("acknowledged but not in the log: " + m);
  for (const auto& x : extra) audit.fail("in the log but not acknowledged: " + x);
}

std::vector<std::string> versions_of(DbReader& db, const std::string& model) {
  std::vector<std::string> out;
  for (const auto& r : db.rows("SELECT v.version FROM versions v JOIN models m ON m.id = v.model_id "
                               "WHERE m.name = '" + model + "' ORDER BY v.major, v.minor, v.patch")) {
    out.push_back(r[0]);
  }
  return out;
}

// Versions chosen by register are contiguous (0.1.0 .. 0.N.0, one per
// acknowledged registration); pinned ones were each won by one process.
void check_versions(DbReader& db, const std::vector<Op>& ops, Audit& audit) {
  std::map<std::string, long> registered;
  std::multiset<std::string> pinned_won;
  for (const auto& op : ops) {
    if (op.outcome != "registered") continue;
    if (op.kind == OpKind::register_pinned) pinned_won.insert(op.ref);
    else ++registered[op.model];
  }
  for (const auto& [model, count] : registered) {
    const auto versions = versions_of(db, model);
    std::vector<std::string> want;
    for (long i = 1; i <= count; ++i) want.push_back("0." + std::to_string(i) + ".0");
    if (versions != want) {
      audit.fail(model + ": " + std::to_string(versions.size()) + " versions, not 0.1.0 .. 0." +
                 std::to_string(count) + ".0");
    }
  }
  std::set<std::string> unique(pinned_won.begin(), pinned_won.end());
  if (unique.size() != pinned_won.size()) audit.fail("a pinned version was acknowledged twice");
  std::set<std::string> table;
  for (const auto& v : versions_of(db, k_pinned)) table.insert(k_pinned + "@" + v);
  if (table != unique) audit.fail("pinned versions in the table differ from those acknowledged");
  if (db.number("SELECT COUNT(*) FROM (SELECT subject FROM events WHERE kind = 'version.registered' "
                "GROUP BY subject HAVING COUNT(*) > 1)") != 0) {
    audit.fail("a version was registered twice in the log");
  }
}

// Each move names the holder it replaced (the compare and swap), and comes
// right after the verdict it was decided on.
void check_stage_moves(const std::vector<LoggedEvent>& events, Audit& audit) {
  std::map<std::string, std::string> holder;  // "model stage" -> version
  std::map<long, const LoggedEvent*> by_seq;
  for (const auto& e : events) by_seq[e.seq] = &e;
  for (const auto& e : events) {
    if (e.kind != "stage.assigned") continue;
    const std::string slot = e.name + " " + e.payload.value("stage", "");
    const auto& replaced = e.payload["replaced"];
    const std::string was = replaced.is_object() ? replaced.value("version", "") : "";
    if (was != holder[slot]) {
      audit.fail("event " + std::to_string(e.seq) + " replaced '" + was + "' in " + slot + ", which held '" +
                 holder[slot] + "'");
    }
    holder[slot] = e.payload.value("version", "");
    const auto gate = by_seq.find(e.seq - 1);
    if (gate == by_seq.end() || gate->second->kind != "gate.evaluated" ||
        gate->second->id != e.payload.value("gates_event", "") || gate->second->actor != e.actor ||
        gate->second->subject != e.subject) {
      audit.fail("event " + std::to_string(e.seq) + " does not follow its own gate verdict");
    }
  }
}

std::string counts_text(const std::map<std::string, long>& counts) {
  std::string text;
  for (const auto& [what, n] : counts) text += (text.empty() ? "" : ", ") + std::to_string(n) + " " + what;
  return text;
}

}  // namespace

TEST_CASE("concurrent writers and readers: nothing lost, nothing doubled, no lock errors",
          "[concurrency]") {
  const long processes = lm::stress::knob("PROCESSES", 8, 32);
  const long operations = lm::stress::knob("OPERATIONS", 50, 200);
  const std::uint64_t seed = lm::stress::seed();
  INFO("seed " << seed);
  Sandbox sb;
  REQUIRE(sb.run({"init"}).rc == 0);
  sb.write("lastmile.yaml", k_policy);
  std::filesystem::create_directories(sb.repo() / "art");

  const auto started = std::chrono::steady_clock::now();
  Shared shared;
  std::vector<std::future<std::vector<Op>>> workers;
  for (long w = 0; w < processes; ++w) {
    workers.push_back(std::async(std::launch::async, [&, w] {
      return run_worker(sb, static_cast<int>(w), operations, seed, shared);
    }));
  }
  std::vector<Op> ops;
  for (auto& w : workers) {
    auto done = w.get();
    ops.insert(ops.end(), std::make_move_iterator(done.begin()), std::make_move_iterator(done.end()));
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

  Audit audit;
  std::map<std::string, long> outcomes;
  long acknowledged = 0, writes = 0, reads = 0, refused = 0, lock_errors = 0;
  for (const auto& op : ops) {
    ++outcomes[op.outcome];
    if (op.result.rc == 0) ++acknowledged;
    if (op.result.rc == 0 && !op.expected_events.empty()) ++writes;
    if (op.result.rc == 0 && op.kind == OpKind::read) ++reads;
    if (op.result.rc == 1 && op.problem.empty()) ++refused;
    if (op.lock_error) ++lock_errors;
    if (!op.problem.empty()) audit.fail(op.problem);
  }
  DbReader db(sb.registry());
  const auto events = db.events();
  compare_with_log(ops, events, audit);
  check_versions(db, ops, audit);
  check_stage_moves(events, audit);
  const RunResult verify = sb.run({"verify"});
  const RunResult chain = sb.run({"audit", "verify"});
  const RunResult fsck = sb.run({"fsck"});
  if (verify.rc != 0) audit.fail("verify exited " + std::to_string(verify.rc) + ": " + verify.err);
  if (chain.rc != 0) audit.fail("audit verify exited " + std::to_string(chain.rc) + ": " + chain.err);
  if (fsck.rc != 0) audit.fail("fsck exited " + std::to_string(fsck.rc) + ": " + fsck.err);
  if (db.rows("PRAGMA integrity_check") != std::vector<std::vector<std::string>>{{"ok"}}) {
    audit.fail("integrity_check is not ok");
  }

  std::ostringstream reached;
  reached << acknowledged << " operations acknowledged (" << writes << " writes, each in the log once; " << reads
          << " reads; " << acknowledged - writes - reads << " no-op promotions), " << refused
          << " refused as documented; " << lock_errors << " lock errors; verify "
          << (verify.rc == 0 ? "passed" : "FAILED");
  if (audit.failures > 0) reached << "; " << audit.failures << " problems";
  lm::stress::report({"1-concurrency", "Concurrency",
                      std::to_string(processes) + " processes × " + std::to_string(operations) + " operations",
                      reached.str(), audit.failures,
                      {{"seed", seed},
                       {"seconds", seconds},
                       {"operations", ops.size()},
                       {"acknowledged", acknowledged},
                       {"refused", refused},
                       {"events", events.size()},
                       {"outcomes", outcomes},
                       {"lock_errors", lock_errors},
                       {"problems", audit.problems}}});
  INFO("outcomes: " << counts_text(outcomes));
  for (const auto& p : audit.problems) UNSCOPED_INFO(p);
  CHECK(audit.failures == 0);
  CHECK(lock_errors == 0);
  CHECK(acknowledged > 0);
}

namespace {

// Holds the registry's write lock from this process, as another writer
// would, until released.
class LockHolder {
 public:
  explicit LockHolder(const Sandbox& sb) {
    REQUIRE(sqlite3_open((sb.registry() / "registry.db").c_str(), &m_db) == SQLITE_OK);
    REQUIRE(sqlite3_exec(m_db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) == SQLITE_OK);
  }
  ~LockHolder() {
    sqlite3_exec(m_db, "ROLLBACK", nullptr, nullptr, nullptr);
    sqlite3_close(m_db);
  }
  LockHolder(const LockHolder&) = delete;
  LockHolder& operator=(const LockHolder&) = delete;

 private:
  sqlite3* m_db = nullptr;
};

}  // namespace

TEST_CASE("a write lock held past LASTMILE_LOCK_TIMEOUT: exit 75 within the timeout plus 0.5 s",
          "[concurrency][lock]") {
  const long rounds = lm::stress::knob("LOCK_ROUNDS", 2, 10);
  constexpr double k_timeout = 2.0, k_limit = 2.5;
  Sandbox sb;
  REQUIRE(sb.run({"init"}).rc == 0);
  sb.write("lastmile.yaml", lm::stress::workload::k_policy);
  sb.write("a.bin", "a");
  REQUIRE(sb.run({"register", "churn", "a.bin"}).rc == 0);
  const std::vector<std::vector<std::string>> writers = {
      {"register", "churn", "b.bin"},
      {"annotate", "churn@0.1.0", "--label", "eval=done"},
      {"promote", "churn@0.1.0", "--to", "staging"},
  };
  sb.write("b.bin", "b");
  const long events = sb.event_count();
  long failures = 0, runs = 0, in_time = 0;
  double fastest = 1e9, slowest = 0;
  std::vector<std::string> problems;
  for (long round = 0; round < rounds; ++round) {
    for (const auto& args : writers) {
      INFO("round " << round << ": " << args[0]);
      LockHolder lock(sb);
      // One process at a time, timed on a steady clock from start to exit.
      const auto start = std::chrono::steady_clock::now();
      const RunResult r = sb.run(args, {.env = {{"LASTMILE_LOCK_TIMEOUT", "2"}}});
      const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      ++runs;
      fastest = std::min(fastest, took);
      slowest = std::max(slowest, took);
      const bool ok = r.rc == 75 && took >= k_timeout && took <= k_limit && r.out.empty() &&
                      r.err.rfind("lastmile: error: registry busy: write lock held by another process for "
                                  "more than 2s\nhint: it is safe to retry", 0) == 0;
      if (ok) ++in_time;
      if (!ok) {
        ++failures;
        problems.push_back(args[0] + ": exit " + std::to_string(r.rc) + " after " + std::to_string(took) +
                           " s: " + r.err);
      }
      CHECK(r.rc == 75);
      CHECK(took >= k_timeout);
      CHECK(took <= k_limit);
      CHECK(r.out.empty());
      CHECK_THAT(r.err, Catch::StartsWith("lastmile: error: registry busy: write lock held by another "
                                          "process for more than 2s\nhint: it is safe to retry"));
    }
  }
  // Nothing was written; once the lock is free, the same commands succeed.
  const bool nothing_written = sb.event_count() == events;
  if (!nothing_written) ++failures;
  CHECK(nothing_written);
  for (const auto& args : writers) {
    const RunResult r = sb.run(args, {.env = {{"LASTMILE_LOCK_TIMEOUT", "2"}}});
    INFO(args[0] << ": " << r.err);
    if (r.rc != 0) ++failures;
    CHECK(r.rc == 0);
  }
  char range[96];
  std::snprintf(range, sizeof range, "%.2f–%.2f s", fastest, slowest);
  lm::stress::report({"1b-lock-timeout", "Lock timeout",
                      std::to_string(runs) + " writers against a lock held past a 2 s timeout",
                      std::to_string(in_time) + " of " + std::to_string(runs) +
                          " exited 75 after " + range + " (limit 2.5 s)" +
                          (nothing_written ? "; nothing written" : "; events were written"),
                      failures,
                      {{"fastest_seconds", fastest}, {"slowest_seconds", slowest}, {"problems", problems}}});
  CHECK(failures == 0);
}
