// Two promotions of one stage at once: the compare and swap lets exactly one
// through. A command gate that waits at a barrier makes the race certain:
// both processes have read the stage's holder before either commits.

#include <sqlite3.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <optional>
#include <set>
#include <thread>

#include "tests/e2e/sandbox.hpp"

using lm::test::RunOptions;
using lm::test::RunResult;
using lm::test::Sandbox;

namespace {

namespace fs = std::filesystem;

// Production's gate: announce this version at the barrier in $RACE_DIR,
// then wait (at most ~10 s) until the other promotion has got there too.
const char* k_barrier = R"(touch "$RACE_DIR/$LASTMILE_VERSION.ready"
i=0
while :; do
  set -- "$RACE_DIR"/*.ready
  [ $# -ge 2 ] && exit 0
  i=$((i + 1))
  if [ $i -ge 1000 ]; then echo "barrier: alone after 10 s" >&2; exit 3; fi
  sleep 0.01
done
)";

// Production's gate: say the gates are running, then wait for the test's go.
const char* k_wait_for_go = R"(touch "$RACE_DIR/started"
i=0
while [ ! -e "$RACE_DIR/go" ]; do
  i=$((i + 1))
  if [ $i -ge 1000 ]; then echo "no go after 10 s" >&2; exit 3; fi
  sleep 0.01
done
)";

void write_policy(Sandbox& sb, const std::string& script) {
  sb.write("gate.sh", script);
  sb.write("lastmile.yaml", R"(stages:
  - name: sandbox
  - name: staging
    from: [sandbox]
  - name: production
    from: [staging]
    gates:
      - {command: [sh, gate.sh], timeout: 60}
)");
}

// Registers `count` versions of churn and puts each through staging.
void populate(Sandbox& sb, int count) {
  for (int i = 1; i <= count; ++i) {
    const std::string file = "m" + std::to_string(i) + ".bin";
    sb.write(file, "weights " + std::to_string(i));
    REQUIRE(sb.run({"register", "churn", file}).rc == 0);
    REQUIRE(sb.run({"promote", "churn@0." + std::to_string(i) + ".0", "--to", "staging"}).rc == 0);
  }
}

RunOptions race_options(const fs::path& dir) {
  return {.env = {{"RACE_DIR", dir.string()}, {"LASTMILE_ACTOR", "racer"}}};
}

// What a reader saw of production: how many rows, and the version held.
struct Observation {
  int rows = 0;
  std::string version;
};

// Reads production's assignment over and over with a connection of its
// own, as any reader would, until stopped. Catch assertions are not thread
// safe: it only collects.
class Watcher {
 public:
  explicit Watcher(const Sandbox& sb) : m_db_path(sb.registry() / "registry.db") {
    m_thread = std::thread([this] { watch(); });
  }
  ~Watcher() { stop(); }
  std::vector<Observation> stop() {
    m_stop = true;
    if (m_thread.joinable()) m_thread.join();
    return m_seen;
  }
  int errors() const { return m_errors; }

 private:
  void watch() {
    sqlite3* db = nullptr;
    if (sqlite3_open_v2(m_db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
      ++m_errors;
      sqlite3_close(db);
      return;
    }
    sqlite3_busy_timeout(db, 1000);
    sqlite3_stmt* stmt = nullptr;
    sqlite3_prepare_v2(db,
                       "SELECT COUNT(*), COALESCE(MAX(v.version), '') FROM stage_assignments a "
                       "JOIN versions v ON v.id = a.version_id WHERE a.stage = 'production'",
                       -1, &stmt, nullptr);
    while (!m_stop) {
      if (sqlite3_step(stmt) == SQLITE_ROW) {
        m_seen.push_back({sqlite3_column_int(stmt, 0),
                          reinterpret_cast<const char*>(sqlite3_column_text(stmt, 1))});
      } else {
        ++m_errors;
      }
      sqlite3_reset(stmt);
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
  }

  fs::path m_db_path;
  std::atomic<bool> m_stop{false};
  std::vector<Observation> m_seen;
  int m_errors = 0;
  std::thread m_thread;
};

long production_moves(const Sandbox& sb) {
  long n = 0;
  const auto events = sb.run({"audit", "--json"}).json()["events"];
  for (const auto& e : events) {
    if (e["kind"] == "stage.assigned" && e["payload"]["stage"] == "production") ++n;
  }
  return n;
}

std::string production_holder(const Sandbox& sb) {
  const auto r = sb.run({"show", "churn@production", "--json"});
  REQUIRE(r.rc == 0);
  return r.json()["version"];
}

}  // namespace

TEST_CASE("two promotions racing for one stage: one wins, the other is refused", "[e2e][race]") {
  Sandbox sb;
  REQUIRE(sb.run({"init"}).rc == 0);
  write_policy(sb, k_barrier);
  constexpr int k_rounds = 3;
  populate(sb, 2 * k_rounds);
  std::optional<std::string> previous;  // production's holder before the round
  for (int round = 0; round < k_rounds; ++round) {
    const std::string a = "0." + std::to_string(2 * round + 1) + ".0";
    const std::string b = "0." + std::to_string(2 * round + 2) + ".0";
    INFO("round " << round << ": " << a << " against " << b);
    const fs::path dir = sb.root() / ("race-" + std::to_string(round));
    fs::create_directories(dir);
    const long events = sb.event_count();
    Watcher watcher(sb);
    auto run_a = std::async(std::launch::async, [&] {
      return sb.run({"promote", "churn@" + a, "--to", "production"}, race_options(dir));
    });
    auto run_b = std::async(std::launch::async, [&] {
      return sb.run({"promote", "churn@" + b, "--to", "production"}, race_options(dir));
    });
    const RunResult ra = run_a.get();
    const RunResult rb = run_b.get();
    const std::vector<Observation> seen = watcher.stop();
    INFO("a: " << ra.rc << " " << ra.err << "b: " << rb.rc << " " << rb.err);
    // Both reached the barrier, so both had read the holder.
    CHECK(fs::exists(dir / (a + ".ready")));
    CHECK(fs::exists(dir / (b + ".ready")));
    REQUIRE(std::min(ra.rc, rb.rc) == 0);
    REQUIRE(std::max(ra.rc, rb.rc) == 1);
    const bool a_won = ra.rc == 0;
    const std::string winner = a_won ? a : b;
    const std::string loser = a_won ? b : a;
    const RunResult& won = a_won ? ra : rb;
    const RunResult& lost = a_won ? rb : ra;
    CHECK(won.err.empty());
    CHECK_THAT(won.out, Catch::EndsWith("promoted churn@" + winner + " to production" +
                                        (previous ? " (replacing churn@" + *previous + ")" : "") + "\n"));
    // The loser's gates passed, and its report says so before the refusal.
    CHECK_THAT(lost.out, Catch::StartsWith("churn@" + loser + " → production: passed"));
    CHECK_THAT(lost.err, Catch::StartsWith("lastmile: error: cannot promote 'churn@" + loser +
                                           "' to 'production': the stage moved while its gates ran; "
                                           "it now holds churn@" + winner + " (promoted by racer at "));
    CHECK_THAT(lost.err, Catch::EndsWith(
                             "hint: run the promotion again to evaluate the gates against the new holder\n"));
    // Production holds the winner; the log has one move, and both verdicts
    // (every evaluation is evidence, the loser's too).
    CHECK(production_holder(sb) == winner);
    CHECK(production_moves(sb) == round + 1);
    CHECK(sb.event_count() == events + 3);
    // The newest three events: both verdicts and the winner's move.
    const auto recent = sb.run({"audit", "--json", "-n", "3"}).json()["events"];
    nlohmann::json last, loser_verdict;
    for (const auto& event : recent) {
      if (event["kind"] == "stage.assigned") last = event;
      if (event["kind"] == "gate.evaluated" && event["payload"]["version"] == loser) loser_verdict = event;
    }
    REQUIRE(last.is_object());
    REQUIRE(loser_verdict.is_object());
    CHECK(loser_verdict["payload"]["passed"] == true);
    CHECK(last["payload"]["version"] == winner);
    if (previous) {
      CHECK(last["payload"]["replaced"]["version"] == *previous);
    } else {
      CHECK(last["payload"]["replaced"].is_null());
    }
    // A reader never saw two holders, never lost the holder once there was
    // one, and saw nothing but the old holder, then the winner.
    CHECK(watcher.errors() == 0);
    CHECK(seen.size() > 20);  // it did watch the race
    bool saw_one = previous.has_value();
    bool saw_winner = false;
    std::set<std::string> versions;
    for (const auto& o : seen) {
      CHECK(o.rows <= 1);
      if (o.rows == 1) saw_one = true;
      if (saw_one) CHECK(o.rows == 1);
      if (o.rows == 0) continue;
      versions.insert(o.version);
      if (o.version == winner) saw_winner = true;
      if (saw_winner) CHECK(o.version == winner);
    }
    versions.erase(winner);
    if (previous) versions.erase(*previous);
    CHECK(versions.empty());  // the loser was never visible
    previous = winner;
  }
  CHECK(sb.run({"verify"}).rc == 0);
  CHECK(sb.run({"audit", "verify"}).rc == 0);
}

TEST_CASE("the refused racer succeeds when it runs again, replacing the winner", "[e2e][race]") {
  Sandbox sb;
  REQUIRE(sb.run({"init"}).rc == 0);
  write_policy(sb, k_barrier);
  populate(sb, 2);
  const fs::path dir = sb.root() / "race";
  fs::create_directories(dir);
  auto run_a = std::async(std::launch::async, [&] {
    return sb.run({"promote", "churn@0.1.0", "--to", "production"}, race_options(dir));
  });
  auto run_b = std::async(std::launch::async, [&] {
    return sb.run({"promote", "churn@0.2.0", "--to", "production"}, race_options(dir));
  });
  const RunResult ra = run_a.get();
  const RunResult rb = run_b.get();
  REQUIRE(ra.rc + rb.rc == 1);
  const std::string loser = ra.rc == 1 ? "0.1.0" : "0.2.0";
  const std::string winner = ra.rc == 1 ? "0.2.0" : "0.1.0";
  // The barrier is open now: both ready files are there.
  const auto again = sb.run({"promote", "churn@" + loser, "--to", "production"}, race_options(dir));
  CHECK(again.rc == 0);
  CHECK_THAT(again.out, Catch::EndsWith("promoted churn@" + loser + " to production (replacing churn@" +
                                        winner + ")\n"));
  CHECK(production_holder(sb) == loser);
  CHECK(sb.run({"verify"}).rc == 0);
}

TEST_CASE("concurrent approvals are each counted once per actor", "[e2e][race]") {
  Sandbox sb;
  REQUIRE(sb.run({"init"}).rc == 0);
  sb.write("lastmile.yaml", R"(stages:
  - name: sandbox
  - name: staging
    from: [sandbox]
  - name: production
    from: [staging]
    approvals: {count: 4}
)");
  populate(sb, 1);
  const long events = sb.event_count();
  // Four reviewers at once, one of them twice.
  const std::vector<std::string> actors{"ann", "ben", "cat", "dan", "dan"};
  std::vector<std::future<RunResult>> runs;
  for (const auto& actor : actors) {
    runs.push_back(std::async(std::launch::async, [&sb, actor] {
      return sb.run({"approve", "churn@0.1.0", "--stage", "production", "--json"},
                    {.env = {{"LASTMILE_ACTOR", actor}}});
    }));
  }
  int recorded = 0;
  for (auto& run : runs) {
    const RunResult r = run.get();
    INFO(r.err);
    REQUIRE(r.rc == 0);
    if (r.json()["recorded"] == true) ++recorded;
  }
  CHECK(recorded == 4);
  CHECK(sb.event_count() == events + 4);
  const auto r = sb.run({"promote", "churn@0.1.0", "--to", "production"});
  CHECK(r.rc == 0);
  CHECK_THAT(r.out, Catch::Contains("4 of 4 approvals (") && Catch::Contains("ann") &&
                        Catch::Contains("ben") && Catch::Contains("cat") && Catch::Contains("dan"));
  CHECK(production_holder(sb) == "0.1.0");
}

TEST_CASE("a rollback while a promotion's gates run wins, and the promotion is refused", "[e2e][race]") {
  Sandbox sb;
  REQUIRE(sb.run({"init"}).rc == 0);
  write_policy(sb, k_wait_for_go);
  populate(sb, 3);
  const fs::path dir = sb.root() / "race";
  fs::create_directories(dir);
  RunOptions go = race_options(dir);
  fs::path go_file = dir / "go";
  std::ofstream(go_file).close();
  REQUIRE(sb.run({"promote", "churn@0.1.0", "--to", "production"}, go).rc == 0);
  REQUIRE(sb.run({"promote", "churn@0.2.0", "--to", "production"}, go).rc == 0);
  fs::remove(go_file);
  fs::remove(dir / "started");
  const long events = sb.event_count();
  auto pending = std::async(std::launch::async, [&] {
    return sb.run({"promote", "churn@0.3.0", "--to", "production"}, race_options(dir));
  });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!fs::exists(dir / "started") && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  REQUIRE(fs::exists(dir / "started"));
  // The gates run outside the write lock: the rollback does not wait.
  const auto rollback = sb.run({"rollback", "churn", "--stage", "production", "--reason", "incident"},
                               {.env = {{"LASTMILE_LOCK_TIMEOUT", "2"}, {"LASTMILE_ACTOR", "oncall"}}});
  std::ofstream(go_file).close();
  const RunResult r = pending.get();
  CHECK(rollback.rc == 0);
  CHECK(rollback.out == "rolled production back to churn@0.1.0 (was 0.2.0)\n");
  CHECK(r.rc == 1);
  CHECK_THAT(r.out, Catch::StartsWith("churn@0.3.0 → production: passed"));
  CHECK_THAT(r.err, Catch::StartsWith("lastmile: error: cannot promote 'churn@0.3.0' to 'production': the "
                                      "stage moved while its gates ran; it now holds churn@0.1.0 (rolled "
                                      "back by oncall at "));
  CHECK(production_holder(sb) == "0.1.0");
  CHECK(sb.event_count() == events + 2);  // the rollback, and the promotion's verdict
  CHECK(sb.run({"verify"}).rc == 0);
}
