// lastmile push [REMOTE] / pull [REMOTE]: share the event log through a git
// remote (refs/lastmile/log), and the bytes through the blob remotes.

#include "cli/command.hpp"
#include "cli/context.hpp"
#include "cli/progress.hpp"
#include "registry/actor.hpp"
#include "registry/core/error.hpp"
#include "registry/core/git.hpp"
#include "registry/blobs.hpp"
#include "registry/sync.hpp"

namespace lm::cli {

namespace {

struct SyncOptions {
  std::string remote;
  bool repair = false;
};

Remote chosen_log_remote(Context& ctx, const SyncOptions& o) {
  if (o.remote.empty()) return default_log_remote(ctx.registry().dir(), ctx.cwd());
  return find_remote(ctx.registry().dir(), ctx.cwd(), o.remote);
}

SyncRequest sync_request(Context& ctx, const SyncOptions& o) {
  SyncRequest request;
  request.remote = chosen_log_remote(ctx, o);
  request.actor = resolve_actor(ctx.cwd());
  request.lock_timeout = ctx.lock_timeout();
  return request;
}

std::string plural(std::int64_t n, const std::string& word) {
  return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
}

Json result_json(const SyncResult& r) {
  Json refused = Json::array();
  for (const auto& c : r.refused) {
    refused.push_back({{"kind", c.kind}, {"subject", c.subject}, {"stage", c.stage.empty() ? Json() : Json(c.stage)},
                       {"reason", c.reason}, {"hint", c.hint}});
  }
  return {{"remote", r.remote.name},
          {"url", git::strip_credentials(r.remote.url)},
          {"sent", r.sent},
          {"received", r.received},
          {"replayed", r.replayed},
          {"merged", r.merged},
          {"refused", refused},
          {"head", {{"seq", r.head_seq}, {"id", r.head_id.empty() ? Json() : Json(r.head_id)}}},
          {"commit", r.commit.empty() ? Json() : Json(r.commit)},
          {"attempts", r.attempts}};
}

// Local events the remote's did not leave room for: each said on stderr,
// then exit 1, after everything else was done.
int report_refused(const Context& ctx, const SyncResult& r) {
  if (r.refused.empty()) return 0;
  for (const auto& c : r.refused) {
    ctx.out().warn(c.reason);
    if (!c.hint.empty()) ctx.out().note("  hint: " + c.hint);
  }
  throw Error(ExitCode::check_failed,
              plural(static_cast<std::int64_t>(r.refused.size()), "local event") +
                  " could not be published and " + (r.refused.size() == 1 ? "was" : "were") +
                  " dropped here, as said above; the registry now matches " + quote(r.remote.name));
}

void print_common(const Context& ctx, const SyncResult& r) {
  const Output& out = ctx.out();
  if (r.received > 0) out.line("received " + plural(r.received, "event") + " from " + r.remote.name);
  if (r.replayed > 0) out.line("replayed " + plural(r.replayed, "local event") + " after them");
  for (const auto& m : r.merged) out.note("merged " + m);
}

int run_pull(Context& ctx, const SyncOptions& o) {
  const SyncRequest request = sync_request(ctx, o);
  const SyncResult r = pull_log(ctx.registry(), request);
  if (ctx.out().json()) {
    Json doc = result_json(r);
    doc["unpublished"] = r.unpublished;
    ctx.out().json_document(doc);
  } else {
    print_common(ctx, r);
    if (r.received == 0 && r.refused.empty()) ctx.out().line("up to date with " + r.remote.name);
    if (r.unpublished > 0) {
      ctx.out().note(plural(r.unpublished, "local event") + " not yet on " + r.remote.name +
                     "; 'lastmile push' publishes them");
    }
  }
  return report_refused(ctx, r);
}

Json blobs_json(const std::vector<BlobPushResult>& results) {
  Json list = Json::array();
  for (const auto& b : results) {
    Json versions = Json::array();
    for (const auto& p : b.pushed) {
      versions.push_back({{"ref", p.ref},
                          {"location", p.upload.location},
                          {"files_sent", p.upload.files_sent},
                          {"bytes_sent", p.upload.bytes_sent},
                          {"files_present", p.upload.files_present}});
    }
    list.push_back({{"remote", b.remote.name},
                    {"versions", versions},
                    {"without_bytes", b.without_bytes},
                    {"repaired", b.repaired}});
  }
  return list;
}

void print_blobs(const Context& ctx, const std::vector<BlobPushResult>& results) {
  for (const auto& b : results) {
    if (b.repaired > 0) {
      ctx.out().line("repaired " + plural(static_cast<std::int64_t>(b.repaired), "file") + " on " + b.remote.name);
    }
    if (b.pushed.empty() && b.repaired == 0) {
      ctx.out().line("nothing to upload to " + b.remote.name + ": it has every version whose bytes are here");
    }
    for (const auto& p : b.pushed) {
      ctx.out().line("pushed " + p.ref + " to " + b.remote.name + ": " + p.upload.location + "  (" +
                     human_size(p.upload.bytes_sent) + " sent, " + std::to_string(p.upload.files_present) +
                     " of " + std::to_string(p.upload.files_present + p.upload.files_sent) + " files there already)");
    }
    if (b.without_bytes > 0) {
      ctx.out().note(plural(static_cast<std::int64_t>(b.without_bytes), "version") +
                     " not on " + b.remote.name + " and whose bytes are not on this machine; the machine that "
                     "registered them pushes them");
    }
  }
}

// Uploads the bytes before the log that says where they are.
std::vector<BlobPushResult> push_all_blobs(Context& ctx, const std::vector<Remote>& remotes, bool repair) {
  std::vector<BlobPushResult> results;
  const std::string actor = resolve_actor(ctx.cwd());
  for (const Remote& remote : remotes) {
    Progress progress;
    ProgressBar bar(progress, "pushing to " + remote.name, ctx.out());
    results.push_back(push_blobs(ctx.registry(), remote, actor, &progress, repair));
  }
  return results;
}

int run_push(Context& ctx, const SyncOptions& o) {
  Registry& registry = ctx.registry();
  if (!o.remote.empty()) {
    const Remote named = find_remote(registry.dir(), ctx.cwd(), o.remote);
    if (!named.holds_log()) {
      const auto blobs = push_all_blobs(ctx, {named}, o.repair);
      if (ctx.out().json()) {
        ctx.out().json_document({{"blobs", blobs_json(blobs)}});
      } else {
        print_blobs(ctx, blobs);
        if (!blobs.front().pushed.empty()) {
          ctx.out().note("the log records where the bytes went; 'lastmile push' publishes it");
        }
      }
      return 0;
    }
  }
  SyncRequest request = sync_request(ctx, o);
  // The bytes go up once the log remote answered, so that an unreachable
  // remote leaves this registry as it was.
  std::vector<BlobPushResult> blobs;
  request.before_publish = [&] { blobs = push_all_blobs(ctx, blob_remotes(registry.dir()), o.repair); };
  const SyncResult r = push_log(registry, request);
  if (ctx.out().json()) {
    Json doc = result_json(r);
    doc["blobs"] = blobs_json(blobs);
    ctx.out().json_document(doc);
  } else {
    print_blobs(ctx, blobs);
    print_common(ctx, r);
    if (r.sent > 0) {
      ctx.out().line("pushed " + plural(r.sent, "event") + " to " + r.remote.name + " (" +
                     "refs/lastmile/log " + r.commit.substr(0, 12) + ", head event " +
                     std::to_string(r.head_seq) + ")");
    } else if (r.refused.empty()) {
      ctx.out().line("nothing to push: " + r.remote.name + " has all " + plural(r.head_seq, "event"));
    }
  }
  return report_refused(ctx, r);
}

void add_remote_argument(CLI::App& sub, SyncOptions& o, const std::string& what) {
  sub.add_option("REMOTE", o.remote,
                 what + " (default: the remote called origin, configured or the git repository's)");
}

}  // namespace

Command push_command() {
  auto o = std::make_shared<SyncOptions>();
  return {"push", "upload versions' bytes to the blob remotes, then publish local events to a git remote",
          [o](CLI::App& sub) {
            add_remote_argument(sub, *o, "the log remote, or a blob remote to upload to alone");
            sub.add_flag("--repair", o->repair,
                         "also check the copies the log says each blob remote has (a directory's are "
                         "rehashed) and put back missing or damaged ones");
            sub.footer(
                "\nBytes go first, to every blob remote (file:///PATH, oci://HOST/REPO), skipping what is\n"
                "there already; then the log. A push only ever fast-forwards. When the remote moved, its events are applied here\n"
                "first and the local ones replayed after them; one whose stage moved meanwhile is\n"
                "refused (exit 1) and explained. See lastmile-push(1).");
          },
          [o](Context& ctx) { return run_push(ctx, *o); }};
}

Command pull_command() {
  auto o = std::make_shared<SyncOptions>();
  return {"pull", "apply the events a git remote has and this registry lacks",
          [o](CLI::App& sub) {
            add_remote_argument(sub, *o, "the log remote");
            sub.footer("\nA fresh clone: lastmile init && lastmile pull. See lastmile-pull(1).");
          },
          [o](Context& ctx) { return run_pull(ctx, *o); }};
}

}  // namespace lm::cli
