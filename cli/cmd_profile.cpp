// lastmile profile REF [--data FILE]: record the reference profile drift
// compares production data with.

#include <cstdio>

#include "cli/command.hpp"
#include "cli/context.hpp"
#include "deploy/monitor.hpp"
#include "registry/actor.hpp"
#include "registry/metadata.hpp"

namespace lm::cli {

namespace {

struct ProfileOptions {
  std::string ref;
  std::string data;
  std::size_t bins = 10;
  std::size_t top = 20;
};

// Six significant digits: a summary, not the profile.
std::string short_number(double value) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", value);
  return buf;
}

std::string column_line(const deploy::ColumnProfile& c) {
  if (c.kind == deploy::ColumnKind::numeric) {
    return "min " + short_number(c.numeric.min) + ", mean " + short_number(c.numeric.mean) + ", std " +
           short_number(c.numeric.std) + ", max " + short_number(c.numeric.max) + ", " + std::to_string(c.numeric.counts.size()) + " bins";
  }
  return std::to_string(c.categorical.distinct) + " distinct" +
         (c.categorical.top.empty() ? "" : ", most often " + quote(c.categorical.top.front().value));
}

int run_profile(Context& ctx, const ProfileOptions& o) {
  deploy::ProfileRequest request;
  request.ref = parse_ref(o.ref);
  if (!o.data.empty()) {
    const NamedFile file = named_file(ctx, o.data);
    request.data = deploy::DataFile{file.path, file.recorded_as};
  }
  request.options.bins = o.bins;
  request.options.top_k = o.top;
  request.actor = resolve_actor(ctx.cwd());
  const deploy::ProfileRecord r = deploy::record_profile(ctx.registry(), request);
  const Output& out = ctx.out();
  if (out.json()) {
    out.json_document({{"name", r.version.name},
                       {"version", r.version.version},
                       {"data_sha256", r.data_sha256},
                       {"source", r.source},
                       {"profile", deploy::profile_to_json(r.profile)}});
    return 0;
  }
  out.line("profiled " + r.version.ref() + ": " + std::to_string(r.profile.rows) + " rows, " +
           std::to_string(r.profile.columns.size()) + " columns (" +
           (r.source == "stored" ? std::string("its stored file") : quote(r.source)) + ")");
  std::vector<std::vector<std::string>> rows{{"COLUMN", "TYPE", "MISSING", "SUMMARY"}};
  for (const auto& c : r.profile.columns) {
    const double total = static_cast<double>(c.count + c.missing);
    rows.push_back({printable(c.name), std::string(deploy::column_kind_name(c.kind)),
                    total > 0 ? short_number(static_cast<double>(c.missing) / total) : "0",
                    printable(column_line(c))});
  }
  out.line(format_table(rows, out));
  return 0;
}

}  // namespace

Command profile_command() {
  auto o = std::make_shared<ProfileOptions>();
  return {"profile", "record a reference profile of a version's data, for drift",
          [o](CLI::App& sub) {
            sub.add_option("REF", o->ref, "the version, e.g. customers@1.2.0 or churn@1.4.0")->required();
            sub.add_option("--data", o->data,
                           "the CSV or JSON Lines file to profile (default: the version's own file)")
                ->type_name("FILE");
            sub.add_option("--bins", o->bins, "quantile bins per numeric column (default 10)")
                ->type_name("N")
                ->check(CLI::Range(1, 1000));
            sub.add_option("--top", o->top, "categories kept per column, the rest count as other (default 20)")
                ->type_name("K")
                ->check(CLI::Range(1, 10000));
            sub.footer(
                "\nExamples:\n"
                "  lastmile dataset register customers data/train.csv\n"
                "  lastmile profile customers@0.1.0            # its own file\n"
                "  lastmile profile churn@1.4.0 --data data/train.csv\n"
                "\nPer column: type, count, missing share; for numbers min, max, mean, std and\n"
                "quantile bins with counts; for categories the most frequent values. The\n"
                "profile is kept with the version (kilobytes): 'lastmile drift' needs only it.\n"
                "A model without a profile of its own uses that of its --input dataset.");
          },
          [o](Context& ctx) { return run_profile(ctx, *o); }};
}

}  // namespace lm::cli
