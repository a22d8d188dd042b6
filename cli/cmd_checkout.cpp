// lastmile checkout REF --to DIR: materialise a version's files, verified.

#include "cli/command.hpp"
#include "cli/context.hpp"
#include "cli/progress.hpp"
#include "cli/views.hpp"
#include "registry/checkout.hpp"
#include "registry/remotes.hpp"

namespace lm::cli {

namespace {

struct CheckoutOptions {
  std::string ref;
  std::string to;
};

int run_checkout(Context& ctx, const CheckoutOptions& o) {
  const Ref ref = parse_ref(o.ref);
  const std::filesystem::path to =
      std::filesystem::path(o.to).is_absolute() ? std::filesystem::path(o.to) : ctx.cwd() / o.to;
  Progress progress;
  CheckoutResult result;
  {
    ProgressBar bar(progress, "checking out", ctx.out());
    result = checkout(ctx.registry(), ref, to, &progress, blob_remotes(ctx.registry().dir()));
  }
  const Output& out = ctx.out();
  if (out.json()) {
    Json doc = version_json(result.version);
    doc["to"] = result.dir.string();
    doc["files_written"] = result.files;
    doc["bytes_written"] = result.bytes;
    out.json_document(doc);
  } else {
    out.line("checked out " + out.bold(result.version.ref()) + " into " + o.to + "  (" +
             size_summary(result.bytes, result.files) + ", verified)");
  }
  return 0;
}

}  // namespace

Command checkout_command() {
  auto o = std::make_shared<CheckoutOptions>();
  return {"checkout", "write a version's files into a new directory, verifying each hash",
          [o](CLI::App& sub) {
            sub.add_option("REF", o->ref, "the version, e.g. churn@1.4.0")->required();
            sub.footer("\nBytes not on this machine are downloaded from the blob remotes (lastmile remote\n"
                       "list), then from where the log says they were pushed, and checked before use.");
            sub.add_option("--to", o->to, "the directory to create (must be new or empty)")
                ->required()
                ->type_name("DIR");
          },
          [o](Context& ctx) { return run_checkout(ctx, *o); }};
}

}  // namespace lm::cli
