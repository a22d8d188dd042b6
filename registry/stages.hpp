#pragma once
// What the stages hold: read-side queries over stage_history and
// stage_assignments, approvals and gate results. Writes go through the
// event log (registry/promote.hpp).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "registry/core/json.hpp"
#include "registry/core/sqlite.hpp"
#include "registry/query.hpp"

namespace lm {

// One move of a stage: a version landing on registration, a promotion, or
// a rollback.
struct StageMove {
  std::int64_t event_seq = 0;
  std::string model;
  std::string stage;
  std::string action;  // registered, promoted, rolled_back
  std::int64_t version_id = 0;
  std::string version;
  std::string digest;
  std::optional<std::string> replaced;  // version the stage held before
  std::optional<std::string> previous;  // version a rollback from here restores
  std::string time;
  std::string actor;
  std::string reason;
};

// The move that put the current holder of `stage` in place, as the log
// stood at `at`; nullopt when the stage held nothing of `name` then.
std::optional<StageMove> stage_holder(sql::Db& db, const std::string& name,
                                      const std::string& stage, const AsOf& at = {});

// What each stage held of `name` at `at`, one move per stage, ordered by
// stage name.
std::vector<StageMove> stage_holders(sql::Db& db, const std::string& name, const AsOf& at = {});

// The version id the stage holds now according to stage_assignments (the
// row a promotion compares and swaps), or nullopt.
std::optional<std::int64_t> current_holder_id(sql::Db& db, const std::string& name,
                                              const std::string& stage);

// Of the stages that hold the version now, the one furthest along `order`
// (the policy's stages, first to last); nullopt when none holds it.
std::optional<std::string> furthest_stage_holding(sql::Db& db, const std::string& name, std::int64_t version_id,
                                                  const std::vector<std::string>& order);

// Whether the version has ever been in the stage.
bool has_been_in(sql::Db& db, std::int64_t version_id, const std::string& stage);

// Every move of one stage of `name`, oldest first.
std::vector<StageMove> stage_moves(sql::Db& db, const std::string& name, const std::string& stage);

struct Approval {
  std::string actor;
  std::string comment;
  std::string time;
  std::int64_t event_seq = 0;
};

// The approvals of a version for a stage, oldest first.
std::vector<Approval> approvals_for(sql::Db& db, std::int64_t version_id, const std::string& stage);

}  // namespace lm
