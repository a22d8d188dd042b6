#pragma once
// Moving versions between stages: gate evaluation on the record,
// promotion, approval and rollback. Each write is one transaction that
// appends its events and applies them.

#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include "registry/events.hpp"
#include "registry/gates.hpp"
#include "registry/names.hpp"
#include "registry/policy.hpp"
#include "registry/registry.hpp"
#include "registry/stages.hpp"

namespace lm {

// The stage called `name`, or Error(not_found) listing the policy's stages.
const StageSpec& require_stage(const Policy& policy, const std::string& name);

// Error(not_found) unless `name` exists, Error(usage) when it is a dataset.
void require_model_name(sql::Db& db, const std::string& name);

// Resolves `ref` to a model version (a dataset is Error(usage): only models
// move through stages).
VersionRecord resolve_model_version(sql::Db& db, const Ref& ref);

struct GateRequest {
  Ref ref;
  std::string stage;
  std::string actor;
  GateSetting setting;
  bool record = true;  // append a gate.evaluated event
};

// Evaluates the stage's gates for the version without moving anything; the
// evaluation is recorded as a gate.evaluated event when `record`.
Evaluation evaluate_for_stage(Registry& registry, const Policy& policy, const GateRequest& request);

struct PromoteRequest {
  Ref ref;
  std::string stage;
  std::string reason;
  std::string actor;
  GateSetting setting;
  bool dry_run = false;
};

struct PromoteResult {
  Evaluation evaluation;  // empty gates when already_there
  bool already_there = false;  // the stage held the version already: nothing done
  bool promoted = false;       // the stage now holds it
  std::optional<StageMove> holder;  // what the stage held when read
  // Every gate passed, but another move reached the stage first: the
  // evaluation is recorded, the stage is left as `now_holder` has it.
  bool stage_moved = false;
  std::optional<StageMove> now_holder;
};

// "churn@1.5.0 (promoted by ada at 2026-11-24T18:38:00.000000Z)"
std::string describe_move(const StageMove& m);

// Evaluates the gates and, when every one passes, moves the stage to the
// version in one transaction that records what it replaced. The gates run
// outside the write lock; the move compares the holder with the one read
// before they ran. Every evaluation is recorded; promoted == false when a
// gate failed, and stage_moved when they passed but the stage moved
// meanwhile. Entering a stage from one the version has not been in is
// Error(check_failed) naming the path, before any gate runs.
PromoteResult promote(Registry& registry, const Policy& policy, const PromoteRequest& request);

struct ApproveRequest {
  Ref ref;
  std::string stage;
  std::string comment;
  std::string actor;
};

struct ApproveResult {
  VersionRecord version;
  bool recorded = false;  // false: this actor had approved it already
  int counted = 0;        // approvals that count toward the stage's rule
  int required = 0;
};

// Records the actor's approval of the version for the stage. An approval
// by the registrant where the policy forbids it is Error(check_failed).
ApproveResult approve(Registry& registry, const Policy& policy, const ApproveRequest& request);

struct RollbackRequest {
  std::string name;
  std::string stage;
  std::string reason;
  std::optional<Semver> to;  // else the version the stage held before
  std::string actor;
  // A check the caller adds, run under the write lock with the version to
  // restore, before anything is written; throws to refuse.
  std::function<void(const VersionRecord& restored)> before_write;
};

struct RollbackResult {
  VersionRecord restored;
  VersionRecord replaced;
};

// Puts back the stage's previous holder (or `to`, which must have been in
// the stage before). Gates do not run: a rollback is the way out of a bad
// release. Needs a reason (Error(usage) without one).
RollbackResult rollback(Registry& registry, const Policy& policy, const RollbackRequest& request);

}  // namespace lm
