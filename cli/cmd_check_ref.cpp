// lastmile check-ref TAG: what a pushed git tag means (a registration or a
// promotion, which model, version and stage), for the CI job it triggered.

#include "cli/command.hpp"
#include "cli/context.hpp"
#include "cli/views.hpp"
#include "registry/core/clock.hpp"
#include "registry/core/error.hpp"
#include "registry/tags.hpp"

namespace lm::cli {

namespace {

struct CheckRefOptions {
  std::string tag;
};

Json nullable(const std::string& text) { return text.empty() ? Json() : Json(text); }

Json meaning_json(const RefMeaning& m) {
  return {{"tag", m.record.name},
          {"event", event_name(m.tag.event)},
          {"name", m.tag.name},
          {"version", nullable(m.version)},
          {"version_from", nullable(m.version_from)},
          {"stage", nullable(m.tag.stage)},
          {"counter", m.tag.counter ? Json(*m.tag.counter) : Json()},
          {"commit", m.record.commit},
          {"annotated", m.record.annotated},
          {"tagger", nullable(m.record.tagger)},
          {"time", m.record.annotated ? Json(format_rfc3339(m.record.time * 1'000'000'000)) : Json()},
          {"digest", nullable(m.digest)},
          {"in_registry", m.in_registry}};
}

// "promotion of churn@1.4.0 to production"
std::string summary(const RefMeaning& m) {
  const std::string ref = m.tag.name + (m.version.empty() ? "" : "@" + m.version);
  switch (m.tag.event) {
    case ModelTag::Event::registration:
      return "registration of " + ref;
    case ModelTag::Event::deregistration:
      return "deregistration of " + ref;
    case ModelTag::Event::promotion:
      return "promotion of " + ref + " to " + m.tag.stage;
    case ModelTag::Event::unassignment:
      return "removal of " + ref + " from " + m.tag.stage;
    case ModelTag::Event::deprecation:
      return "deprecation of " + ref;
  }
  return ref;
}

void print_text(const Output& out, const RefMeaning& m) {
  out.line(m.record.name + ": " + summary(m));
  const auto row = [&out](const std::string& key, const std::string& value) {
    if (!value.empty()) out.line("  " + key + std::string(10 - key.size(), ' ') + value);
  };
  row("version", m.version.empty() ? "unknown (no annotation or registration tag says)"
                                   : m.version + " (from the " + m.version_from + ")");
  row("commit", m.record.commit);
  row("digest", m.digest);
  if (m.record.annotated) row("tagged", m.record.tagger + " at " + format_rfc3339(m.record.time * 1'000'000'000));
  row("registry", m.in_registry ? "holds it" : "does not hold it here");
}

// In a GitHub Actions step, the meaning becomes step outputs
// (steps.<id>.outputs.event, ...). Every value is a checked name, version,
// stage, hex id or digest: none can hold a newline.
void write_step_outputs(const Context& ctx, const RefMeaning& m) {
  append_to_github_file(ctx, "GITHUB_OUTPUT",
                        std::string("event=") + event_name(m.tag.event) + "\nname=" + m.tag.name +
                            "\nversion=" + m.version + "\nstage=" + m.tag.stage + "\ncommit=" +
                            m.record.commit + "\ndigest=" + m.digest + "\n");
}

int run_check_ref(Context& ctx, const CheckRefOptions& o) {
  sql::Db* db = nullptr;
  try {
    db = &ctx.registry().db();
  } catch (const Error& e) {
    if (e.code() != ExitCode::not_found) throw;  // no registry: the tag alone answers
  }
  const RefMeaning m = check_ref(ctx.cwd(), o.tag, db);
  if (!m.record.annotated) {
    ctx.out().warn(quote(m.record.name) + " is a lightweight tag: GTO ignores it, and it carries no "
                   "version or digest to check");
  }
  write_step_outputs(ctx, m);
  if (ctx.out().json()) {
    ctx.out().json_document(meaning_json(m));
  } else {
    print_text(ctx.out(), m);
  }
  return 0;
}

}  // namespace

Command check_ref_command() {
  auto o = std::make_shared<CheckRefOptions>();
  return {"check-ref",
          "tell what a model tag means (registration or promotion; model, version, stage), for CI",
          [o](CLI::App& sub) {
            sub.add_option("TAG", o->tag,
                           "the tag, e.g. churn@v1.4.0, churn#production#3 or "
                           "refs/tags/churn#production#3")
                ->required();
            sub.footer(
                "\nExamples:\n"
                "  lastmile check-ref churn#production#3\n"
                "  lastmile check-ref \"$GITHUB_REF\" --json   # in a job a tag push started\n"
                "\nTags are made with git: {tags: true} in lastmile.yaml or --tag; see lastmile-check-ref(1).");
          },
          [o](Context& ctx) { return run_check_ref(ctx, *o); }};
}

}  // namespace lm::cli
