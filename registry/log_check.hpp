#pragma once
// Checks the query tables against the event log. The log is replayed into
// an in-memory database with the same apply_event() that registration
// uses, and every row is compared by its natural key: an edited, deleted or
// added row, and an event that registers a version twice, all show up.

#include <string>
#include <vector>

#include "registry/core/sqlite.hpp"

namespace lm {

struct TableDifference {
  std::string subject;  // "churn@1.0.0", or the model name for model rows
  std::string message;
};

// The whole log against the whole tables.
std::vector<TableDifference> compare_tables_with_log(sql::Db& db);

// Only the versions registered by the events with these sequence numbers
// (their version, file and metadata rows).
std::vector<TableDifference> compare_versions_with_log(sql::Db& db,
                                                       const std::vector<std::int64_t>& event_seqs);

}  // namespace lm
