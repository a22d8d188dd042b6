#pragma once
// The event log part of the tamper suite (stress_tamper.cpp): rows of the
// events table read, edited, removed, swapped and forged the way someone
// with write access to registry.db could, and the chain recomputed the way
// lastmile computes it (id = sha256(prev + canonical event)).

#include <algorithm>
#include <cctype>
#include <string>
#include <vector>

#include "tests/stress/tamper_support.hpp"

namespace lm::tamper {

struct EventRow {
  long seq = 0;
  std::string id, prev, time, actor, kind, subject, name, payload;
};

inline const std::vector<std::string>& event_columns() {
  static const std::vector<std::string> columns = {"seq",  "id",      "prev", "time",   "actor",
                                                   "kind", "subject", "name", "payload"};
  return columns;
}

inline std::vector<EventRow> read_events(Db& db) {
  std::vector<EventRow> rows;
  for (auto& r : db.rows("SELECT seq, id, prev, time, actor, kind, subject, name, payload FROM events ORDER BY seq")) {
    rows.push_back({std::stol(r[0]), r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8]});
  }
  return rows;
}

// Writes every column but seq of the row with `row.seq`.
inline void write_event(Db& db, const EventRow& row) {
  db.run("UPDATE events SET id = ?, prev = ?, time = ?, actor = ?, kind = ?, subject = ?, name = ?, payload = ? "
         "WHERE seq = " + std::to_string(row.seq),
         {row.id, row.prev, row.time, row.actor, row.kind, row.subject, row.name, row.payload});
}

inline void insert_event(Db& db, const EventRow& row) {
  db.run("INSERT INTO events (seq, id, prev, time, actor, kind, subject, name, payload) "
         "VALUES (" + std::to_string(row.seq) + ", ?, ?, ?, ?, ?, ?, ?, ?)",
         {row.id, row.prev, row.time, row.actor, row.kind, row.subject, row.name, row.payload});
}

// Moves the events from `seq` on one place up, leaving `seq` free
// (through negative numbers: seq is the primary key).
inline void open_gap(Db& db, long seq) {
  db.exec("UPDATE events SET seq = -seq WHERE seq >= " + std::to_string(seq) +
          "; UPDATE events SET seq = 1 - seq WHERE seq < 0");
}

// The bytes lastmile hashes for an event: canonical JSON with its keys in
// order and the payload as stored.
inline std::string event_body(const EventRow& e) {
  const auto str = [](const std::string& s) { return Json(s).dump(); };
  return "{\"actor\":" + str(e.actor) + ",\"kind\":" + str(e.kind) + ",\"payload\":" + e.payload +
         ",\"prev\":" + str(e.prev) + ",\"seq\":" + std::to_string(e.seq) + ",\"subject\":" + str(e.subject) +
         ",\"time\":" + str(e.time) + "}";
}

// Recomputes prev and id from `from_seq` to the end: a forger's rewrite.
inline void rechain(const Sandbox& sb, Db& db, long from_seq) {
  std::string prev(64, '0');
  for (EventRow& e : read_events(db)) {
    if (e.seq >= from_seq) {
      e.prev = prev;
      e.id = sha256_of_text(sb, e.prev + event_body(e));
      write_event(db, e);
    }
    prev = e.id;
  }
}

inline std::string next_hex(const std::string& hex) {
  std::string out = hex;
  if (out.empty()) return "0";
  char& c = out.back();
  c = c == 'f' ? '0' : c == '9' ? 'a' : static_cast<char>(c + 1);
  return out;
}

// A payload still canonical JSON, with one value changed: a forger who
// knows the format, so only the hash can tell.
inline std::string edited_payload(const std::string& payload) {
  Json doc = Json::parse(payload);
  bool done = false;
  const auto edit = [&](auto& self, Json& v) -> void {
    if (done) return;
    if (v.is_string() && !v.get<std::string>().empty()) {
      std::string s = v.get<std::string>();
      s.back() = s.back() == 'x' ? 'y' : 'x';
      v = s;
      done = true;
    } else if (v.is_number()) {
      v = v.get<double>() + 1;
      done = true;
    } else if (v.is_object() || v.is_array()) {
      for (auto& item : v) self(self, item);
    }
  };
  edit(edit, doc);
  if (!done) doc["forged"] = true;
  return doc.dump();
}

// A plausible other value for one column of row `e`, among `all` rows.
inline std::string edited_value(const EventRow& e, const std::string& column, const std::vector<EventRow>& all) {
  if (column == "id") return next_hex(e.id);
  if (column == "prev") return next_hex(e.prev);
  if (column == "time") {
    std::string t = e.time;
    const auto pos = t.find_last_of("0123456789");
    t[pos] = t[pos] == '9' ? '0' : static_cast<char>(t[pos] + 1);
    return t;
  }
  const std::string mallory = "Mallory <mallory@example.com>";
  if (column == "actor") return e.actor == mallory ? "Ada Lovelace" : mallory;
  if (column == "kind") return e.kind == "approval.granted" ? "stage.assigned" : "approval.granted";
  if (column == "payload") return edited_payload(e.payload);
  for (const auto& other : all) {  // another subject, or another model, from the same log
    if (column == "subject" && other.subject != e.subject && other.name == e.name) return other.subject;
    if (column == "name" && other.name != e.name) return other.name;
  }
  return e.name + "-other";
}

// A row that looks like the rest: a copy of a real event `like` (an
// approval, say) as someone else, at its neighbour's time, with a
// well-formed id that does not chain.
inline EventRow forged_row(const EventRow& like, long seq, const std::string& prev, const std::string& time,
                           std::mt19937_64& rng) {
  EventRow f = like;
  f.seq = seq;
  f.prev = prev;
  f.time = time;
  f.actor = "Mallory <mallory@example.com>";
  Json payload = Json::parse(like.payload);
  if (payload.contains("comment")) payload["comment"] = "looks fine";
  f.payload = payload.dump();
  static const char* hex = "0123456789abcdef";
  f.id.clear();
  for (int i = 0; i < 64; ++i) f.id += hex[rng() % 16];
  return f;
}

// ---- the cases ----

// Both checks of the log, as a user runs them.
struct LogCheck {
  RunResult audit, verify;
  Json audit_json, verify_json;
};

inline LogCheck check_log(const Sandbox& sb) {
  LogCheck c;
  c.audit = sb.run({"audit", "verify", "--json"});
  c.verify = sb.run({"verify", "--json"});
  c.audit_json = json_of(c.audit);
  c.verify_json = json_of(c.verify);
  return c;
}

inline Json at(const Json& doc, const Json::json_pointer& p) {
  return doc.is_object() && doc.contains(p) ? doc.at(p) : Json();
}

// "" when both `audit verify` and `verify` exit 1 naming `seq` as the first
// event whose link is broken; else what went wrong.
inline std::string chain_names(const LogCheck& c, long seq) {
  const Json audit_seq = at(c.audit_json, "/first_bad_seq"_json_pointer);
  const Json verify_seq = at(c.verify_json, "/chain/first_bad_seq"_json_pointer);
  if (c.audit.rc != 1) return "audit verify: " + describe(c.audit);
  if (audit_seq != Json(seq)) return "audit verify names event " + audit_seq.dump() + ", not " + std::to_string(seq);
  if (c.verify.rc != 1) return "verify: " + describe(c.verify);
  if (verify_seq != Json(seq)) return "verify names event " + verify_seq.dump() + ", not " + std::to_string(seq);
  return "";
}

// "" when `audit verify` exits 1 because event `seq` is not the one the
// log remote was last seen holding.
inline std::string anchor_names(const LogCheck& c, long seq) {
  if (c.audit.rc != 1) return "audit verify: " + describe(c.audit);
  const std::string expected = "event " + std::to_string(seq) + " is not the one published to 'origin'";
  if (c.audit.err.find(expected) == std::string::npos) return "audit verify does not say '" + expected + "': " + c.audit.err;
  const Json anchors = at(c.audit_json, "/anchors"_json_pointer);
  if (!anchors.is_array() || anchors.empty() || anchors[0].value("ok", true)) return "audit verify --json: anchor ok";
  return "";
}

// Whether `text` names event `seq` ("event 12", not "event 123").
inline bool names_event(const std::string& text, long seq) {
  const std::string word = "event " + std::to_string(seq);
  for (auto pos = text.find(word); pos != std::string::npos; pos = text.find(word, pos + 1)) {
    const auto end = pos + word.size();
    if (end == text.size() || !std::isdigit(static_cast<unsigned char>(text[end]))) return true;
  }
  return false;
}

// "" when `verify` exits 1 with a problem that names event `seq`: a table
// row that disagrees with what the log says it made.
inline std::string tables_name(const LogCheck& c, long seq) {
  if (c.verify.rc != 1) return "verify: " + describe(c.verify);
  for (const auto& p : problems_of(c.verify_json)) {
    if (names_event(p.message, seq)) return "";
  }
  return "verify does not name event " + std::to_string(seq) + ": " + summary(problems_of(c.verify_json));
}

inline const char* k_log_policy = R"(stages:
  - name: sandbox
  - name: staging
    from: [sandbox]
    gates:
      - {metric: auc, min: 0.80}
  - name: production
    from: [staging]
    approvals: {count: 1, distinct_from_registrant: true}
)";

inline void must(const RunResult& r, const std::string& what) {
  if (r.rc != 0) throw std::runtime_error(what + ": " + describe(r));
}

// Every kind of event for each model: registrations with metrics,
// annotations, gate verdicts, promotions, approvals, a rollback and a
// deployment record; then the log pushed to a bare repository, which
// anchors its head outside the database.
inline void build_log_registry(Sandbox& sb, long models) {
  must(sb.run({"init", "-q"}), "init");
  put_file(sb.repo() / "lastmile.yaml", k_log_policy);
  const lm::test::RunOptions grace{.env = {{"LASTMILE_ACTOR", "Grace Hopper <grace@example.com>"}}};
  for (long m = 0; m < models; ++m) {
    const std::string name = m == 0 ? "churn" : m == 1 ? "fraud" : "rank-" + std::to_string(m);
    for (int v = 1; v <= 4; ++v) {
      const std::string file = "models/" + name + "-" + std::to_string(v) + ".bin";
      put_file(sb.repo() / file, name + " weights " + std::to_string(v));
      must(sb.run({"register", name, file, "--version", "1." + std::to_string(v) + ".0", "--metric",
                   "auc=0.8" + std::to_string(v), "--owner", "team-" + std::to_string(m), "-q"}),
           "register");
    }
    must(sb.run({"annotate", name + "@1.1.0", "--label", "reviewed=yes", "-q"}), "annotate");
    must(sb.run({"annotate", name + "@1.2.0", "--description", "second try", "-q"}), "annotate");
    for (const char* v : {"@1.1.0", "@1.2.0"}) {
      must(sb.run({"promote", name + v, "--to", "staging", "-q"}), "promote");
      must(sb.run({"approve", name + v, "--stage", "production", "-q"}, grace), "approve");
      must(sb.run({"promote", name + v, "--to", "production", "-q"}), "promote");
    }
    must(sb.run({"rollback", name, "--stage", "production", "--reason", "latency regression", "-q"}), "rollback");
    must(sb.run({"deploy", "record", name + "@production", "--env", "prod-eu", "-q"}), "deploy record");
  }
  const fs::path remote = sb.root() / "log-remote.git";
  must(sb.exec({"git", "init", "-q", "--bare", remote.string()}), "git init --bare");
  must(sb.run({"remote", "add", "origin", remote.string(), "-q"}), "remote add");
  must(sb.run({"push", "origin", "-q"}), "push");
}

// The log remote's anchor set aside for a moment: what a registry that
// never pushed can tell.
struct Unanchored {
  const Sandbox& sb;
  explicit Unanchored(const Sandbox& s) : sb(s) { fs::rename(sb.registry() / "log.git", sb.root() / "log.git.aside"); }
  ~Unanchored() { fs::rename(sb.root() / "log.git.aside", sb.registry() / "log.git"); }
};

}  // namespace lm::tamper
