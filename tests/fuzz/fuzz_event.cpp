// Audit records: the input is an event log, one event as JSON per line, as
// a remote's log reaches a clone (registry/events.hpp). Each line goes
// through parse_event_json, which must refuse anything but a well-formed
// event whose id is its hash. To get past that check, each line that is an
// object of the right fields is also given its place in a chain (seq, prev)
// and its true id, and must then be accepted; it is inserted and applied to
// the query tables as a pull applies it (registry/projection.hpp), which
// may refuse a payload only with lm::Error. Afterwards the chain verifies,
// the tables match a replay of the log, and the read commands work.

#include "registry/core/sqlite.hpp"
#include "registry/log_check.hpp"
#include "registry/projection.hpp"
#include "registry/schema.hpp"
#include "tests/fuzz/read_registry.hpp"

namespace {

using lm::ExitCode;
using lm::Json;
using lm::fuzz::attempt;
using lm::fuzz::expect;
using lm::fuzz::k_damaged;

constexpr std::size_t k_max_events = 32;

// The line as an event with the next place in the chain and its true id, or
// nullopt when it is not an object with the eight fields and their types.
std::optional<std::string> placed(const std::string& line, std::int64_t seq, const std::string& prev) {
  Json j = Json::parse(line, nullptr, false);
  if (!j.is_object() || j.size() != 8 || !j.contains("payload")) return std::nullopt;
  for (const char* field : {"id", "prev", "time", "actor", "kind", "subject"}) {
    if (!j.contains(field) || !j[field].is_string()) return std::nullopt;
  }
  if (!j.contains("seq") || !j["seq"].is_number_integer()) return std::nullopt;
  lm::Event e;
  e.seq = seq;
  e.prev = prev;
  e.time = j["time"];
  e.actor = j["actor"];
  e.kind = j["kind"];
  e.subject = j["subject"];
  e.payload = j["payload"];
  j["seq"] = seq;
  j["prev"] = prev;
  j["id"] = lm::compute_event_id(e);
  return j.dump();
}

// One in-memory registry per process (creating the schema is most of the
// cost of an input), emptied before each input.
lm::sql::Db& empty_registry() {
  static lm::sql::Db db = [] {
    lm::sql::Db created = lm::sql::Db::open(":memory:", lm::sql::OpenMode::read_write_create, std::chrono::seconds(0));
    lm::migrate(created);
    return created;
  }();
  lm::sql::Transaction txn(db);
  lm::clear_tables(db);
  db.exec("DELETE FROM events");
  txn.commit();
  return db;
}

// Inserts and applies one event in its own transaction; false when the
// projection refused it (the transaction then rolls back).
bool append(lm::sql::Db& db, const lm::Event& e) {
  return attempt([&] {
    lm::sql::Transaction txn(db);
    lm::insert_event(db, e);
    lm::apply_event(db, e);
    txn.commit();
  }, k_damaged);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const unsigned char* data, std::size_t size) {
  const std::string_view text = lm::fuzz::as_text(data, size);
  lm::sql::Db& db = empty_registry();
  std::string prev = lm::k_genesis;
  std::int64_t seq = 0;
  std::size_t lines = 0;
  for (std::size_t start = 0; start < text.size() && lines < k_max_events; ++lines) {
    const std::size_t end = std::min(text.find('\n', start), text.size());
    const std::string line(text.substr(start, end - start));
    start = end + 1;
    // As given: accepted only when its id is already its hash.
    attempt([&] { (void)lm::parse_event_json(line, "event"); }, {ExitCode::data});
    std::optional<std::string> fixed;
    if (!attempt([&] { fixed = placed(line, seq + 1, prev); }, {ExitCode::data}) || !fixed) continue;
    lm::Event e;
    expect(attempt([&] { e = lm::parse_event_json(*fixed, "event"); }, {}),
           "a well-formed event with its true id refused");
    expect(lm::event_json(e).dump() == *fixed, "an event does not survive event_json");
    if (append(db, e)) {
      prev = e.id;
      seq = e.seq;
    }
  }
  const lm::ChainCheck chain = lm::verify_chain(db);
  expect(chain.ok && chain.events == seq, "the chain built here does not verify: " + chain.problem);
  if (seq == 0) return 0;  // nothing was applied (the replay costs a schema)
  std::vector<lm::TableDifference> differences;
  attempt([&] { differences = lm::compare_tables_with_log(db); }, k_damaged);
  expect(differences.empty(), "tables differ from a replay of the same log: " +
                                  (differences.empty() ? "" : differences.front().message));
  lm::fuzz::read_models(db);
  return 0;
}
