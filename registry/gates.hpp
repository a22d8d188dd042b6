#pragma once
// Evaluating a stage's gates for one version. Nothing here writes to the
// registry: promote.hpp records what an evaluation found.

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "registry/core/json.hpp"
#include "registry/policy.hpp"
#include "registry/query.hpp"
#include "registry/registry.hpp"

namespace lm {

// The verdict of one gate.
struct GateOutcome {
  std::string gate;     // "auc >= 0.8", "approvals", "from staging", ...
  std::string kind;     // metric, no_worse_than, require, max_size, command, file, drift, approvals, from
  bool passed = false;
  std::string message;  // what was found: "auc 0.78 < 0.8", "metric 'auc' is missing"
  Json measured;        // the value compared (null when there was none)
  Json threshold;       // what it was compared with (null when nothing)
  std::string output;   // a command gate's combined stdout and stderr
  double seconds = 0;
  int line = 0;  // the gate's line in lastmile.yaml, 0 when built in
};

struct Evaluation {
  VersionRecord version;
  std::string stage;
  std::optional<VersionRecord> incumbent;  // what the stage held when it was read
  std::vector<GateOutcome> gates;
  std::string time;  // when it was evaluated, RFC 3339 UTC

  bool passed() const;
  const GateOutcome* first_failure() const;
  std::size_t failures() const;
  double seconds() const;
};

// Where gates look for what they need.
struct GateSetting {
  std::filesystem::path project_root;  // command gates run here; file gates read from here
};

// The stage's path from the first stage, following `from` lists back:
// "sandbox → staging → production".
std::string stage_path(const Policy& policy, const std::string& stage);

// Checks that `v` may enter `stage` at all: the stage lists a `from` stage
// the version has been in (any version may enter the first stage).
// nullopt when it may, else the failed "from" outcome.
std::optional<GateOutcome> check_entry(sql::Db& db, const Policy& policy, const StageSpec& stage,
                                       const VersionRecord& v);

// Evaluates every gate and the approvals the stage asks for. Gates are
// independent: all run, and each outcome says why it passed or failed.
Evaluation evaluate_gates(Registry& registry, const Policy& policy, const StageSpec& stage,
                          const VersionRecord& v, const std::optional<VersionRecord>& incumbent,
                          const GateSetting& setting);

// The evaluation as the gate.evaluated event and --json carry it.
Json outcome_json(const GateOutcome& o);
Json evaluation_json(const Evaluation& e);

}  // namespace lm
