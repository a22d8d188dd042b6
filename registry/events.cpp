#include "registry/events.hpp"

#include <algorithm>

#include "registry/core/clock.hpp"
#include "registry/core/error.hpp"
#include "registry/core/sha256.hpp"

namespace lm {

namespace {

// Every column but the payload, which the chain check hashes as stored text.
Event read_header(const sql::Stmt& row) {
  Event e;
  e.seq = row.int64(0);
  e.id = row.text(1);
  e.prev = row.text(2);
  e.time = row.text(3);
  e.actor = row.text(4);
  e.kind = row.text(5);
  e.subject = row.text(6);
  return e;
}

Event read_row(const sql::Stmt& row, std::string_view source) {
  Event e = read_header(row);
  e.payload = parse_json(row.text(7), source);
  return e;
}

constexpr const char* k_columns = "seq, id, prev, time, actor, kind, subject, payload";

}  // namespace

namespace {

// The canonical JSON of an event whose payload is already canonical text,
// written out in canonical key order (actor, kind, payload, prev, seq,
// subject, time) instead of built as a Json and dumped: the chain check
// hashes every event, and this is most of its cost.
std::string body_with_payload_text(const Event& e, std::string_view payload) {
  std::string body = "{\"actor\":" + canonical_json(e.actor) + ",\"kind\":" + canonical_json(e.kind) +
                     ",\"payload\":";
  body += payload;
  body += ",\"prev\":" + canonical_json(e.prev) + ",\"seq\":" + std::to_string(e.seq) +
          ",\"subject\":" + canonical_json(e.subject) + ",\"time\":" + canonical_json(e.time) + "}";
  return body;
}

}  // namespace

std::string event_body(const Event& e) { return body_with_payload_text(e, canonical_json(e.payload)); }

std::string compute_event_id(const Event& e) { return Sha256::hex_of(e.prev + event_body(e)); }

namespace {

// Gives `e` the next place in the chain: seq, prev, and a time no earlier
// than the last event's. Times never go backwards along the log, even when
// the clock does (an NTP step) or an event comes from another machine: "the
// log as it stood at T" is then always a prefix of it. Same-width UTC
// timestamps compare as text.
void place_at_end(sql::Db& db, Event& e) {
  auto last = db.prepare("SELECT seq, id, time FROM events ORDER BY seq DESC LIMIT 1");
  if (last.step()) {
    e.seq = last.int64(0) + 1;
    e.prev = last.text(1);
    e.time = std::max(e.time, last.text(2));
  } else {
    e.seq = 1;
    e.prev = k_genesis;
  }
  e.id = compute_event_id(e);
}

}  // namespace

std::string event_name(const Event& event) { return event.subject.substr(0, event.subject.find('@')); }

void insert_event(sql::Db& db, const Event& e) {
  db.prepare(
        "INSERT INTO events (seq, id, prev, time, actor, kind, subject, name, payload) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
      .bind_all(e.seq, e.id, e.prev, e.time, e.actor, e.kind, e.subject, event_name(e),
                canonical_json(e.payload))
      .run();
}

Event append_event(sql::Db& db, std::string kind, std::string subject, const std::string& name,
                   Json payload, std::string actor) {
  Event e;
  e.time = now_rfc3339();
  e.actor = std::move(actor);
  e.kind = std::move(kind);
  e.subject = std::move(subject);
  e.payload = std::move(payload);
  place_at_end(db, e);
  if (event_name(e) != name) throw Error(ExitCode::internal, "event subject " + quote(e.subject) + " is not about " + quote(name));
  insert_event(db, e);
  return e;
}

Event append_replayed_event(sql::Db& db, Event event) {
  place_at_end(db, event);
  insert_event(db, event);
  return event;
}

Json event_json(const Event& e) {
  return {{"seq", e.seq},         {"id", e.id},      {"prev", e.prev},
          {"time", e.time},       {"actor", e.actor}, {"kind", e.kind},
          {"subject", e.subject}, {"payload", e.payload}};
}

Event parse_event_json(const std::string& text, const std::string& source) {
  Event e;
  try {
    const Json j = parse_json(text, source);
    e.seq = j.at("seq").get<std::int64_t>();
    e.id = j.at("id").get<std::string>();
    e.prev = j.at("prev").get<std::string>();
    e.time = j.at("time").get<std::string>();
    e.actor = j.at("actor").get<std::string>();
    e.kind = j.at("kind").get<std::string>();
    e.subject = j.at("subject").get<std::string>();
    e.payload = j.at("payload");
    if (j.size() != 8) throw Error(ExitCode::data, source + " has fields an event does not have");
  } catch (const Json::exception& ex) {
    throw Error(ExitCode::data, source + " is not an event: " + ex.what());
  }
  if (compute_event_id(e) != e.id) {
    throw Error(ExitCode::data, source + ": its content does not match its id " + e.id);
  }
  return e;
}

std::optional<Event> last_event(sql::Db& db) {
  auto stmt = db.prepare(std::string("SELECT ") + k_columns + " FROM events ORDER BY seq DESC LIMIT 1");
  if (!stmt.step()) return std::nullopt;
  return read_row(stmt, "the event log");
}

std::vector<Event> load_events(sql::Db& db, const std::string& name, std::size_t limit,
                               std::int64_t last_seq) {
  std::string sql = std::string("SELECT ") + k_columns + " FROM events WHERE seq <= ?1";
  if (!name.empty()) sql += " AND name = ?2";
  sql += " ORDER BY seq DESC";
  if (limit > 0) sql += " LIMIT " + std::to_string(limit);
  auto stmt = db.prepare(sql);
  stmt.bind(1, last_seq);
  if (!name.empty()) stmt.bind(2, name);
  std::vector<Event> events;
  while (stmt.step()) events.push_back(read_row(stmt, "the event log"));
  return events;
}

std::vector<Event> load_events_after(sql::Db& db, std::int64_t seq) {
  auto stmt = db.prepare(std::string("SELECT ") + k_columns + " FROM events WHERE seq > ? ORDER BY seq");
  stmt.bind(1, seq);
  std::vector<Event> events;
  while (stmt.step()) events.push_back(read_row(stmt, "the event log"));
  return events;
}

std::optional<Event> load_event(sql::Db& db, std::int64_t seq) {
  auto stmt = db.prepare(std::string("SELECT ") + k_columns + " FROM events WHERE seq = ?");
  stmt.bind(1, seq);
  if (!stmt.step()) return std::nullopt;
  return read_row(stmt, "the event log");
}

ChainCheck verify_chain(sql::Db& db, ChainDepth depth) {
  ChainCheck check;
  auto stmt = db.prepare(std::string("SELECT ") + k_columns + ", name FROM events ORDER BY seq");
  std::string prev = k_genesis;
  std::int64_t expected_seq = 1;
  const auto fail = [&](std::int64_t seq, std::string problem) {
    check.ok = false;
    check.first_bad_seq = seq;
    check.problem = std::move(problem);
    return check;
  };
  while (stmt.step()) {
    const Event e = read_header(stmt);
    const std::string payload = stmt.text(7);
    if (e.seq != expected_seq) {
      return fail(expected_seq, "event " + std::to_string(expected_seq) + " is missing");
    }
    if (depth == ChainDepth::full) {
      try {
        if (canonical_json(parse_json(payload, "event " + std::to_string(e.seq))) != payload) {
          return fail(e.seq, "its payload is not in canonical form");
        }
      } catch (const Error&) {
        return fail(e.seq, "its payload is not valid JSON");
      }
    }
    if (e.prev != prev) return fail(e.seq, "its prev does not match the id of the event before");
    if (Sha256::hex_of(e.prev + body_with_payload_text(e, payload)) != e.id) {
      return fail(e.seq, "its content does not match its id");
    }
    // The name column is derived from the subject for lookups; not hashed.
    if (stmt.text(8) != e.subject.substr(0, e.subject.find('@'))) {
      return fail(e.seq, "its name column does not match its subject");
    }
    prev = e.id;
    ++expected_seq;
    ++check.events;
  }
  check.head = check.events > 0 ? prev : std::string();
  return check;
}

}  // namespace lm
