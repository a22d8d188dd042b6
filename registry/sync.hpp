#pragma once
// Sharing the event log through a git remote (DESIGN.md §10).
//
// The log travels as commits on refs/lastmile/log. Each push adds one
// commit holding the new events as files of the cumulative tree:
//   FORMAT                                "lastmile-log 1"
//   events/000000/000000041.json          one event, canonical JSON with its id
//                                         (directory = seq / 1000)
// and ends its message with the trailers
//   Lastmile-Seq: 43                      the last event's seq
//   Lastmile-Head: <id>                   the last event's id: the chain head
// Pushes only ever fast-forward. When the remote moved, the events it has
// and this registry lacks are applied here, this registry's unpublished
// events are replayed after them with their preconditions checked again,
// and the push is retried. A published event is never rewritten; the
// remote's commit anchors the chain outside the database.
//
// The commits live in a bare repository of the registry's own,
// .lastmile/log.git; refs/lastmile/remotes/<remote>/log there is what each
// remote held when last seen.

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "registry/registry.hpp"
#include "registry/remotes.hpp"

namespace lm {

// A local event that could not be published as it was.
struct SyncConflict {
  std::string kind;     // its event kind
  std::string subject;  // name@version
  std::string stage;    // for stage events
  std::string reason;   // why, in words
  std::string hint;     // what to do
};

struct SyncResult {
  Remote remote;
  std::int64_t received = 0;  // remote events applied here
  std::int64_t sent = 0;      // local events published
  std::int64_t replayed = 0;  // local events moved after the remote's
  std::vector<std::string> merged;     // local events the remote already had in effect
  std::vector<SyncConflict> refused;   // local events dropped: their preconditions failed
  std::int64_t head_seq = 0;           // the remote's last event afterwards
  std::string head_id;
  std::string commit;                  // the remote's refs/lastmile/log afterwards
  int attempts = 0;                    // pushes tried (a lost race retries)
  std::int64_t unpublished = 0;        // local events the remote does not have (pull)
};

struct SyncRequest {
  Remote remote;                 // a log remote
  std::string actor;             // signs the commits a push writes
  int max_attempts = 8;          // pushes tried while the remote keeps moving
  std::chrono::milliseconds lock_timeout{30000};
  // push_log calls it once, after the remote was reached and its log
  // accepted here and before anything is published: what it appends to the
  // log (where uploaded bytes went) goes out with the rest. An unreachable
  // or rewritten remote stops the push before it runs, so nothing changes.
  std::function<void()> before_publish;
};

// Fetches the remote's log and applies the events this registry lacks.
// Unpublished local events are replayed after them (those whose
// preconditions no longer hold are dropped and listed in `refused`).
// Throws Error(unavailable) when the remote cannot be reached (nothing
// changes here), Error(check_failed) when its log does not extend what this
// registry has seen or published (nothing changes either).
SyncResult pull_log(Registry& registry, const SyncRequest& request);

// pull_log, then request.before_publish, then publishes the local events
// the remote lacks with a fast-forward push, retrying from the pull when
// another push got there first. Error(temp_fail) when the remote kept moving.
SyncResult push_log(Registry& registry, const SyncRequest& request);

// What the remote-tracking references outside the database say the log
// was: for each remote, its last event's seq and id as last seen. An
// audit compares them with the log.
struct PublishedAnchor {
  std::string remote;
  std::string commit;
  std::int64_t seq = 0;
  std::string id;
};
std::vector<PublishedAnchor> published_anchors(const Registry& registry);

// The repository that carries the log's commits.
std::filesystem::path log_repository_dir(const Registry& registry);

}  // namespace lm
