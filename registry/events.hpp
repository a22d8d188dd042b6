#pragma once
// The event log: every change is one event, appended in the transaction
// that applies it. id = sha256(prev + canonical JSON of the event without
// its id), so each event commits to the whole history before it.

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "registry/core/json.hpp"
#include "registry/core/sqlite.hpp"

namespace lm {

// The prev of the first event.
inline const std::string k_genesis(64, '0');

struct Event {
  std::int64_t seq = 0;
  std::string id;
  std::string prev;
  std::string time;  // RFC 3339 UTC
  std::string actor;
  std::string kind;     // version.registered, ...
  std::string subject;  // name@version
  Json payload;
};

// The canonical bytes an event's id is computed from.
std::string event_body(const Event& event);
// sha256(prev + event_body(event)).
std::string compute_event_id(const Event& event);

// Appends an event at the end of the chain: fills seq, prev, id and time.
// Must run inside a write transaction. `name` is the model it concerns.
Event append_event(sql::Db& db, std::string kind, std::string subject, const std::string& name,
                   Json payload, std::string actor);

// Appends an event from another log (a remote's, or a local one replayed
// on top of it) after the current end: keeps its time (moved forward when
// earlier than the last event's), kind, actor, subject and payload, and
// fills seq, prev and id afresh.
Event append_replayed_event(sql::Db& db, Event event);

// Inserts an event exactly as given, id included; the caller has checked
// that it extends the chain (seq is one more, prev is the last id, and the
// id is its hash).
void insert_event(sql::Db& db, const Event& event);

// The model an event is about, from its subject ("churn@1.2.0" -> "churn").
std::string event_name(const Event& event);

// An event with its id as one JSON object: what --json shows, and (as
// canonical JSON) how the log travels outside the database.
// parse_event_json reads that text back and throws Error(data) naming
// `source` unless it is well formed and its id is its hash.
Json event_json(const Event& event);
Event parse_event_json(const std::string& text, const std::string& source);

// The newest event, or nullopt for an empty log.
std::optional<Event> last_event(sql::Db& db);

// Loads events, newest first; `name` empty means all. `limit` 0 means all.
// Only events up to `last_seq` count (the log as it stood then).
std::vector<Event> load_events(sql::Db& db, const std::string& name, std::size_t limit,
                               std::int64_t last_seq = std::numeric_limits<std::int64_t>::max());
std::optional<Event> load_event(sql::Db& db, std::int64_t seq);
// Loads the events after `seq`, oldest first.
std::vector<Event> load_events_after(sql::Db& db, std::int64_t seq);

struct ChainCheck {
  bool ok = true;
  std::int64_t events = 0;            // events checked
  std::int64_t first_bad_seq = 0;     // 0 when ok
  std::string problem;                // what is wrong with it
  std::string head;                   // id of the last event
};

enum class ChainDepth {
  full,   // also that every payload is canonical JSON ('audit verify', 'verify')
  links,  // each id from the stored bytes and each link: what a git hook can afford
};

// Recomputes the whole chain and reports the first broken link.
ChainCheck verify_chain(sql::Db& db, ChainDepth depth = ChainDepth::full);

}  // namespace lm
