// kill -9 at random moments during register (small and large artifacts) and
// promote. After each kill: verify and fsck pass, the killed operation is
// wholly there or wholly absent, every object hashes to its name, temporary
// files it left are cleaned by the next run, and the next run succeeds.
//
// Knobs: LASTMILE_STRESS_KILLS (200; large 5000), LASTMILE_STRESS_LARGE_MIB
// (32; large 64), LASTMILE_STRESS_KILLS_PER_REGISTRY (25; large 100): a fresh
// registry after that many kills keeps the store's size bounded.

#include <catch2/catch.hpp>
#include <functional>
#include <sstream>

#include "tests/stress/crash_rig.hpp"
#include "tests/stress/stress.hpp"

using namespace lm::stress::crash;
using lm::stress::DbReader;
using lm::stress::LoggedEvent;

namespace {

using Micros = std::chrono::microseconds;

// How long an operation takes when nothing kills it: the median of a few
// runs, so the kills can be spread over that time.
struct Durations {
  Micros small{0}, large{0}, promote{0};
};

Micros timed(const std::function<void()>& f) {
  const auto start = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration_cast<Micros>(std::chrono::steady_clock::now() - start);
}

Micros median(std::vector<Micros> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

void must(const RunResult& r, const std::string& what) {
  if (r.rc != 0) throw std::runtime_error(what + " exited " + std::to_string(r.rc) + ": " + r.err);
}

// Registers a fresh small version of `model`; returns its ref.
std::string register_fresh(Rig& rig, const std::string& model, std::mt19937_64& rng) {
  const auto r = rig.sb->run({"register", model, rig.artifact(false, 0, rng), "--json"});
  must(r, "register " + model);
  return nlohmann::json::parse(r.out).at("ref").get<std::string>();
}

Durations measure(Rig& rig, long large_mib, std::mt19937_64& rng) {
  std::vector<Micros> small, large, promote;
  for (int i = 0; i < 5; ++i) {
    const std::string s = rig.artifact(false, 0, rng), l = rig.artifact(true, large_mib, rng);
    small.push_back(timed([&] { must(rig.sb->run({"register", "churn", s}), "register"); }));
    large.push_back(timed([&] { must(rig.sb->run({"register", "vision", l}), "register"); }));
    const std::string ref = register_fresh(rig, "ranker", rng);
    promote.push_back(timed([&] { must(rig.sb->run({"promote", ref, "--to", "staging"}), "promote"); }));
    fs::remove_all(rig.sb->repo() / l);
  }
  return {median(small), median(large), median(promote)};
}

std::string holder(const Sandbox& sb, const std::string& model, const std::string& stage) {
  const auto rows = DbReader(sb.registry()).rows(
      "SELECT v.version FROM stage_assignments a JOIN versions v ON v.id = a.version_id "
      "JOIN models m ON m.id = a.model_id WHERE m.name = '" + model + "' AND a.stage = '" + stage + "'");
  return rows.empty() ? "" : rows[0][0];
}

bool classify_exit(const RunResult& r, Tally& t, const std::string& where) {
  if (r.rc == 128 + SIGKILL) return true;
  if (r.rc == 0) {
    ++t.finished_first;
    return false;
  }
  t.problem(t.unexpected_exits, where + ": exited " + std::to_string(r.rc) + ": " + r.err.substr(0, 300));
  return false;
}

// The registration is all there (event, version row, file rows, objects
// with the artifact's bytes) or not at all; returns the objects it left
// behind when it was killed before its commit.
std::set<std::string> check_registration(Rig& rig, const std::string& model, const std::string& source,
                                         long before_seq, long versions_before,
                                         const std::set<std::string>& objects_before, bool finished, Tally& t,
                                         const std::string& where) {
  DbReader db(rig.sb->registry());
  const auto events = db.events(before_seq);
  const std::string count_versions = "SELECT COUNT(*) FROM versions v JOIN models m ON m.id = v.model_id "
                                     "WHERE m.name = '" + model + "'";
  const long versions = db.number(count_versions);
  if (events.empty()) {
    ++t.absent;
    if (finished) t.problem(t.half_states, where + ": exited 0 but nothing is in the log");
    if (versions != versions_before) t.problem(t.half_states, where + ": a version row without its event");
    std::set<std::string> orphans;
    for (const auto& name : object_names(*rig.sb)) {
      if (!objects_before.count(name)) orphans.insert(name);
    }
    t.orphan_objects += static_cast<long>(orphans.size());
    return orphans;
  }
  ++t.present;
  const LoggedEvent& e = events.front();
  if (events.size() != 1 || e.kind != "version.registered" || e.name != model) {
    t.problem(t.half_states, where + ": the log grew by " + std::to_string(events.size()) + " events, first " +
                                 e.kind + " " + e.subject);
    return {};
  }
  const auto rows = db.rows("SELECT v.digest, (SELECT COUNT(*) FROM files f WHERE f.version_id = v.id) "
                            "FROM versions v WHERE v.event_seq = " + std::to_string(e.seq));
  if (rows.size() != 1 || rows[0][0] != e.payload.value("digest", "") || versions != versions_before + 1) {
    t.problem(t.half_states, where + ": " + e.subject + " is in the log without its version row");
    return {};
  }
  const auto hashes = rig.source_hashes(source);
  const auto& files = e.payload.at("files");
  if (std::stol(rows[0][1]) != static_cast<long>(files.size()) || files.size() != hashes.size()) {
    t.problem(t.half_states, where + ": " + e.subject + " lists " + rows[0][1] + " file rows, the artifact has " +
                                 std::to_string(hashes.size()) + " files");
  }
  for (const auto& f : files) {
    const std::string sha = f.value("sha256", "");
    const auto it = hashes.find(f.value("path", ""));
    if (it == hashes.end() || it->second != sha) {
      t.problem(t.half_states, where + ": " + e.subject + " records " + f.value("path", "") + " with other bytes");
    } else if (!lstat_exists(rig.sb->registry() / "objects" / "sha256" / sha.substr(0, 2) / sha.substr(2))) {
      t.problem(t.half_states, where + ": " + e.subject + " is missing the object of " + f.value("path", ""));
    }
  }
  return {};
}

// Objects a killed registration published are the artifact's bytes under
// their hash: the next registration of those bytes refers to them.
void check_adopted(Rig& rig, const std::set<std::string>& orphans, Tally& t, const std::string& where) {
  if (orphans.empty()) return;
  DbReader db(rig.sb->registry());
  for (const auto& name : orphans) {
    if (db.number("SELECT COUNT(*) FROM files WHERE sha256 = '" + name + "'") == 0) {
      t.problem(t.orphans_not_adopted, where + ": object " + name + " is referenced by no version");
    }
  }
}

void kill_register(Rig& rig, bool large, long large_mib, Micros delay, std::mt19937_64& rng, Tally& t) {
  const std::string model = large ? "vision" : "churn";
  const std::string source = rig.artifact(large, large_mib, rng);
  const std::string where = std::string(large ? "register large" : "register small") + " killed after " +
                            std::to_string(delay.count()) + " µs";
  const long before_seq = lm::stress::max_seq(rig.sb->registry());
  const long versions_before = DbReader(rig.sb->registry()).number(
      "SELECT COUNT(*) FROM versions v JOIN models m ON m.id = v.model_id WHERE m.name = '" + model + "'");
  const auto objects_before = object_names(*rig.sb);
  const std::vector<std::string> args{"register", model, source, "--json"};
  ++t.attempts;
  const RunResult r = run_and_kill(*rig.sb, args, delay);
  const bool killed = classify_exit(r, t, where);
  if (killed) {
    ++t.kills;
    ++t.kills_by[large ? "register large" : "register small"];
    rig.count_temps(t);
  }
  const auto orphans =
      check_registration(rig, model, source, before_seq, versions_before, objects_before, r.rc == 0, t, where);
  if (killed && lm::stress::max_seq(rig.sb->registry()) > before_seq) ++t.killed_whole;
  rig.check_registry(t, where);
  // The next run succeeds, and takes the leftovers with it.
  const RunResult again = rig.sb->run(args);
  if (again.rc != 0) t.problem(t.rerun_failures, where + ": the next register exited " +
                                                     std::to_string(again.rc) + ": " + again.err.substr(0, 300));
  rig.temps_cleaned(t, where);
  check_adopted(rig, orphans, t, where);
  fs::remove_all(rig.sb->repo() / source);
}

// The promotion is all there (its verdict and the move, the stage holding
// the version) or not at all (the stage holds what it held).
void kill_promote(Rig& rig, Micros delay, std::mt19937_64& rng, Tally& t) {
  const std::string ref = register_fresh(rig, "ranker", rng);
  const std::string version = ref.substr(ref.find('@') + 1);
  const std::string stage = rng() % 2 ? "staging" : "production";
  if (stage == "production") must(rig.sb->run({"promote", ref, "--to", "staging"}), "promote to staging");
  const std::string where = "promote to " + stage + " killed after " + std::to_string(delay.count()) + " µs";
  const std::string held = holder(*rig.sb, "ranker", stage);
  const long before_seq = lm::stress::max_seq(rig.sb->registry());
  const std::vector<std::string> args{"promote", ref, "--to", stage};
  ++t.attempts;
  const RunResult r = run_and_kill(*rig.sb, args, delay);
  const bool killed = classify_exit(r, t, where);
  if (killed) {
    ++t.kills;
    ++t.kills_by["promote"];
    rig.count_temps(t);
  }
  const auto events = DbReader(rig.sb->registry()).events(before_seq);
  if (killed && !events.empty()) ++t.killed_whole;
  const std::string now = holder(*rig.sb, "ranker", stage);
  if (events.empty()) {
    ++t.absent;
    if (r.rc == 0) t.problem(t.half_states, where + ": exited 0 but nothing is in the log");
    if (now != held) t.problem(t.half_states, where + ": the stage moved to " + now + " with nothing in the log");
  } else {
    ++t.present;
    const bool whole = events.size() == 2 && events[0].kind == "gate.evaluated" && events[0].subject == ref &&
                       events[1].kind == "stage.assigned" && events[1].subject == ref &&
                       events[1].payload.value("stage", "") == stage &&
                       events[1].payload.value("gates_event", "") == events[0].id && now == version;
    if (!whole) t.problem(t.half_states, where + ": " + std::to_string(events.size()) +
                                             " events, and the stage holds '" + now + "'");
  }
  rig.check_registry(t, where);
  const RunResult again = rig.sb->run(args);
  long moves = 0;
  for (const auto& e : DbReader(rig.sb->registry()).events(before_seq)) {
    if (e.kind == "stage.assigned") ++moves;
  }
  if (again.rc != 0 || moves != 1 || holder(*rig.sb, "ranker", stage) != version) {
    t.problem(t.rerun_failures, where + ": the next promote exited " + std::to_string(again.rc) + " with " +
                                    std::to_string(moves) + " moves in the log: " + again.err.substr(0, 300));
  }
}

void verify_deep(Rig& rig, Tally& t) {
  const RunResult r = rig.sb->run({"verify", "--deep"});
  if (r.rc != 0) t.problem(t.verify_failures, "verify --deep exited " + std::to_string(r.rc) + ": " + r.err);
}

std::string reached_text(const Tally& t) {
  std::ostringstream s;
  s << t.kills << " kills survived (" << t.kills_by.at("register small") << " during register small, "
    << t.kills_by.at("register large") << " large, " << t.kills_by.at("promote") << " promote); "
    << t.half_states << " half states (" << t.killed_whole << " killed after their commit, "
    << t.kills - t.killed_whole << " before it); "
    << t.temps_left << " temporary files left by kills, " << t.temps_not_cleaned << " not cleaned by the next run";
  if (t.failures() > 0) s << "; " << t.failures() << " problems";
  return s.str();
}

}  // namespace

TEST_CASE("kill -9 during register and promote leaves the whole operation or none of it", "[crash]") {
  const long kills = lm::stress::knob("KILLS", 200, 5000);
  const long large_mib = lm::stress::knob("LARGE_MIB", 32, 64);
  const long per_registry = std::max(1L, lm::stress::knob("KILLS_PER_REGISTRY", 25, 100));
  const std::uint64_t seed = lm::stress::seed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  const auto started = std::chrono::steady_clock::now();
  auto rig = std::make_unique<Rig>();
  const Durations d = measure(*rig, large_mib, rng);
  Tally t;
  for (const char* name : {"register small", "register large", "promote"}) t.kills_by[name] = 0;
  long in_this_registry = 0;
  // Kills that land after the process exited do not count: try until
  // `kills` landed, within a bound.
  while (t.kills < kills && t.attempts < 3 * kills) {
    if (in_this_registry >= per_registry) {
      verify_deep(*rig, t);
      rig = std::make_unique<Rig>();
      in_this_registry = 0;
    }
    const auto target = static_cast<Target>(rng() % 3);
    const Micros span = target == Target::small ? d.small : target == Target::large ? d.large : d.promote;
    // A little past the typical end too: the commit is the last thing before exit.
    const Micros delay(static_cast<long>(rng() % static_cast<std::uint64_t>(span.count() * 115 / 100 + 1)));
    INFO("attempt " << t.attempts << ": " << target_name(target) << " killed after " << delay.count() << " µs");
    const long kills_before = t.kills;
    if (target == Target::promote) {
      kill_promote(*rig, delay, rng, t);
    } else {
      kill_register(*rig, target == Target::large, large_mib, delay, rng, t);
    }
    in_this_registry += t.kills - kills_before;
  }
  verify_deep(*rig, t);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  lm::stress::report({"2-crash", "Crash (kill -9)",
                      std::to_string(kills) + " kills at random moments (register small, register " +
                          std::to_string(large_mib) + " MiB, promote)",
                      reached_text(t), t.failures(),
                      {{"seed", seed},
                       {"seconds", seconds},
                       {"attempts", t.attempts},
                       {"finished_before_the_kill", t.finished_first},
                       {"typical_us", {{"register small", d.small.count()},
                                       {"register large", d.large.count()},
                                       {"promote", d.promote.count()}}},
                       {"kills_leaving_temps", t.kills_leaving_temps},
                       {"operations_whole", t.present},
                       {"operations_absent", t.absent},
                       {"orphan_objects", t.orphan_objects},
                       {"objects_hashed", t.objects_hashed},
                       {"problems", t.problems}}});
  for (const auto& p : t.problems) UNSCOPED_INFO(p);
  CHECK(t.failures() == 0);
  CHECK(t.kills == kills);
}
