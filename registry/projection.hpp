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

}  // namespace lm
