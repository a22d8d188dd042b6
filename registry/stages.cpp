#include "registry/stages.hpp"

#include <algorithm>

namespace lm {

namespace {

constexpr const char* k_move_select =
    "SELECT h.event_seq, m.name, h.stage, h.action, h.version_id, v.version, r.version, "
    "p.version, h.time, h.actor, h.reason, v.digest "
    "FROM stage_history h JOIN models m ON m.id = h.model_id "
    "JOIN versions v ON v.id = h.version_id "
    "LEFT JOIN versions r ON r.id = h.replaced_id "
    "LEFT JOIN versions p ON p.id = h.previous_id ";

StageMove read_move(const sql::Stmt& row) {
  StageMove move;
  move.event_seq = row.int64(0);
  move.model = row.text(1);
  move.stage = row.text(2);
  move.action = row.text(3);
  move.version_id = row.int64(4);
  move.version = row.text(5);
  if (!row.is_null(6)) move.replaced = row.text(6);
  if (!row.is_null(7)) move.previous = row.text(7);
  move.time = row.text(8);
  move.actor = row.text(9);
  move.reason = row.text(10);
  move.digest = row.text(11);
  return move;
}

}  // namespace

std::optional<StageMove> stage_holder(sql::Db& db, const std::string& name,
                                      const std::string& stage, const AsOf& at) {
  auto stmt = db.prepare(std::string(k_move_select) +
                         "WHERE m.name = ? AND h.stage = ? AND h.event_seq <= ? "
                         "ORDER BY h.event_seq DESC LIMIT 1");
  stmt.bind_all(name, stage, at.seq);
  if (!stmt.step()) return std::nullopt;
  return read_move(stmt);
}

std::vector<StageMove> stage_holders(sql::Db& db, const std::string& name, const AsOf& at) {
  // The latest move of each stage up to `at`.
  auto stmt = db.prepare(std::string(k_move_select) +
                         "WHERE h.event_seq IN (SELECT MAX(event_seq) FROM stage_history "
                         "WHERE model_id = (SELECT id FROM models WHERE name = ?) "
                         "AND event_seq <= ? GROUP BY stage) ORDER BY h.stage");
  stmt.bind_all(name, at.seq);
  std::vector<StageMove> out;
  while (stmt.step()) out.push_back(read_move(stmt));
  return out;
}

std::optional<std::int64_t> current_holder_id(sql::Db& db, const std::string& name,
                                              const std::string& stage) {
  auto stmt = db.prepare(
      "SELECT a.version_id FROM stage_assignments a JOIN models m ON m.id = a.model_id "
      "WHERE m.name = ? AND a.stage = ?");
  stmt.bind_all(name, stage);
  if (!stmt.step()) return std::nullopt;
  return stmt.int64(0);
}

std::optional<std::string> furthest_stage_holding(sql::Db& db, const std::string& name, std::int64_t version_id,
                                                  const std::vector<std::string>& order) {
  std::optional<std::string> best;
  std::ptrdiff_t best_rank = -1;
  for (const auto& move : stage_holders(db, name)) {
    if (move.version_id != version_id) continue;
    // A stage the policy no longer names ranks before every named one.
    const auto found = std::find(order.begin(), order.end(), move.stage);
    const std::ptrdiff_t rank = found == order.end() ? 0 : found - order.begin() + 1;
    if (rank >= best_rank) {
      best_rank = rank;
      best = move.stage;
    }
  }
  return best;
}

bool has_been_in(sql::Db& db, std::int64_t version_id, const std::string& stage) {
  auto stmt = db.prepare("SELECT 1 FROM stage_history WHERE version_id = ? AND stage = ? LIMIT 1");
  stmt.bind_all(version_id, stage);
  return stmt.step();
}

std::vector<StageMove> stage_moves(sql::Db& db, const std::string& name, const std::string& stage) {
  auto stmt = db.prepare(std::string(k_move_select) +
                         "WHERE m.name = ? AND h.stage = ? ORDER BY h.event_seq");
  stmt.bind_all(name, stage);
  std::vector<StageMove> out;
  while (stmt.step()) out.push_back(read_move(stmt));
  return out;
}

std::vector<Approval> approvals_for(sql::Db& db, std::int64_t version_id, const std::string& stage) {
  auto stmt = db.prepare(
      "SELECT actor, comment, time, event_seq FROM approvals WHERE version_id = ? AND stage = ? "
      "ORDER BY event_seq");
  stmt.bind_all(version_id, stage);
  std::vector<Approval> out;
  while (stmt.step()) out.push_back({stmt.text(0), stmt.text(1), stmt.text(2), stmt.int64(3)});
  return out;
}

}  // namespace lm
