// lastmile annotate REF: change a version's labels, description or owner.

#include "cli/command.hpp"
#include "cli/context.hpp"
#include "cli/views.hpp"
#include "registry/actor.hpp"
#include "registry/annotate.hpp"
#include "registry/core/error.hpp"
#include "registry/metadata.hpp"

namespace lm::cli {

namespace {

struct AnnotateOptions {
  std::string ref;
  std::vector<std::string> labels;
  std::vector<std::string> remove_labels;
  std::optional<std::string> description;
  std::optional<std::string> owner;
};

AnnotateRequest make_request(const AnnotateOptions& o) {
  AnnotateRequest r;
  r.ref = parse_ref(o.ref);
  r.labels = parse_key_values(o.labels, "--label");
  r.remove_labels = o.remove_labels;
  // The same limits as at registration.
  if (o.description) validate_text(*o.description, "--description", 16384);
  if (o.owner) validate_text(*o.owner, "--owner", 256);
  r.description = o.description;
  r.owner = o.owner;
  return r;
}

// What changed, in the form the event records it.
Json changes_json(const AnnotateResult& r) {
  Json changed = Json::object();
  if (!r.labels_set.empty()) changed["labels"] = r.labels_set;
  if (!r.labels_removed.empty()) changed["remove_labels"] = r.labels_removed;
  if (r.description) changed["description"] = *r.description;
  if (r.owner) changed["owner"] = *r.owner;
  return changed;
}

int run_annotate(Context& ctx, const AnnotateOptions& o) {
  AnnotateRequest request = make_request(o);
  Registry& registry = ctx.registry();
  request.actor = resolve_actor(ctx.cwd());
  const AnnotateResult r = annotate(registry, request);
  const Output& out = ctx.out();
  if (out.json()) {
    out.json_document({{"name", r.version.name},
                       {"version", r.version.version},
                       {"recorded", r.recorded},
                       {"changed", changes_json(r)},
                       {"labels", r.labels},
                       {"actor", request.actor}});
    return 0;
  }
  // The values are the user's text: shown with escapes, they can neither
  // break the line nor drive the terminal.
  out.line(r.recorded ? "annotated " + r.version.ref() + ": " + printable(describe_annotation(changes_json(r)))
                      : r.version.ref() + " already reads that way; nothing recorded");
  return 0;
}

}  // namespace

Command annotate_command() {
  auto o = std::make_shared<AnnotateOptions>();
  return {"annotate", "change a version's labels, description or owner (its bytes and metrics never change)",
          [o](CLI::App& sub) {
            sub.add_option("REF", o->ref, "the version, e.g. churn@1.4.0 or churn@production")->required();
            sub.add_option("--label", o->labels, "set a label (repeatable)")->type_name("K=V");
            sub.add_option("--remove-label", o->remove_labels, "remove a label (repeatable)")->type_name("K");
            sub.add_option("--description", o->description, "a new description")->type_name("TEXT");
            sub.add_option("--owner", o->owner, "a new owner")->type_name("WHO");
            sub.footer(
                "\nExamples:\n"
                "  lastmile annotate churn@1.4.0 --label eval=passed --label reviewer=grace\n"
                "  lastmile annotate churn@production --owner ml-platform --remove-label wip\n"
                "\nEach change is an event in the log (lastmile history); asking for what is\n"
                "already there records nothing.");
          },
          [o](Context& ctx) { return run_annotate(ctx, *o); }};
}

}  // namespace lm::cli
