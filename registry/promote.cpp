#include "registry/promote.hpp"

#include <set>

#include "registry/core/error.hpp"
#include "registry/projection.hpp"

namespace lm {

namespace {

Json version_json(const VersionRecord& v) {
  return {{"name", v.name}, {"version", v.version}, {"digest", v.digest}};
}

VersionRecord version_by_id(sql::Db& db, std::int64_t id) {
  auto found = versions_by_ids(db, {id});
  if (found.empty()) throw Error(ExitCode::internal, "version row " + std::to_string(id) + " vanished");
  return found.front();
}

Event record(sql::Db& db, const char* kind, const VersionRecord& v, Json payload,
             const std::string& actor) {
  Event event = append_event(db, kind, v.ref(), v.name, std::move(payload), actor);
  apply_event(db, event);
  return event;
}

Event record_evaluation(sql::Db& db, const Evaluation& e, const std::string& actor) {
  return record(db, "gate.evaluated", e.version, evaluation_json(e), actor);
}

}  // namespace

std::string describe_move(const StageMove& m) {
  return m.model + "@" + m.version + " (" +
         (m.action == "registered" ? "registered" : m.action == "rolled_back" ? "rolled back" : "promoted") +
         " by " + m.actor + " at " + m.time + ")";
}

namespace {

// The versions a stage has held, in the order they first entered it. A set
// of whole versions, not a search of the text so far: "0.1.0" is inside
// "10.1.0".
std::string versions_held(sql::Db& db, const std::string& name, const std::string& stage) {
  std::set<std::string> seen;
  std::string list;
  for (const auto& m : stage_moves(db, name, stage)) {
    if (seen.insert(m.version).second) list += (list.empty() ? "" : ", ") + m.version;
  }
  return list;
}

// "'staging'" or "'staging' or 'shadow'": every way in, not just the first
// listed (the path named in the error may go through another one).
std::string any_of_stages(const std::vector<std::string>& stages) {
  std::string text;
  for (const auto& s : stages) text += (text.empty() ? "" : " or ") + quote(s);
  return text;
}


std::optional<VersionRecord> holder_version(sql::Db& db, const std::optional<StageMove>& holder) {
  if (!holder) return std::nullopt;
  return version_by_id(db, holder->version_id);
}

}  // namespace

const StageSpec& require_stage(const Policy& policy, const std::string& name) {
  validate_stage(name);  // a name no policy could hold is a usage error
  if (const StageSpec* s = policy.stage(name)) return *s;
  std::string list;
  for (const auto& s : policy.stages) list += (list.empty() ? "" : ", ") + s.name;
  throw Error(ExitCode::not_found,
              "no stage " + quote(name) + " in " +
                  (policy.from_file ? std::string("lastmile.yaml") : std::string("the default policy")),
              "the stages are: " + list);
}

// Only models move through stages; a dataset name is a usage error, as it
// is for promote and approve, not a stage that happens to be empty.
void require_model_name(sql::Db& db, const std::string& name) {
  require_model(db, name);
  if (model_kind(db, name) != "model") {
    throw Error(ExitCode::usage, quote(name) + " is a dataset; only models move through stages");
  }
}

VersionRecord resolve_model_version(sql::Db& db, const Ref& ref) {
  VersionRecord v = resolve(db, ref);
  if (v.kind != "model") {
    throw Error(ExitCode::usage, quote(v.ref()) + " is a dataset; only models move through stages");
  }
  return v;
}

Evaluation evaluate_for_stage(Registry& registry, const Policy& policy, const GateRequest& request) {
  const StageSpec& stage = require_stage(policy, request.stage);
  if (request.record) registry.require_writable();
  sql::Db& db = registry.db();
  const VersionRecord v = resolve_model_version(db, request.ref);
  const auto incumbent = holder_version(db, stage_holder(db, v.name, stage.name));
  Evaluation e = evaluate_gates(registry, policy, stage, v, incumbent, request.setting);
  if (request.record) {
    sql::Transaction txn(db);
    record_evaluation(db, e, request.actor);
    txn.commit();
  }
  return e;
}

PromoteResult promote(Registry& registry, const Policy& policy, const PromoteRequest& request) {
  const StageSpec& stage = require_stage(policy, request.stage);
  if (!request.dry_run) registry.require_writable();
  sql::Db& db = registry.db();
  const VersionRecord v = resolve_model_version(db, request.ref);
  PromoteResult result;
  result.holder = stage_holder(db, v.name, stage.name);
  if (result.holder && result.holder->version_id == v.id) {
    result.already_there = true;
    result.evaluation.version = v;
    result.evaluation.stage = stage.name;
    result.evaluation.incumbent = v;
    return result;
  }
  const std::string what = "cannot promote " + quote(v.ref()) + " to " + quote(stage.name);
  if (auto entry = check_entry(db, policy, stage, v); entry && !entry->passed) {
    throw Error(ExitCode::check_failed, what + ": " + entry->message,
                "promote it to " + any_of_stages(stage.from) + " first");
  }
  // Gates run outside the write lock (a command gate may take minutes);
  // the stage is compared with what was read before they started.
  result.evaluation = evaluate_gates(registry, policy, stage, v, holder_version(db, result.holder),
                                     request.setting);
  if (request.dry_run) return result;
  sql::Transaction txn(db);
  const Event gates = record_evaluation(db, result.evaluation, request.actor);
  if (!result.evaluation.passed()) {
    txn.commit();  // the failed evaluation is evidence too
    return result;
  }
  const auto now_held = current_holder_id(db, v.name, stage.name);
  const bool moved = result.holder ? !now_held || *now_held != result.holder->version_id
                                   : now_held.has_value();
  if (moved) {
    // The evaluation is kept (every verdict is evidence); the move is not.
    txn.commit();
    result.stage_moved = true;
    result.now_holder = stage_holder(db, v.name, stage.name);
    return result;
  }
  Json payload = version_json(v);
  payload["stage"] = stage.name;
  payload["reason"] = request.reason;
  payload["replaced"] = result.evaluation.incumbent ? version_json(*result.evaluation.incumbent) : Json();
  payload["gates_event"] = gates.id;
  record(db, "stage.assigned", v, std::move(payload), request.actor);
  txn.commit();
  result.promoted = true;
  return result;
}

ApproveResult approve(Registry& registry, const Policy& policy, const ApproveRequest& request) {
  const StageSpec& stage = require_stage(policy, request.stage);
  registry.require_writable();
  sql::Db& db = registry.db();
  ApproveResult result;
  result.version = resolve_model_version(db, request.ref);
  const VersionRecord& v = result.version;
  if (stage.distinct_from_registrant && request.actor == v.registered_by) {
    throw Error(ExitCode::check_failed,
                "cannot approve " + quote(v.ref()) + " for " + quote(stage.name) + ": " +
                    quote(request.actor) + " registered it, and the policy wants someone else",
                "approvals for " + quote(stage.name) +
                    " are distinct_from_registrant (lastmile.yaml); ask a colleague to approve");
  }
  sql::Transaction txn(db);
  const auto existing = approvals_for(db, v.id, stage.name);
  const bool again = std::any_of(existing.begin(), existing.end(),
                                 [&](const Approval& a) { return a.actor == request.actor; });
  if (!again) {
    Json payload = version_json(v);
    payload["stage"] = stage.name;
    payload["comment"] = request.comment;
    record(db, "approval.granted", v, std::move(payload), request.actor);
    result.recorded = true;
  }
  for (const auto& a : approvals_for(db, v.id, stage.name)) {
    if (!stage.distinct_from_registrant || a.actor != v.registered_by) ++result.counted;
  }
  result.required = stage.approvals;
  txn.commit();
  return result;
}

RollbackResult rollback(Registry& registry, const Policy& policy, const RollbackRequest& request) {
  if (request.reason.find_first_not_of(" \t\r\n") == std::string::npos) {
    throw Error(ExitCode::usage, "a rollback needs a reason",
                "say why with --reason TEXT; it is kept in the audit trail");
  }
  validate_name(request.name);
  const StageSpec& stage = require_stage(policy, request.stage);
  registry.require_writable();
  sql::Db& db = registry.db();
  require_model_name(db, request.name);
  const std::string what = "cannot roll " + quote(stage.name) + " of " + quote(request.name) + " back";
  sql::Transaction txn(db);  // read and move under one lock: no gates to wait for
  const auto holder = stage_holder(db, request.name, stage.name);
  if (!holder) {
    throw Error(ExitCode::check_failed, what + ": it holds no version",
                "'lastmile status " + request.name + "' shows what each stage holds");
  }
  RollbackResult result;
  result.replaced = version_by_id(db, holder->version_id);
  std::optional<VersionRecord> target;
  if (request.to) {
    target = find_version(db, request.name, request.to->key());
    if (!target) {
      throw Error(ExitCode::not_found,
                  "no version " + quote(request.to->key()) + " of " + quote(request.name));
    }
    if (target->id == holder->version_id) {
      throw Error(ExitCode::check_failed,
                  what + ": it holds " + quote(target->ref()) + " already");
    }
    if (!has_been_in(db, target->id, stage.name)) {
      throw Error(ExitCode::check_failed,
                  what + " to " + quote(target->ref()) + ": it was never in " + quote(stage.name),
                  "versions it has held: " + versions_held(db, request.name, stage.name));
    }
  } else {
    if (!holder->previous) {
      throw Error(ExitCode::check_failed,
                  what + ": " + quote(result.replaced.ref()) + " is the first version it held",
                  "name another version with --to VERSION");
    }
    target = find_version(db, request.name, parse_semver(*holder->previous).key());
  }
  result.restored = *target;
  if (request.before_write) request.before_write(result.restored);
  Json payload = version_json(result.restored);
  payload["stage"] = stage.name;
  payload["reason"] = request.reason;
  payload["replaced"] = version_json(result.replaced);
  record(db, "stage.rolled_back", result.restored, std::move(payload), request.actor);
  txn.commit();
  return result;
}

}  // namespace lm
