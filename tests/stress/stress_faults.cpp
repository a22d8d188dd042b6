// Faults (reliability plan B2): each operation is run once per call it
// makes to write, fsync, rename and open, with that call failing (EIO,
// ENOSPC, ENOMEM, EACCES; once, and from then on as on a full disk), and
// for a sample of its mallocs. Every run must end in success or a clear
// error naming what failed, never a crash; the registry must hold all of
// the operation or none of it, verify and fsck must pass, and the operation
// must succeed when run again. The fault shim is tests/stress/faultshim.c.
//
// Knobs: FAULT_MALLOC_FIRST (every malloc up to this one), FAULT_MALLOC_SAMPLES
// (seeded mallocs beyond it, per operation), FAULT_JOBS (sandboxes run at
// once). LASTMILE_STRESS=large fails every malloc in turn.

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "tests/stress/fault_harness.hpp"
#include "tests/stress/stress.hpp"

namespace {

using namespace lm::stress::faults;

const std::vector<Operation> k_operations = {
    {"register a file", {"register", "churn", "churn.bin", "--metric", "auc=0.91", "--param", "lr=0.1"}},
    {"register a directory", {"register", "vision", "vision", "--label", "team=cv"}},
    {"promote", {"promote", "demo@0.1.0", "--to", "staging"}},
    {"annotate", {"annotate", "demo@0.1.0", "--label", "reviewed=yes", "--owner", "grace"}},
};

// The errno values each family fails with, in turn.
const std::map<std::string, std::vector<std::string>> k_errors = {
    {"write", {"EIO", "ENOSPC"}},
    {"fsync", {"EIO"}},
    {"rename", {"EIO", "ENOSPC"}},
    {"open", {"EIO", "ENOSPC", "ENOMEM", "EACCES"}},
    {"malloc", {"ENOMEM"}},
};

// One operation in one sandbox: the registry it starts from, and what a
// run without faults makes of it.
struct Subject {
  const Operation* op = nullptr;
  std::unique_ptr<Sandbox> sb;
  fs::path pristine;
  RegistryState before, after;
  std::map<std::string, long> calls;
};

// A git repository with the files the operations register, a registry
// holding demo@0.1.0, and a copy of that registry to start each run from.
// What a registration reads besides the bytes is made to matter, so that
// losing it to a fault shows in the log: the work tree is dirty, and
// churn.bin is a GGUF file by its first bytes, not its name.
std::unique_ptr<Sandbox> prepare_sandbox() {
  auto sb = std::make_unique<Sandbox>();
  sb->write("demo.bin", "demo weights, version 1\n");
  sb->write("churn.bin", "GGUF" + std::string(5000, 'w') + "\n");
  sb->write("vision/model.onnx", std::string(3000, 'o'));
  sb->write("vision/config.json", "{\"layers\": 12}\n");
  sb->write("vision/tokenizer/vocab.txt", "a\nb\nc\n");
  sb->write("vision/tokenizer/merges.txt", "a b\n");
  sb->write("vision/README.md", "# vision\n");
  sb->git({"add", "-A"});
  sb->git({"commit", "-q", "-m", "models"});
  sb->write("README.md", "# a project, edited\n");
  const lm::test::RunOptions as_ada{.env = {{"LASTMILE_ACTOR", "ada"}}};
  REQUIRE(sb->run({"init", "-q"}, as_ada).rc == 0);
  const RunResult r = sb->run({"register", "demo", "demo.bin"}, as_ada);
  INFO(r.err);
  REQUIRE(r.rc == 0);
  fs::copy(sb->registry(), sb->root() / "pristine", fs::copy_options::recursive);
  return sb;
}

Subject prepare_subject(const Operation& op) {
  Subject s;
  s.op = &op;
  s.sb = prepare_sandbox();
  s.pristine = s.sb->root() / "pristine";
  restore(*s.sb, s.pristine);
  s.before = capture(*s.sb);
  const ShimRun clean = run_under_shim(*s.sb, op, nullptr);
  INFO(op.name << ": " << clean.result.err);
  REQUIRE(clean.result.rc == 0);
  REQUIRE(clean.shim.written);
  s.calls = clean.shim.calls;
  s.after = capture(*s.sb);
  REQUIRE(s.after.events.size() > s.before.events.size());
  // The comparisons below assume a clean run always leaves the same state.
  restore(*s.sb, s.pristine);
  REQUIRE(run_under_shim(*s.sb, op, nullptr).result.rc == 0);
  REQUIRE(capture(*s.sb).events == s.after.events);
  return s;
}

struct Planned {
  std::size_t subject = 0;
  Fault fault;
};

struct MallocCoverage {
  long tried = 0;
  long calls = 0;
};

// Every call of write/fsync/rename/open, once and persistently; every
// malloc up to `first`, then `samples` more chosen by the seed.
std::vector<Planned> plan(const std::vector<Subject>& subjects, long first, long samples,
                          std::mt19937_64& rng, MallocCoverage& coverage) {
  std::vector<Planned> out;
  for (std::size_t s = 0; s < subjects.size(); ++s) {
    for (const auto& family : {"write", "fsync", "rename", "open"}) {
      const auto& errors = k_errors.at(family);
      for (long n = 1; n <= subjects[s].calls.at(family); ++n) {
        for (const bool persistent : {false, true}) {
          const auto& error = errors[static_cast<std::size_t>(n + persistent) % errors.size()];
          out.push_back({s, {family, n, error, persistent}});
        }
      }
    }
    const long mallocs = subjects[s].calls.at("malloc");
    std::vector<long> chosen;
    for (long n = 1; n <= std::min(first, mallocs); ++n) chosen.push_back(n);
    std::vector<long> rest;
    for (long n = first + 1; n <= mallocs; ++n) rest.push_back(n);
    std::shuffle(rest.begin(), rest.end(), rng);
    rest.resize(static_cast<std::size_t>(std::min<long>(samples, static_cast<long>(rest.size()))));
    chosen.insert(chosen.end(), rest.begin(), rest.end());
    std::sort(chosen.begin(), chosen.end());
    for (const long n : chosen) out.push_back({s, {"malloc", n, "ENOMEM", (rng() & 1) != 0}});
    coverage.tried += static_cast<long>(chosen.size());
    coverage.calls += mallocs;
  }
  return out;
}

// Tallies over every run.
struct Tally {
  long runs = 0;
  long reached = 0;
  long succeeded = 0;
  long clear_errors = 0;
  long failed_runs = 0;
  long git_objects = 0;  // clear errors in libgit2's words: errno lost
  std::map<std::string, long> runs_by_family;
  std::map<int, long> exits;
  std::vector<std::string> problems;
  std::vector<std::string> not_reached;  // "operation, fault"
  std::map<std::string, long> harmless;   // "operation: function" of calls whose failure did no harm
};

void add(Tally& t, const Operation& op, const Planned& p, const Verdict& v) {
  ++t.runs;
  ++t.runs_by_family[p.fault.family];
  t.reached += v.reached;
  if (!v.reached) t.not_reached.push_back(op.name + ", " + p.fault.spec());
  ++t.exits[v.rc];
  if (v.problems.empty()) (v.rc == 0 ? t.succeeded : t.clear_errors) += 1;
  if (v.problems.empty() && v.rc != 0 && v.git_object) ++t.git_objects;
  if (v.problems.empty() && v.rc == 0 && v.reached) {
    // "write 50 pwrite64 fd:3" -> "pwrite64"; the path tells which file.
    std::istringstream words(v.injected);
    std::string family, n, function, subject;
    words >> family >> n >> function >> subject;
    if (subject.rfind("fd:", 0) == 0 || p.fault.family == "malloc") subject.clear();
    ++t.harmless[op.name + ": " + function + (subject.empty() ? "" : " " + fs::path(subject).filename().string())];
  }
  if (!v.problems.empty()) ++t.failed_runs;
  t.problems.insert(t.problems.end(), v.problems.begin(), v.problems.end());
}

std::string count_text(long n) {
  std::string digits = std::to_string(n);
  for (int i = static_cast<int>(digits.size()) - 3; i > 0; i -= 3) digits.insert(static_cast<std::size_t>(i), ",");
  return digits;
}

// Every problem, one a line, beside the suite's row: the row keeps 50.
void write_problems(const std::vector<std::string>& problems) {
  const char* dir = std::getenv("LASTMILE_STRESS_RESULTS");
  const fs::path path = fs::path(dir && *dir ? dir : LASTMILE_STRESS_RESULTS_DIR) / "3-faults-problems.txt";
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::trunc);
  for (const auto& p : problems) out << p << '\n';
  if (!problems.empty()) std::cerr << "faults: every problem is listed in " << path.string() << "\n";
}

}  // namespace

TEST_CASE("faults: every write, fsync, rename and open of an operation fails in turn", "[faults]") {
#if !LASTMILE_FAULTSHIM_USABLE
  WARN("the fault shim cannot run under a sanitizer; skipped");
  return;
#else
  const long malloc_first = lm::stress::knob("FAULT_MALLOC_FIRST", 60, 1'000'000'000);
  const long malloc_samples = lm::stress::knob("FAULT_MALLOC_SAMPLES", 240, 1'000'000'000);
  const long jobs = std::max(1L, lm::stress::knob("FAULT_JOBS", 2, 2));
  std::mt19937_64 rng(lm::stress::seed());
  const auto started = std::chrono::steady_clock::now();

  // Each job drives its own copy of every subject.
  std::vector<std::vector<Subject>> workers(static_cast<std::size_t>(jobs));
  for (auto& subjects : workers) {
    for (const auto& op : k_operations) subjects.push_back(prepare_subject(op));
  }
  MallocCoverage coverage;
  const std::vector<Planned> runs = plan(workers[0], malloc_first, malloc_samples, rng, coverage);

  std::atomic<std::size_t> next{0};
  std::vector<Tally> tallies(workers.size());
  std::vector<std::thread> threads;
  for (std::size_t w = 0; w < workers.size(); ++w) {
    threads.emplace_back([&, w] {
      for (std::size_t i = next++; i < runs.size(); i = next++) {
        const Subject& s = workers[w][runs[i].subject];
        Verdict v;
        try {
          v = run_and_judge(*s.sb, s.pristine, *s.op, runs[i].fault, s.before, s.after);
        } catch (const std::exception& e) {  // e.g. the binary could not be started
          v.problems.push_back(s.op->name + ", " + runs[i].fault.spec() + ": " + e.what());
        }
        add(tallies[w], *s.op, runs[i], v);
      }
    });
  }
  for (auto& t : threads) t.join();
  Tally all;
  for (const auto& t : tallies) {
    all.runs += t.runs;
    all.reached += t.reached;
    all.succeeded += t.succeeded;
    all.clear_errors += t.clear_errors;
    all.failed_runs += t.failed_runs;
    all.git_objects += t.git_objects;
    for (const auto& [k, v] : t.runs_by_family) all.runs_by_family[k] += v;
    for (const auto& [k, v] : t.exits) all.exits[k] += v;
    all.problems.insert(all.problems.end(), t.problems.begin(), t.problems.end());
    all.not_reached.insert(all.not_reached.end(), t.not_reached.begin(), t.not_reached.end());
    for (const auto& [k, v] : t.harmless) all.harmless[k] += v;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

  nlohmann::json details = {{"seed", lm::stress::seed()},
                            {"seconds", static_cast<long>(seconds)},
                            {"runs_by_family", all.runs_by_family},
                            {"malloc_calls_failed", coverage.tried},
                            {"malloc_calls", coverage.calls},
                            {"succeeded", all.succeeded},
                            {"clear_errors", all.clear_errors},
                            {"git_object_errors_without_errno", all.git_objects},
                            {"not_reached", all.runs - all.reached}};
  for (const auto& s : workers[0]) details["calls"][s.op->name] = s.calls;
  for (const auto& [rc, n] : all.exits) details["exit_codes"][std::to_string(rc)] = n;
  details["harmless"] = all.harmless;
  std::sort(all.not_reached.begin(), all.not_reached.end());
  details["not_reached_examples"] = std::vector<std::string>(
      all.not_reached.begin(), all.not_reached.begin() + std::min<std::ptrdiff_t>(20, all.not_reached.size()));
  details["problems"] = std::vector<std::string>(
      all.problems.begin(), all.problems.begin() + std::min<std::ptrdiff_t>(50, all.problems.size()));
  lm::stress::report({
      .id = "3-faults",
      .suite = "Faults",
      .scale = std::to_string(k_operations.size()) +
               " operations × every call of write, fsync, rename, open (once and persistent); malloc: " +
               count_text(coverage.tried) + " of " + count_text(coverage.calls) + " calls",
      .reached = count_text(all.reached) + " faults injected (EIO, ENOSPC, ENOMEM, EACCES): " +
                 count_text(all.clear_errors) + " clear errors, " + count_text(all.succeeded) +
                 " harmless; registry all-or-nothing, verify and fsck clean, rerun succeeded after each",
      .failures = all.failed_runs,
      .details = details,
  });
  std::cerr << "faults: " << all.runs << " runs in " << static_cast<long>(seconds) << " s, "
            << all.failed_runs << " with problems\n";
  write_problems(all.problems);
  for (std::size_t i = 0; i < std::min<std::size_t>(all.problems.size(), 40); ++i) {
    UNSCOPED_INFO(all.problems[i]);
  }
  CHECK(all.failed_runs == 0);
  // A sweep whose faults never fired would prove nothing.
  CHECK(all.reached * 10 >= all.runs * 9);
#endif
}
