#pragma once
// The registry database schema, versioned through PRAGMA user_version.

#include "registry/core/sqlite.hpp"

namespace lm {

// The schema version this build writes.
inline constexpr int k_schema_version = 5;

// Brings a database to k_schema_version inside one write transaction.
// Throws Error(data) when the database is newer than this build.
void migrate(sql::Db& db);

// Returns PRAGMA user_version.
int schema_version(sql::Db& db);

// Applies the per-connection settings: WAL, synchronous=FULL, foreign keys.
void configure_connection(sql::Db& db);

}  // namespace lm
