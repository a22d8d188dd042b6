// lastmile history [NAME]: the event log, newest first.

#include "cli/command.hpp"
#include "cli/context.hpp"
#include "cli/views.hpp"
#include "registry/core/error.hpp"
#include "registry/events.hpp"
#include "registry/names.hpp"
#include "registry/query.hpp"

namespace lm::cli {

namespace {

struct HistoryOptions {
  std::string name;
  int limit = 0;
  std::string at;
};

std::string describe(const Event& e) {
  if (e.kind == "version.registered") {
    return e.payload.value("digest", "") + "  " +
           size_summary(e.payload.value("size", std::uint64_t{0}),
                        e.payload.value("file_count", std::uint64_t{0}));
  }
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
    rows.push_back({std::to_string(e.seq), e.time, e.kind, e.subject, e.actor, describe(e)});
  }
  out.line(format_table(rows, out));
  return 0;
}

}  // namespace

Command history_command() {
  auto o = std::make_shared<HistoryOptions>();
  return {"history", "show the event log (who did what, when), newest first",
          [o](CLI::App& sub) {
            sub.add_option("NAME", o->name, "only events about this model");
            sub.add_option("-n,--limit", o->limit, "show at most N events")
                ->type_name("N")
                ->check(CLI::Range(1, 1'000'000'000));
            sub.add_option("--at", o->at, "only events up to TIME (RFC 3339, or a date)")
                ->type_name("TIME");
          },
          [o](Context& ctx) { return run_history(ctx, *o); }};
}

}  // namespace lm::cli
