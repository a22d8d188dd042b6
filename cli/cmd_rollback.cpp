// lastmile rollback NAME --stage S --reason TEXT [--to VERSION]: put back
// what the stage held before.

#include "cli/command.hpp"
#include "cli/context.hpp"
#include "cli/tagging.hpp"
#include "registry/actor.hpp"
#include "registry/core/error.hpp"
#include "registry/metadata.hpp"
#include "registry/promote.hpp"

namespace lm::cli {

namespace {

struct RollbackOptions {
  std::string name;
  std::string stage;
  std::string reason;
  std::string to;
  TagFlags tags;
};

// With tags on, the restored version's commit must be here: checked when
// the version is decided, before anything is written.
void check_rollback_taggable(Context& ctx, RollbackRequest& request) {
  require_tag_repository(ctx.cwd(), quote(request.name));
  request.before_write = [&ctx, stage = request.stage](const VersionRecord& v) {
    require_taggable(ctx.cwd(), v.git ? v.git->commit : std::string(), quote(v.ref()),
                     promotion_tag_name(v.name, stage, 1));
  };
}

int run_rollback(Context& ctx, const RollbackOptions& o) {
  RollbackRequest request;
  validate_name(o.name);
  request.name = o.name;
  request.stage = o.stage;
  validate_text(o.reason, "--reason", 4096);
  request.reason = o.reason;
  if (!o.to.empty()) request.to = parse_semver(o.to);
  const Policy& policy = ctx.valid_policy();
  Registry& registry = ctx.registry();
  request.actor = resolve_actor(ctx.cwd());
  const bool tagging = tags_wanted(ctx, o.tags);
  if (tagging) check_rollback_taggable(ctx, request);
  const RollbackResult r = rollback(registry, policy, request);
  std::optional<TagOutcome> tag;
  std::optional<Error> tag_error;
  if (tagging) {
    try {
      tag = tag_promotion(ctx.cwd(), r.restored, o.stage, request.actor,
                          stage_still_holds(registry, r.restored, o.stage));
    } catch (const Error& e) {
      tag_error = tag_failed_after(e, "rolled " + o.stage + " back to " + r.restored.ref());
    }
  }
  const Output& out = ctx.out();
  if (out.json()) {
    Json doc = {{"name", o.name},
                {"stage", o.stage},
                {"version", r.restored.version},
                {"digest", r.restored.digest},
                {"replaced", r.replaced.version},
                {"reason", o.reason}};
    if (tag) doc["tag"] = tag_json(*tag);
    out.json_document(doc);
  } else {
    out.line("rolled " + o.stage + " back to " + r.restored.ref() + " (was " + r.replaced.version + ")");
  }
  if (tag) print_tag(ctx, *tag);
  if (tag_error) throw *tag_error;
  return 0;
}

}  // namespace

Command rollback_command() {
  auto o = std::make_shared<RollbackOptions>();
  return {"rollback",
          "put back the version a stage held before (no gates: the way out of a bad release)",
          [o](CLI::App& sub) {
            sub.add_option("NAME", o->name, "the model, e.g. churn")->required();
            sub.add_option("--stage", o->stage, "the stage to roll back")
                ->type_name("S")
                ->required();
            sub.add_option("--reason", o->reason, "why; required, kept in the audit trail")
                ->type_name("TEXT")
                ->required();
            sub.add_option("--to", o->to,
                           "the version to restore (default: the one it held before); it must "
                           "have been in the stage")
                ->type_name("VERSION");
            add_tag_flags(sub, o->tags, "rollback");
          },
          [o](Context& ctx) { return run_rollback(ctx, *o); }};
}

}  // namespace lm::cli
