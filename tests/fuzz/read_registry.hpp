#pragma once
// Reads a registry database the way the read commands do ('list',
// 'list NAME', 'show', 'lineage', 'status', 'history'), for the targets
// that fill a database with hostile content. A read may end in lm::Error
// for damaged content, never in another exception.

#include "registry/annotate.hpp"
#include "registry/deployments.hpp"
#include "registry/events.hpp"
#include "registry/lineage.hpp"
#include "registry/query.hpp"
#include "registry/stages.hpp"
#include "tests/fuzz/fuzz.hpp"

namespace lm::fuzz {

// What reading damaged content may end in: corrupt data (65), an SQLite
// error with no better code (2), and for a lookup, not found (66).
inline constexpr std::initializer_list<ExitCode> k_damaged = {ExitCode::data, ExitCode::error};
inline constexpr std::initializer_list<ExitCode> k_lookup = {ExitCode::data, ExitCode::error,
                                                             ExitCode::not_found};

inline void read_version(sql::Db& db, const VersionRecord& v) {
  attempt([&] { (void)load_manifest(db, v.id); }, k_damaged);
  attempt([&] { (void)load_metadata(db, v.id); }, k_damaged);
  attempt([&] { (void)annotations_as_of(db, v, AsOf{}); }, k_damaged);
  attempt([&] { (void)linked_refs(db, v.id); }, k_damaged);
  attempt([&] { (void)walk_lineage(db, v, Direction::upstream, 3); }, k_damaged);
  attempt([&] { (void)walk_lineage(db, v, Direction::downstream, 3); }, k_damaged);
}

// Returns the models' latest versions that resolved, for callers that go on
// to check them.
inline std::vector<Ref> read_models(sql::Db& db) {
  std::vector<Ref> resolved;
  std::vector<ModelSummary> models;
  if (!attempt([&] { models = list_models(db); }, k_damaged)) return resolved;
  std::size_t read = 0;
  for (const auto& m : models) {
    if (++read > 8) break;  // a hostile database can hold many; a few are enough
    std::vector<VersionRecord> versions;
    attempt([&] { versions = list_versions(db, m.name); }, k_lookup);
    for (std::size_t i = 0; i < versions.size() && i < 4; ++i) read_version(db, versions[i]);
    Ref latest;
    latest.name = m.name;
    latest.text = m.name;
    if (attempt([&] { (void)resolve(db, latest); }, k_lookup)) resolved.push_back(latest);
    attempt([&] { (void)stage_holders(db, m.name); }, k_damaged);
    attempt([&] { (void)current_deployments(db, m.name); }, k_damaged);
    attempt([&] { (void)load_events(db, m.name, 20); }, k_damaged);
  }
  attempt([&] { (void)list_refs(db); }, k_damaged);
  attempt([&] {
    // As 'history --json' writes them (cli/output.cpp).
    for (const auto& e : load_events(db, "", 50)) {
      (void)event_json(e).dump(2, ' ', false, Json::error_handler_t::replace);
    }
  }, k_damaged);
  return resolved;
}

}  // namespace lm::fuzz
