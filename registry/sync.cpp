#include "registry/sync.hpp"

#include <algorithm>
#include <map>
#include <cstdio>
#include <optional>
#include <random>
#include <thread>

#include "registry/core/clock.hpp"
#include "registry/core/error.hpp"
#include "registry/core/files.hpp"
#include "registry/core/git.hpp"
#include "registry/core/git_sync.hpp"
#include "registry/events.hpp"
#include "registry/names.hpp"
#include "registry/projection.hpp"
#include "registry/query.hpp"

namespace lm {

namespace {

constexpr const char* k_remote_log_ref = "refs/lastmile/log";
constexpr const char* k_format = "lastmile-log 1\n";

std::string tracking_ref(const std::string& remote) { return "refs/lastmile/remotes/" + remote + "/log"; }
// Where a fetch lands before its events are accepted: the tracking
// reference, an audit anchor, only ever moves to a log that was applied.
std::string fetched_ref(const std::string& remote) { return "refs/lastmile/fetched/" + remote + "/log"; }

std::string padded(std::int64_t value, int width) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%0*lld", width, static_cast<long long>(value));
  return buf;
}

std::string event_path(std::int64_t seq) {
  return "events/" + padded(seq / 1000, 6) + "/" + padded(seq, 9) + ".json";
}

std::string describe(const Remote& remote) { return "the log remote " + quote(remote.name); }

// --- The remote's log, as its commit says ------------------------------

struct RemoteHead {
  std::optional<std::string> commit;  // nullopt: the remote has no log yet
  std::int64_t seq = 0;
  std::string id;
};

std::optional<std::string> trailer(const std::string& message, const std::string& key) {
  const std::string prefix = "\n" + key + ": ";
  const auto at = message.rfind(prefix);
  if (at == std::string::npos) return std::nullopt;
  const auto start = at + prefix.size();
  return message.substr(start, message.find('\n', start) - start);
}

[[noreturn]] void not_a_log(const Remote& remote, const std::string& commit, const std::string& why) {
  throw Error(ExitCode::data,
              describe(remote) + " has a " + std::string(k_remote_log_ref) + " that is not a lastmile log (commit " +
                  commit.substr(0, 12) + "): " + why,
              "inspect it with: git fetch " + git::strip_credentials(remote.url) + " " + k_remote_log_ref +
                  " && git log -p FETCH_HEAD");
}

RemoteHead read_head(const git::SyncRepository& repo, const Remote& remote,
                     const std::optional<std::string>& commit) {
  RemoteHead head;
  head.commit = commit;
  if (!commit) return head;
  if (repo.read_file(*commit, "FORMAT") != std::string(k_format)) {
    not_a_log(remote, *commit, "its FORMAT file is missing or names another format");
  }
  const std::string message = repo.message(*commit);
  const auto seq = trailer(message, "Lastmile-Seq");
  const auto id = trailer(message, "Lastmile-Head");
  try {
    std::size_t used = 0;
    head.seq = seq ? std::stoll(*seq, &used) : -1;
    if (!seq || used != seq->size() || head.seq < 1) throw std::invalid_argument("seq");
  } catch (const std::exception&) {
    not_a_log(remote, *commit, "its message has no valid Lastmile-Seq trailer");
  }
  if (!id || id->size() != 64) not_a_log(remote, *commit, "its message has no valid Lastmile-Head trailer");
  head.id = *id;
  return head;
}

// The remote's events after `after` (whose id is `after_id`) up to its head,
// each checked: in sequence, linked, and its id its hash.
std::vector<Event> read_remote_events(const git::SyncRepository& repo, const Remote& remote,
                                      const RemoteHead& head, std::int64_t after,
                                      const std::string& after_id) {
  std::vector<Event> events;
  if (!head.commit) return events;
  std::string prev = after_id;
  std::int64_t seq = after + 1;
  // A directory at a time: one tree read for a thousand events.
  for (std::int64_t shard = seq / 1000; seq <= head.seq; ++shard) {
    const std::string dir = "events/" + padded(shard, 6);
    std::map<std::string, std::string> files;
    for (auto& f : repo.read_directory(*head.commit, dir)) files.emplace(f.path, std::move(f.content));
    for (; seq <= head.seq && seq / 1000 == shard; ++seq) {
      const std::string path = event_path(seq);
      const auto it = files.find(path.substr(dir.size() + 1));
      if (it == files.end()) not_a_log(remote, *head.commit, path + " is missing");
      Event e = parse_event_json(it->second, describe(remote) + ": " + path);
      if (e.seq != seq) not_a_log(remote, *head.commit, path + " holds event " + std::to_string(e.seq));
      if (e.prev != prev) not_a_log(remote, *head.commit, "event " + std::to_string(seq) + " does not link to the one before");
      validate_name(event_name(e));
      prev = e.id;
      events.push_back(std::move(e));
    }
  }
  if (head.seq > 0 && prev != head.id) not_a_log(remote, *head.commit, "Lastmile-Head is not its last event's id");
  if (repo.read_file(*head.commit, event_path(head.seq + 1))) {
    not_a_log(remote, *head.commit, "it holds events past its Lastmile-Seq");
  }
  return events;
}

// --- What this registry last saw of each remote ------------------------

struct SyncState {
  std::string url;
  std::int64_t seq = 0;
  std::string event_id;
  std::string commit;
};

std::optional<SyncState> load_state(sql::Db& db, const std::string& remote) {
  auto stmt = db.prepare("SELECT url, seq, event_id, commit_id FROM sync_state WHERE remote = ?");
  stmt.bind(1, remote);
  if (!stmt.step()) return std::nullopt;
  return SyncState{stmt.text(0), stmt.int64(1), stmt.text(2), stmt.text(3)};
}

void save_state(sql::Db& db, const std::string& remote, const SyncState& state) {
  db.prepare(
        "INSERT INTO sync_state (remote, url, seq, event_id, commit_id, time) VALUES (?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (remote) DO UPDATE SET url = excluded.url, seq = excluded.seq, "
        "event_id = excluded.event_id, commit_id = excluded.commit_id, time = excluded.time")
      .bind_all(remote, state.url, state.seq, state.event_id, state.commit, now_rfc3339())
      .run();
}

// The highest seq any remote is known to hold of this log: events up to it
// are published and are never moved.
std::int64_t published_seq(sql::Db& db) { return db.query_int("SELECT max(seq) FROM sync_state").value_or(0); }

std::optional<std::string> local_id(sql::Db& db, std::int64_t seq) {
  auto stmt = db.prepare("SELECT id FROM events WHERE seq = ?");
  stmt.bind(1, seq);
  if (!stmt.step()) return std::nullopt;
  return stmt.text(0);
}

std::int64_t local_end(sql::Db& db) { return db.query_int("SELECT max(seq) FROM events").value_or(0); }

[[noreturn]] void rewritten(const Remote& remote, std::int64_t seq, const std::string& why) {
  throw Error(ExitCode::check_failed,
              describe(remote) + " no longer extends this registry's log: " + why +
                  " (event " + std::to_string(seq) + "); nothing was changed here",
              "someone rewrote or reset its " + std::string(k_remote_log_ref) +
                  ". Inspect it with: git fetch " + git::strip_credentials(remote.url) + " " + k_remote_log_ref +
                  " && git log --stat FETCH_HEAD; this registry's own log is intact ('lastmile audit verify')");
}

// --- Replaying unpublished events after the remote's ------------------

struct Holder {
  std::string version;
  std::string actor;
  std::string time;
};

std::optional<Holder> stage_holder(sql::Db& db, const std::string& name, const std::string& stage) {
  auto stmt = db.prepare(
      "SELECT v.version, h.actor, h.time FROM stage_assignments a JOIN models m ON m.id = a.model_id "
      "JOIN versions v ON v.id = a.version_id JOIN stage_history h ON h.event_seq = a.event_seq "
      "WHERE m.name = ? AND a.stage = ?");
  stmt.bind_all(name, stage);
  if (!stmt.step()) return std::nullopt;
  return Holder{stmt.text(0), stmt.text(1), stmt.text(2)};
}

struct Registered {
  std::string digest;
  std::string actor;
  std::string time;
};

std::optional<Registered> registered_version(sql::Db& db, const std::string& name, const std::string& version) {
  auto stmt = db.prepare(
      "SELECT v.digest, v.registered_by, v.registered_at FROM versions v JOIN models m ON m.id = v.model_id "
      "WHERE m.name = ? AND v.version_key = ?");
  stmt.bind_all(name, parse_semver(version).key());
  if (!stmt.step()) return std::nullopt;
  return Registered{stmt.text(0), stmt.text(1), stmt.text(2)};
}

bool approval_exists(sql::Db& db, const Event& e) {
  auto stmt = db.prepare(
      "SELECT 1 FROM approvals a JOIN versions v ON v.id = a.version_id JOIN models m ON m.id = v.model_id "
      "WHERE m.name = ? AND v.version_key = ? AND a.stage = ? AND a.actor = ?");
  stmt.bind_all(e.payload.at("name").get<std::string>(),
                parse_semver(e.payload.at("version").get<std::string>()).key(),
                e.payload.at("stage").get<std::string>(), e.actor);
  return stmt.step();
}

// Whether the version already reads the way an annotation would make it
// (the remote made the same change): then replaying it would change nothing.
bool annotation_holds(sql::Db& db, const Event& e) {
  const Json& p = e.payload;
  const auto v = find_version(db, p.at("name").get<std::string>(),
                              parse_semver(p.at("version").get<std::string>()).key());
  if (!v || v->digest != p.at("digest").get<std::string>()) return false;
  const StringMap labels = load_metadata(db, v->id).labels;
  const Json labels_set = p.value("labels", Json::object());  // items() must not outlive it
  for (const auto& [key, value] : labels_set.items()) {
    const auto it = labels.find(key);
    if (it == labels.end() || it->second != value.get<std::string>()) return false;
  }
  for (const auto& key : p.value("remove_labels", Json::array())) {
    if (labels.count(key.get<std::string>())) return false;
  }
  return (!p.contains("description") || p.at("description").get<std::string>() == v->description) &&
         (!p.contains("owner") || p.at("owner").get<std::string>() == v->owner);
}

enum class Verdict { keep, merged, refused };

struct Decision {
  Verdict verdict = Verdict::keep;
  std::string reason;
  std::string hint;
};

std::string stage_of(const Event& e) {
  return e.payload.contains("stage") && e.payload.at("stage").is_string() ? e.payload.at("stage").get<std::string>()
                                                                          : "";
}

// Whether a local event still means what it meant, now that the remote's
// events come first. Anything else it depends on is checked by applying it.
Decision judge(sql::Db& db, const Event& e) {
  const Json& p = e.payload;
  if (!p.contains("name") || !p.contains("version")) return {};
  const std::string name = p.at("name").get<std::string>();
  const std::string version = p.at("version").get<std::string>();
  if (e.kind == "version.registered") {
    const auto there = registered_version(db, name, version);
    if (!there) return {};
    if (there->digest == p.at("digest").get<std::string>()) {
      return {Verdict::merged, "the remote has the same registration", ""};
    }
    return {Verdict::refused,
            "the remote has " + name + "@" + version + " with other content (" + there->digest.substr(0, 19) +
                "…, registered by " + there->actor + " at " + there->time + ")",
            "register your files as another version: lastmile register " + name + " PATH"};
  }
  if (e.kind == "stage.assigned" || e.kind == "stage.rolled_back") {
    const auto holder = stage_holder(db, name, stage_of(e));
    if (holder && parse_semver(holder->version).key() == parse_semver(version).key()) {
      return {Verdict::merged, stage_of(e) + " already holds " + name + "@" + version, ""};
    }
  }
  if (e.kind == "approval.granted" && approval_exists(db, e)) {
    return {Verdict::merged, "the remote has the same approval", ""};
  }
  if (e.kind == "version.annotated" && annotation_holds(db, e)) {
    return {Verdict::merged, "the remote has the same annotation", ""};
  }
  return {};
}

// Why applying a stage move failed, in the words its author needs.
Decision refused_move(sql::Db& db, const Event& e) {
  const std::string name = e.payload.at("name").get<std::string>();
  const std::string stage = stage_of(e);
  const std::string ref = name + "@" + e.payload.at("version").get<std::string>();
  const auto holder = stage_holder(db, name, stage);
  const std::string moved = holder ? stage + " moved to " + name + "@" + holder->version + " (by " + holder->actor +
                                         " at " + holder->time + ")"
                                   : stage + " changed";
  const bool rollback = e.kind == "stage.rolled_back";
  return {Verdict::refused,
          (rollback ? "the rollback of " + stage + " to " + ref : "the promotion of " + ref + " to " + stage) +
              " was not published: " + moved + " on the remote since",
          rollback ? "look at 'lastmile status " + name + "' and roll back again if still needed"
                   : "promote again if you still want it: lastmile promote " + ref + " --to " + stage};
}

// Why applying a local event after the remote's failed.
Decision why_refused(sql::Db& db, const Event& e, const Error& error) {
  const Json& p = e.payload;
  if (p.contains("name") && p.contains("version") && p.contains("digest") && e.kind != "version.registered") {
    const std::string name = p.at("name").get<std::string>();
    const std::string version = p.at("version").get<std::string>();
    const auto there = registered_version(db, name, version);
    if (!there || there->digest != p.at("digest").get<std::string>()) {
      return {Verdict::refused,
              name + "@" + version + " as this registry had it was not published (see its registration above)",
              "register the files again as a new version, then run this command again"};
    }
  }
  if (e.kind == "stage.assigned" || e.kind == "stage.rolled_back") return refused_move(db, e);
  return {Verdict::refused, "it no longer applies after the remote's events: " + std::string(error.what()),
          "run the command again if it is still wanted"};
}

std::string describe_event(const Event& e) {
  std::string text = e.kind + " " + e.subject;
  if (const std::string stage = stage_of(e); !stage.empty()) text += " " + stage;
  return text;
}

struct Integration {
  std::int64_t received = 0;
  std::int64_t replayed = 0;
  std::vector<std::string> merged;
  std::vector<SyncConflict> refused;
};

void replay_local(sql::Db& db, const std::vector<Event>& tail, Integration& out) {
  for (const Event& original : tail) {
    Decision decision = judge(db, original);
    if (decision.verdict == Verdict::keep) {
      db.exec("SAVEPOINT replay");
      try {
        apply_event(db, append_replayed_event(db, original));
        db.exec("RELEASE replay");
        ++out.replayed;
        continue;
      } catch (const Error& error) {
        db.exec("ROLLBACK TO replay");
        db.exec("RELEASE replay");
        decision = why_refused(db, original, error);
      }
    }
    if (decision.verdict == Verdict::merged) {
      out.merged.push_back(describe_event(original) + ": " + decision.reason);
    } else {
      out.refused.push_back(SyncConflict{original.kind, original.subject, stage_of(original), decision.reason,
                                         decision.hint});
    }
  }
}

// Applies the remote's log to this registry, in one write transaction.
Integration integrate(Registry& registry, const git::SyncRepository& repo, const Remote& remote,
                      const RemoteHead& head) {
  sql::Db& db = registry.db();
  sql::Transaction txn(db);
  Integration out;
  const auto state = load_state(db, remote.name);
  // What this registry saw of the remote before; a remote that now points
  // elsewhere (another URL) starts afresh.
  const bool known = state && state->url == git::strip_credentials(remote.url);
  const std::int64_t seen = known ? state->seq : 0;
  const std::string seen_id = known ? state->event_id : "";
  if (head.seq < seen) {
    rewritten(remote, head.seq, "it holds " + std::to_string(head.seq) + " events where it held " +
                                    std::to_string(seen));
  }
  if (seen > 0) {
    const auto text = repo.read_file(*head.commit, event_path(seen));
    const Event then = text ? parse_event_json(*text, describe(remote) + ": " + event_path(seen)) : Event{};
    if (!text || then.id != seen_id) rewritten(remote, seen, "the event it held there has changed");
  }
  const std::vector<Event> incoming =
      read_remote_events(repo, remote, head, seen, seen > 0 ? seen_id : k_genesis);
  // The part of the remote's log this registry already has.
  const std::int64_t end = local_end(db);
  std::int64_t common = seen;
  for (const Event& e : incoming) {
    if (e.seq > end || local_id(db, e.seq) != e.id) break;
    common = e.seq;
  }
  if (common < head.seq) {
    const std::vector<Event> fresh(incoming.begin() + (common - seen), incoming.end());
    if (common < end) {
      const std::int64_t published = published_seq(db);
      if (common < published) {
        rewritten(remote, common + 1, "it differs from the log already published (to " +
                                          std::to_string(published) + " events) at its event " +
                                          std::to_string(common + 1));
      }
      // Unpublished local events move after the remote's: the tables are
      // rebuilt from the common part, then everything is applied in order.
      const std::vector<Event> tail = load_events_after(db, common);
      clear_tables(db);
      db.prepare("DELETE FROM events WHERE seq > ?").bind(1, common).run();
      rebuild_tables(db);
      for (const Event& e : fresh) {
        insert_event(db, e);
        apply_event(db, e);
      }
      replay_local(db, tail, out);
    } else {
      for (const Event& e : fresh) {
        insert_event(db, e);
        apply_event(db, e);
      }
    }
    out.received = static_cast<std::int64_t>(fresh.size());
  }
  save_state(db, remote.name, SyncState{git::strip_credentials(remote.url), head.seq, head.id, head.commit.value_or("")});
  txn.commit();
  return out;
}

// --- Publishing ---------------------------------------------------------

git::Signature signature_of(const std::string& actor) {
  git::Signature who;
  const auto open = actor.find('<');
  const auto close = actor.find('>', open == std::string::npos ? 0 : open);
  if (open != std::string::npos && close != std::string::npos) {
    who.name = actor.substr(0, open);
    who.email = actor.substr(open + 1, close - open - 1);
  } else {
    who.name = actor;
  }
  const auto clean = [](std::string s) {
    s.erase(std::remove_if(s.begin(), s.end(), [](char c) { return c == '<' || c == '>' || c == '\n'; }), s.end());
    while (!s.empty() && s.back() == ' ') s.pop_back();
    return s;
  };
  who.name = clean(who.name);
  who.email = clean(who.email);
  if (who.name.empty()) who.name = "lastmile";
  if (who.email.empty()) who.email = "lastmile@localhost";
  return who;
}

std::string commit_message(const std::vector<Event>& events) {
  const Event& first = events.front();
  const Event& last = events.back();
  std::string message = events.size() == 1 ? "lastmile: event " + std::to_string(first.seq)
                                            : "lastmile: events " + std::to_string(first.seq) + "-" +
                                                  std::to_string(last.seq);
  message += "\n\n";
  const std::size_t shown = std::min<std::size_t>(events.size(), 50);
  for (std::size_t i = 0; i < shown; ++i) {
    message += std::to_string(events[i].seq) + " " + printable(describe_event(events[i])) + " by " +
               printable(events[i].actor) + "\n";
  }
  if (shown < events.size()) message += "... and " + std::to_string(events.size() - shown) + " more\n";
  message += "\nLastmile-Seq: " + std::to_string(last.seq) + "\nLastmile-Head: " + last.id + "\n";
  return message;
}

std::string commit_events(git::SyncRepository& repo, const RemoteHead& head, const std::vector<Event>& events,
                          const std::string& actor) {
  std::vector<git::FileWrite> files;
  files.reserve(events.size() + 1);
  if (!head.commit) files.push_back({"FORMAT", k_format});
  for (const Event& e : events) files.push_back({event_path(e.seq), canonical_json(event_json(e)) + "\n"});
  return repo.commit(head.commit, files, commit_message(events), signature_of(actor));
}

void wait_before_retry(int attempt) {
  static thread_local std::mt19937 random{std::random_device{}()};
  const int ceiling = std::min(2000, 50 << std::min(attempt, 6));
  std::uniform_int_distribution<int> pick(ceiling / 4, ceiling);
  std::this_thread::sleep_for(std::chrono::milliseconds(pick(random)));
}

void require_log_remote(const Remote& remote) {
  if (!remote.holds_log()) {
    throw Error(ExitCode::usage,
                "remote " + quote(remote.name) + " (" + git::strip_credentials(remote.url) +
                    ") holds artifact bytes, not the log",
                "the log travels through a git remote; bytes are pushed with it and fetched by checkout");
  }
}

RemoteHead fetch_head(git::SyncRepository& repo, const Remote& remote) {
  const auto commit = repo.fetch(remote.name, remote.url, k_remote_log_ref, fetched_ref(remote.name));
  return read_head(repo, remote, commit);
}

// After the remote's log was applied here: it is the new anchor.
void accept_head(git::SyncRepository& repo, const Remote& remote, const std::optional<std::string>& commit) {
  if (commit) repo.set_reference(tracking_ref(remote.name), *commit);
}

void add(SyncResult& result, Integration&& part) {
  result.received += part.received;
  result.replayed += part.replayed;
  for (auto& m : part.merged) result.merged.push_back(std::move(m));
  for (auto& r : part.refused) result.refused.push_back(std::move(r));
}

}  // namespace

std::filesystem::path log_repository_dir(const Registry& registry) { return registry.dir() / "log.git"; }

SyncResult pull_log(Registry& registry, const SyncRequest& request) {
  require_log_remote(request.remote);
  registry.require_writable();
  const FileLock lock(registry.dir() / "sync.lock", request.lock_timeout);
  git::SyncRepository repo = git::SyncRepository::open_or_create(log_repository_dir(registry));
  SyncResult result;
  result.remote = request.remote;
  const RemoteHead head = fetch_head(repo, request.remote);
  add(result, integrate(registry, repo, request.remote, head));
  accept_head(repo, request.remote, head.commit);
  result.head_seq = head.seq;
  result.head_id = head.id;
  result.commit = head.commit.value_or("");
  result.unpublished = local_end(registry.db()) - head.seq;
  return result;
}

SyncResult push_log(Registry& registry, const SyncRequest& request) {
  require_log_remote(request.remote);
  registry.require_writable();
  const FileLock lock(registry.dir() / "sync.lock", request.lock_timeout);
  git::SyncRepository repo = git::SyncRepository::open_or_create(log_repository_dir(registry));
  SyncResult result;
  result.remote = request.remote;
  for (int attempt = 1; attempt <= request.max_attempts; ++attempt) {
    const RemoteHead head = fetch_head(repo, request.remote);
    add(result, integrate(registry, repo, request.remote, head));
    accept_head(repo, request.remote, head.commit);
    if (attempt == 1 && request.before_publish) request.before_publish();
    sql::Db& db = registry.db();
    const std::vector<Event> outgoing = load_events_after(db, head.seq);
    result.head_seq = head.seq;
    result.head_id = head.id;
    result.commit = head.commit.value_or("");
    if (outgoing.empty()) return result;
    const std::string commit = commit_events(repo, head, outgoing, request.actor);
    result.attempts = attempt;
    const auto pushed = repo.push(request.remote.name, request.remote.url, commit, k_remote_log_ref, head.commit);
    if (pushed == git::SyncRepository::PushResult::updated) {
      repo.set_reference(tracking_ref(request.remote.name), commit);
      sql::Transaction txn(db);
      save_state(db, request.remote.name,
                 SyncState{git::strip_credentials(request.remote.url), outgoing.back().seq, outgoing.back().id, commit});
      txn.commit();
      result.sent = static_cast<std::int64_t>(outgoing.size());
      result.head_seq = outgoing.back().seq;
      result.head_id = outgoing.back().id;
      result.commit = commit;
      return result;
    }
    wait_before_retry(attempt);
  }
  throw Error(ExitCode::temp_fail,
              describe(request.remote) + " kept moving: " + std::to_string(request.max_attempts) +
                  " pushes lost the race to other pushes",
              "run 'lastmile push' again; the events are safe here and it is safe to retry");
}

std::vector<PublishedAnchor> published_anchors(const Registry& registry) {
  std::vector<PublishedAnchor> anchors;
  auto repo = git::SyncRepository::open_existing(log_repository_dir(registry));
  if (!repo) return anchors;
  const std::string prefix = "refs/lastmile/remotes/";
  for (const std::string& ref : repo->references(prefix)) {
    const auto commit = repo->reference(ref);
    if (!commit) continue;
    const std::string message = repo->message(*commit);
    const auto seq = trailer(message, "Lastmile-Seq");
    const auto id = trailer(message, "Lastmile-Head");
    if (!seq || !id) continue;
    PublishedAnchor anchor;
    anchor.remote = ref.substr(prefix.size(), ref.size() - prefix.size() - 4);
    anchor.commit = *commit;
    anchor.seq = std::atoll(seq->c_str());
    anchor.id = *id;
    anchors.push_back(anchor);
  }
  return anchors;
}

}  // namespace lm
