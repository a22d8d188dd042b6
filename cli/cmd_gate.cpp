// lastmile gate REF --stage S: evaluate a stage's gates without moving it.
// lastmile promote REF --to S: evaluate them and, when all pass, move it.

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "cli/command.hpp"
#include "cli/context.hpp"
#include "cli/tagging.hpp"
#include "cli/views.hpp"
#include "registry/actor.hpp"
#include "registry/core/error.hpp"
#include "registry/core/files.hpp"
#include "registry/metadata.hpp"
#include "registry/promote.hpp"
#include "registry/report.hpp"

namespace lm::cli {

namespace {

struct ReportOptions {
  std::string format = "text";
  std::string output;
};

void add_report_options(CLI::App& sub, ReportOptions& o) {
  sub.add_option("--format", o.format,
                 "report as text (default), json, junit (XML, one testcase per gate), github "
                 "(workflow commands, and a table in $GITHUB_STEP_SUMMARY) or md")
      ->type_name("FORMAT")
      ->check(CLI::IsMember({"text", "json", "junit", "github", "md"}));
  sub.add_option("--output", o.output,
                 "write the report to FILE; stdout then gets the text report")
      ->type_name("FILE");
}

// The JSON report: the evaluation and what the command adds to it.
Json report_json(const Evaluation& e, const Json& extra) {
  Json doc = evaluation_json(e);
  doc.update(extra);
  return doc;
}

std::string render(const Evaluation& e, ReportFormat format, const Json& extra) {
  switch (format) {
    case ReportFormat::text:
      return report_text(e);
    case ReportFormat::json:
      return report_json(e, extra).dump(2);
    case ReportFormat::junit:
      return report_junit(e);
    case ReportFormat::github:
      return report_github(e);
    case ReportFormat::md:
      return report_markdown(e);
  }
  return {};
}

// A GitHub job summary collects every step's Markdown: append, never replace.
void append_step_summary(const Context& ctx, const Evaluation& e) {
  append_to_github_file(ctx, "GITHUB_STEP_SUMMARY", report_markdown(e) + "\n\n");
}

// Prints the report where the options say: stdout, or FILE with the text
// report on stdout. Returns whether stdout got a document (JSON or XML)
// that no further line may follow.
bool emit_report(Context& ctx, const ReportOptions& o, const Evaluation& e, const Json& extra) {
  const ReportFormat format =
      ctx.out().json() && o.output.empty() ? ReportFormat::json : parse_report_format(o.format);
  if (format == ReportFormat::github) append_step_summary(ctx, e);
  if (!o.output.empty()) {
    write_file_atomic(ctx.cwd() / o.output, render(e, format, extra) + "\n");
    if (ctx.out().json()) {
      ctx.out().json_document(report_json(e, extra));
      return true;
    }
    if (!ctx.out().quiet()) ctx.out().line(report_text(e));
    return false;
  }
  if (format == ReportFormat::json) {
    ctx.out().json_document(report_json(e, extra));
  } else if (!ctx.out().quiet() || format != ReportFormat::text) {
    ctx.out().line(render(e, format, extra));
  }
  return format == ReportFormat::json || format == ReportFormat::junit;
}

// Checks that --output can be written before anything is evaluated or
// moved: a promotion must not succeed and then fail over its report.
void prepare_output(const Context& ctx, const ReportOptions& o) {
  if (o.output.empty()) return;
  const std::filesystem::path output = ctx.cwd() / o.output;
  refuse_git_directory(output, "the report to " + quote(o.output));
  // CI jobs name a report such as reports/junit.xml before anything has
  // created reports/.
  make_directories(output.parent_path());
  std::error_code ec;
  if (std::filesystem::is_directory(output, ec)) {
    throw Error(ExitCode::usage, "cannot write the report to " + quote(o.output) + ": it is a directory");
  }
  if (::access(output.parent_path().c_str(), W_OK) != 0) {
    throw system_error(errno, "cannot write the report to " + quote(o.output));
  }
}

[[noreturn]] void fail_gates(const Evaluation& e, const std::string& what) {
  const GateOutcome* first = e.first_failure();
  const std::size_t more = e.failures() - 1;
  std::string hint = more ? std::to_string(more) + " more gate" + (more == 1 ? "" : "s") +
                                " failed; the report lists each"
                          : std::string();
  // Missing approvals are the one failure a person fixes with a command.
  if (first->kind == "approvals" && !more) {
    hint = "an approver runs 'lastmile approve " + e.version.ref() + " --stage " + e.stage + "'";
  }
  throw Error(ExitCode::check_failed,
              what + ": gate " + quote(first->gate) + " failed (" + first->message + ")", hint);
}

GateSetting gate_setting(Context& ctx) { return {ctx.project_root()}; }

struct GateOptions {
  std::string ref;
  std::string stage;
  ReportOptions report;
};

int run_gate(Context& ctx, const GateOptions& o) {
  GateRequest request;
  request.ref = parse_ref(o.ref);
  request.stage = o.stage;
  const Policy& policy = ctx.valid_policy();
  Registry& registry = ctx.registry();
  request.actor = resolve_actor(ctx.cwd());
  request.setting = gate_setting(ctx);
  prepare_output(ctx, o.report);
  try {
    registry.require_writable();
  } catch (const Error& e) {
    if (e.code() != ExitCode::permission) throw;
    ctx.out().warn(std::string(e.what()) + "; the evaluation is not recorded");
    request.record = false;
  }
  const Evaluation e = evaluate_for_stage(registry, policy, request);
  emit_report(ctx, o.report, e, Json::object());
  if (!e.passed()) fail_gates(e, quote(e.version.ref()) + " does not pass the gates of " + quote(e.stage));
  return 0;
}

struct PromoteOptions {
  std::string ref;
  std::string stage;
  std::string reason;
  bool dry_run = false;
  ReportOptions report;
  TagFlags tags;
};

Json promotion_json(const PromoteResult& r, bool dry_run) {
  // What the move replaced, or with --dry-run would replace.
  Json replaced;
  const bool would_move = dry_run && r.evaluation.passed() && !r.already_there;
  if (r.holder && (r.promoted || would_move)) replaced = r.holder->version;
  return {{"promoted", r.promoted},
          {"already_there", r.already_there},
          {"dry_run", dry_run},
          {"stage_moved", r.stage_moved},
          {"replaced", replaced}};
}

// Re-promoting the holder does nothing, but CI still gets the report it
// asked for, and a JSON reader the document.
int report_already_there(Context& ctx, const PromoteOptions& o, const PromoteResult& r) {
  const Evaluation& e = r.evaluation;
  const Json extra = promotion_json(r, o.dry_run);
  const ReportFormat format = parse_report_format(o.report.format);
  if (!o.report.output.empty()) {
    write_file_atomic(ctx.cwd() / o.report.output, render(e, format, extra) + "\n");
  }
  if (ctx.out().json() || (format == ReportFormat::json && o.report.output.empty())) {
    ctx.out().json_document(report_json(e, extra));
  } else {
    ctx.out().line(quote(e.stage) + " holds " + e.version.ref() + " already (since " +
                   r.holder->time + "); nothing to do");
  }
  return 0;
}

int run_promote(Context& ctx, const PromoteOptions& o) {
  PromoteRequest request;
  request.ref = parse_ref(o.ref);
  request.stage = o.stage;
  validate_text(o.reason, "--reason", 4096);
  request.reason = o.reason;
  request.dry_run = o.dry_run;
  const Policy& policy = ctx.valid_policy();
  Registry& registry = ctx.registry();
  request.actor = resolve_actor(ctx.cwd());
  request.setting = gate_setting(ctx);
  prepare_output(ctx, o.report);
  const bool tagging = !o.dry_run && tags_wanted(ctx, o.tags);
  if (tagging) {
    const VersionRecord v = resolve(registry.db(), request.ref);
    require_taggable(ctx.cwd(), v.git ? v.git->commit : std::string(), quote(v.ref()),
                     promotion_tag_name(v.name, request.stage, 1));
  }
  const PromoteResult r = promote(registry, policy, request);
  const Evaluation& e = r.evaluation;
  const std::string ref = e.version.ref();
  if (r.already_there) return report_already_there(ctx, o, r);
  std::optional<TagOutcome> tag;
  std::optional<Error> tag_error;
  if (tagging && r.promoted) {
    try {
      tag = tag_promotion(ctx.cwd(), e.version, e.stage, request.actor,
                          stage_still_holds(registry, e.version, e.stage));
    } catch (const Error& error) {
      tag_error = tag_failed_after(error, "promoted " + ref + " to " + e.stage);
    }
  }
  Json extra = promotion_json(r, o.dry_run);
  if (tag) extra["tag"] = tag_json(*tag);
  bool document = false;
  try {
    document = emit_report(ctx, o.report, e, extra);
  } catch (const Error& error) {
    if (!r.promoted) throw;
    // The stage has moved; failing now would tell CI the opposite.
    ctx.out().warn(std::string(error.what()) + "; the promotion itself succeeded");
  }
  const std::string what = "cannot promote " + quote(ref) + " to " + quote(e.stage);
  if (!e.passed()) fail_gates(e, o.dry_run ? "dry run: " + what : what);
  if (r.stage_moved) {
    throw Error(ExitCode::check_failed,
                what + ": the stage moved while its gates ran; it now holds " +
                    (r.now_holder ? describe_move(*r.now_holder) : std::string("nothing")),
                "run the promotion again to evaluate the gates against the new holder");
  }
  if (tag_error) throw *tag_error;
  const std::string replacing =
      r.holder ? " (replacing " + r.holder->model + "@" + r.holder->version + ")" : "";
  if (document) return 0;
  if (o.dry_run) {
    ctx.out().line("dry run: " + ref + " would be promoted to " + e.stage + replacing +
                   "; nothing was changed");
  } else {
    ctx.out().line("promoted " + ref + " to " + e.stage + replacing);
  }
  if (tag) print_tag(ctx, *tag);
  return 0;
}

}  // namespace

Command gate_command() {
  auto o = std::make_shared<GateOptions>();
  return {"gate",
          "evaluate a stage's gates for a version without moving it; exit 1 when one fails",
          [o](CLI::App& sub) {
            sub.add_option("REF", o->ref, "the version, e.g. churn@1.4.0 or churn@staging")
                ->required();
            sub.add_option("--stage", o->stage, "the stage whose gates to evaluate")
                ->type_name("S")
                ->required();
            add_report_options(sub, o->report);
          },
          [o](Context& ctx) { return run_gate(ctx, *o); }};
}

Command promote_command() {
  auto o = std::make_shared<PromoteOptions>();
  return {"promote",
          "move a version into a stage when every gate passes, recording what it replaced",
          [o](CLI::App& sub) {
            sub.add_option("REF", o->ref, "the version, e.g. churn@1.4.0 or churn@staging")
                ->required();
            sub.add_option("--to", o->stage, "the stage to move it into")
                ->type_name("S")
                ->required();
            sub.add_option("--reason", o->reason, "why, kept in the audit trail")
                ->type_name("TEXT");
            sub.add_flag("--dry-run", o->dry_run,
                         "evaluate the gates and say what would happen; change nothing");
            add_report_options(sub, o->report);
            add_tag_flags(sub, o->tags, "promotion");
          },
          [o](Context& ctx) { return run_promote(ctx, *o); }};
}

}  // namespace lm::cli
