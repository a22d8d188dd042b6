// lastmile history [NAME]: the event log, newest first.
// lastmile audit [NAME]: the same trail; 'audit verify' checks its hash chain.

#include "cli/command.hpp"
#include "cli/context.hpp"
#include "cli/views.hpp"
#include "registry/metadata.hpp"
#include "registry/core/error.hpp"
#include "registry/events.hpp"
#include "registry/names.hpp"
#include "registry/query.hpp"
#include "registry/sync.hpp"

namespace lm::cli {

namespace {

struct HistoryOptions {
  std::string name;
  int limit = 0;
  std::string at;
};

std::string with_reason(std::string text, const Json& p) {
  const std::string reason = p.value("reason", "");
  return reason.empty() ? text : text + ": " + reason;
}

std::string gate_verdict(const Json& p) {
  const Json gates = p.value("gates", Json::array());
  std::size_t failed = 0;
  std::string first;
  for (const auto& g : gates) {
    if (g.value("passed", false)) continue;
    if (++failed == 1) first = g.value("gate", "") + " (" + g.value("message", "") + ")";
  }
  const std::string stage = p.value("stage", "");
  if (failed == 0) {
    return stage + ": passed " + std::to_string(gates.size()) + (gates.size() == 1 ? " gate" : " gates");
  }
  return stage + ": FAILED " + first + (failed > 1 ? " and " + std::to_string(failed - 1) + " more" : "");
}

// "drift in 2 of 3 columns of traffic.csv" / "no drift in ...".
std::string drift_verdict(const Json& p) {
  const Json columns = p.value("columns", Json::array());
  std::size_t drifted = 0;
  for (const auto& c : columns) drifted += c.value("drifted", false) ? 1 : 0;
  const std::string env = p.value("environment", Json()).is_string() ? " from " + p.at("environment").get<std::string>() : "";
  return (p.value("drifted", false) ? "DRIFT in " : "no drift: ") + std::to_string(drifted) + " of " +
         std::to_string(columns.size()) + " columns of " + p.value("data", "") + env;
}

// "accuracy=0.87 observed 2026-12-01T00:00:00Z".
std::string feedback_values(const Json& p) {
  std::string text;
  const Json metrics = p.value("metrics", Json::object());  // items() must not outlive it
  for (const auto& [key, value] : metrics.items()) {
    text += (text.empty() ? "" : ", ") + key + "=" + (value.is_number() ? format_metric(value.get<double>()) : "?");
  }
  return text + " observed " + p.value("observed_at", "");
}

// One line about what an event did, for the DETAIL column.
std::string describe(const Event& e) {
  const Json& p = e.payload;
  const auto replaced = [&] {
    const Json r = p.value("replaced", Json());
    return r.is_object() ? " (was " + r.value("version", "") + ")" : std::string();
  };
  if (e.kind == "version.registered") {
    const std::string stage = p.value("stage", "");
    return p.value("digest", "") + "  " +
           size_summary(p.value("size", std::uint64_t{0}), p.value("file_count", std::uint64_t{0})) +
           (stage.empty() ? "" : "  into " + stage);
  }
  if (e.kind == "stage.assigned") return with_reason("into " + p.value("stage", "") + replaced(), p);
  if (e.kind == "stage.rolled_back") {
    return with_reason(p.value("stage", "") + " rolled back" + replaced(), p);
  }
  if (e.kind == "approval.granted") {
    const std::string comment = p.value("comment", "");
    return "for " + p.value("stage", "") + (comment.empty() ? "" : ": " + comment);
  }
  if (e.kind == "gate.evaluated") return gate_verdict(p);
  if (e.kind == "artifact.pushed") return "to " + p.value("location", "");
  if (e.kind == "version.annotated") return describe_annotation(p);
  if (e.kind == "deployment.recorded") return "in " + p.value("environment", "");
  if (e.kind == "profile.recorded") {
    const Json columns = p.value("profile", Json::object()).value("columns", Json::array());
    return std::to_string(columns.size()) + " columns of " + p.value("source", "");
  }
  if (e.kind == "drift.measured") return drift_verdict(p);
  if (e.kind == "feedback.recorded") return feedback_values(p);
  return {};
}

int run_history(Context& ctx, const HistoryOptions& o) {
  sql::Db& db = ctx.registry().db();
  if (!o.name.empty()) {
    validate_name(o.name);
    require_model(db, o.name);
  }
  const AsOf at = o.at.empty() ? AsOf{} : as_of(db, o.at);
  const auto events = load_events(db, o.name, static_cast<std::size_t>(o.limit), at.seq);
  const Output& out = ctx.out();
  if (out.json()) {
    Json list = Json::array();
    for (const auto& e : events) list.push_back(event_json(e));
    out.json_document({{"events", list}});
    return 0;
  }
  if (events.empty()) {
    out.note(at.past() ? "no events up to " + at.time : "the event log is empty");
    return 0;
  }
  std::vector<std::vector<std::string>> rows{{"SEQ", "TIME", "EVENT", "SUBJECT", "BY", "DETAIL"}};
  for (const auto& e : events) {
    rows.push_back({std::to_string(e.seq), e.time, e.kind, e.subject, e.actor, printable(describe(e))});
  }
  out.line(format_table(rows, out));
  return 0;
}

void add_history_options(CLI::App& sub, HistoryOptions& o) {
  sub.add_option("NAME", o.name, "only events about this model");
  sub.add_option("-n,--limit", o.limit, "show at most N events")
      ->type_name("N")
      ->check(CLI::Range(1, 1'000'000'000));
  sub.add_option("--at", o.at, "only events up to TIME (RFC 3339, or a date)")->type_name("TIME");
}

struct AuditOptions {
  HistoryOptions history;
  CLI::App* verify = nullptr;
};

// The chain's head as each log remote held it when last seen, kept in git
// outside the database: a log rewritten inside the database, even with
// every hash recomputed, no longer holds those events.
std::vector<std::string> anchor_problems(Registry& registry, Json& anchors) {
  std::vector<std::string> problems;
  anchors = Json::array();
  for (const auto& a : published_anchors(registry)) {
    std::optional<Event> event;
    try {
      event = load_event(registry.db(), a.seq);
    } catch (const Error&) {
      // Its payload no longer reads: not the event published (the chain
      // check names what is wrong with it).
    }
    const bool ok = event && event->id == a.id;
    anchors.push_back({{"remote", a.remote}, {"seq", a.seq}, {"id", a.id}, {"commit", a.commit}, {"ok", ok}});
    if (!ok) {
      problems.push_back("event " + std::to_string(a.seq) + " is not the one published to " + quote(a.remote) +
                         " (commit " + a.commit.substr(0, 12) + " says " + a.id.substr(0, 16) + "…)");
    }
  }
  return problems;
}

int run_audit_verify(Context& ctx) {
  const ChainCheck chain = verify_chain(ctx.registry().db());
  Json anchors;
  const std::vector<std::string> anchor_issues = anchor_problems(ctx.registry(), anchors);
  const Output& out = ctx.out();
  if (out.json()) {
    out.json_document({{"ok", chain.ok},
                       {"events", chain.events},
                       {"head", chain.head},
                       {"first_bad_seq", chain.ok ? Json() : Json(chain.first_bad_seq)},
                       {"problem", chain.problem},
                       {"anchors", anchors}});
  } else if (chain.ok) {
    out.line("audit chain ok: " + std::to_string(chain.events) + " events, head " +
             (chain.head.empty() ? "(empty log)" : chain.head));
    for (const auto& a : anchors) {
      if (a.at("ok").get<bool>()) {
        out.line("  matches what " + a.at("remote").get<std::string>() + " was last seen holding (event " +
                 std::to_string(a.at("seq").get<std::int64_t>()) + ")");
      }
    }
  }
  if (!chain.ok) {
    throw Error(ExitCode::check_failed,
                "the audit chain is broken at event " + std::to_string(chain.first_bad_seq) + ": " +
                    chain.problem,
                std::to_string(chain.first_bad_seq - 1) +
                    " events before it are intact; the log was changed outside lastmile");
  }
  if (!anchor_issues.empty()) {
    throw Error(ExitCode::check_failed, "the log was rewritten after it was published: " + anchor_issues.front(),
                "the remote still has the published log: compare with 'lastmile pull' in a fresh clone");
  }
  return 0;
}

}  // namespace

Command history_command() {
  auto o = std::make_shared<HistoryOptions>();
  return {"history", "show the event log (who did what, when), newest first",
          [o](CLI::App& sub) { add_history_options(sub, *o); },
          [o](Context& ctx) { return run_history(ctx, *o); }};
}

Command audit_command() {
  auto o = std::make_shared<AuditOptions>();
  return {"audit",
          "the audit trail: every registration, gate verdict, approval, promotion and rollback; "
          "'audit verify' checks its hash chain",
          [o](CLI::App& sub) {
            add_history_options(sub, o->history);
            o->verify = sub.add_subcommand(
                "verify", "recompute the hash chain and name the first broken link");
            o->verify->fallthrough();
          },
          [o](Context& ctx) {
            if (!o->verify->parsed()) return run_history(ctx, o->history);
            // The chain is one: a name, a limit or a time would be ignored.
            if (!o->history.name.empty() || o->history.limit != 0 || !o->history.at.empty()) {
              throw Error(ExitCode::usage, "'audit verify' checks the whole chain; it takes no NAME, --limit or --at",
                          "a model called 'verify' is listed with 'lastmile audit -- verify'");
            }
            return run_audit_verify(ctx);
          }};
}

}  // namespace lm::cli
