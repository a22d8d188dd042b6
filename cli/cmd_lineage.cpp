// lastmile lineage REF: where a version came from, or what was made from it.

#include "cli/command.hpp"
#include "cli/context.hpp"
#include "registry/lineage.hpp"
#include "registry/names.hpp"

namespace lm::cli {

namespace {

struct LineageOptions {
  std::string ref;
  bool upstream = false;
  bool downstream = false;
  int depth = 1'000'000;
  std::string format = "text";
};

int run_lineage(Context& ctx, const LineageOptions& o) {
  const Ref ref = parse_ref(o.ref);
  sql::Db& db = ctx.registry().db();
  const VersionRecord root = resolve(db, ref);
  const Direction direction = o.downstream ? Direction::downstream : Direction::upstream;
  const LineageGraph graph = walk_lineage(db, root, direction, o.depth);
  const std::string format = ctx.out().json() ? "json" : o.format;
  if (format == "json") {
    ctx.out().json_document(lineage_json(graph));
  } else if (format == "dot") {
    ctx.out().line(lineage_dot(graph));
  } else if (format == "mermaid") {
    ctx.out().line(lineage_mermaid(graph));
  } else {
    ctx.out().line(lineage_text(graph));
  }
  return 0;
}

}  // namespace

Command lineage_command() {
  auto o = std::make_shared<LineageOptions>();
  return {"lineage",
          "show where a version came from (--upstream, the default) or what was made from it "
          "(--downstream)",
          [o](CLI::App& sub) {
            sub.add_option("REF", o->ref, "the version, e.g. churn@1.4.0 or customers@2.0.0")
                ->required();
            auto* up = sub.add_flag("--upstream", o->upstream,
                                    "its inputs and parents, and theirs (the default)");
            sub.add_flag("--downstream", o->downstream,
                         "the versions made from it, and from those")
                ->excludes(up);
            sub.add_option("--depth", o->depth, "follow at most N links (default: all)")
                ->type_name("N")
                ->check(CLI::Range(0, 1'000'000));
            sub.add_option("--format", o->format, "text (default), json, dot or mermaid")
                ->type_name("FORMAT")
                ->check(CLI::IsMember({"text", "json", "dot", "mermaid"}));
          },
          [o](Context& ctx) { return run_lineage(ctx, *o); }};
}

}  // namespace lm::cli
