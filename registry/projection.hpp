#pragma once
// Applies events to the query tables. Registration and a rebuild from the
// log go through the same function, so the tables are always what the log
// says.

#include "registry/core/sqlite.hpp"
#include "registry/events.hpp"

namespace lm {

// Updates the query tables for one event; runs inside the transaction that
// appended it. Throws Error(data) for a payload it cannot read.
void apply_event(sql::Db& db, const Event& event);

// Empties the query tables and replays the whole log into them, in the
// caller's write transaction: what 'fsck --rebuild' does, and what a pull
// does after moving unpublished events. Returns the number of events.
std::int64_t rebuild_tables(sql::Db& db);

// Empties the query tables (the log and local caches stay).
void clear_tables(sql::Db& db);

}  // namespace lm
