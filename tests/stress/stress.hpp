#pragma once
// What the stress suites share: the knobs that size them, a replayable seed,
// and the figures each one reports for the reliability table.
//
// Every suite runs at a size CI affords by default. LASTMILE_STRESS=large
// selects the size to run by hand; LASTMILE_STRESS_<KNOB> sets one knob.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace lm::stress {

// LASTMILE_STRESS_<name> when set, else large_value under LASTMILE_STRESS=large,
// else ci_value.
long knob(const std::string& name, long ci_value, long large_value);

// LASTMILE_STRESS_SEED when set, else a fresh one; printed either way so
// that a failing run can be replayed.
std::uint64_t seed();

// One row of the reliability table, written as <results dir>/<id>.json, where
// the results dir is LASTMILE_STRESS_RESULTS, else the build's stress-results/.
struct Row {
  std::string id;        // file name and sort key, e.g. "1-concurrency"
  std::string suite;     // "Concurrency"
  std::string scale;     // "8 processes × 50 operations"
  std::string reached;   // "400 operations acknowledged, each in the log once"
  long failures = 0;     // what the suite found wrong; the table says 0 only when it is
  nlohmann::json details = nlohmann::json::object();
};
void report(const Row& row);

}  // namespace lm::stress
