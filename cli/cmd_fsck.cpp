// lastmile fsck [--rebuild]: check the query tables against the event log,
// or rebuild them from it.

#include "cli/command.hpp"
#include "cli/context.hpp"
#include "registry/core/error.hpp"
#include "registry/events.hpp"
#include "registry/log_check.hpp"
#include "registry/projection.hpp"

namespace lm::cli {

namespace {

struct FsckOptions {
  bool rebuild = false;
};

int run_rebuild(Context& ctx) {
  Registry& registry = ctx.registry();
  registry.require_writable();
  sql::Db& db = registry.db();
  const ChainCheck chain = verify_chain(db);
  if (!chain.ok) {
    throw Error(ExitCode::check_failed,
                "not rebuilding: the audit chain is broken at event " + std::to_string(chain.first_bad_seq) + ": " +
                    chain.problem,
                "the tables are rebuilt from the log only while the log itself is intact");
  }
  sql::Transaction txn(db);
  const std::int64_t events = rebuild_tables(db);
  txn.commit();
  if (ctx.out().json()) {
    ctx.out().json_document({{"rebuilt", true}, {"events", events}});
  } else {
    ctx.out().line("rebuilt the tables from " + std::to_string(events) + " events");
  }
  return 0;
}

int run_check(Context& ctx) {
  const auto differences = compare_tables_with_log(ctx.registry().db());
  if (ctx.out().json()) {
    Json list = Json::array();
    for (const auto& d : differences) list.push_back({{"subject", d.subject}, {"message", d.message}});
    ctx.out().json_document({{"ok", differences.empty()}, {"differences", list}});
  } else if (differences.empty()) {
    ctx.out().line("tables match the log");
  }
  if (differences.empty()) return 0;
  for (const auto& d : differences) ctx.out().warn(d.subject + ": " + d.message);
  throw Error(ExitCode::check_failed,
              std::to_string(differences.size()) + " table rows differ from what the log says",
              "'lastmile fsck --rebuild' rebuilds the tables from the log");
}

}  // namespace

Command fsck_command() {
  auto o = std::make_shared<FsckOptions>();
  return {"fsck", "check the registry's tables against its event log, or rebuild them from it",
          [o](CLI::App& sub) {
            sub.add_flag("--rebuild", o->rebuild,
                         "empty the tables and replay the whole log into them (one transaction)");
          },
          [o](Context& ctx) { return o->rebuild ? run_rebuild(ctx) : run_check(ctx); }};
}

}  // namespace lm::cli
