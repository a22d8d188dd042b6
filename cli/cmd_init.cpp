// lastmile init: create the registry.

#include "cli/command.hpp"
#include "cli/context.hpp"

namespace lm::cli {

namespace {

int run_init(Context& ctx) {
  const auto result = Registry::init(ctx.location(), ctx.lock_timeout());
  const std::string dir = result.dir.string();
  std::string repaired;
  for (const auto& part : result.repaired) repaired += (repaired.empty() ? "" : ", ") + part;
  if (ctx.out().json()) {
    ctx.out().json_document(
        {{"registry", dir}, {"created", result.created}, {"repaired", result.repaired}});
  } else if (result.created) {
    ctx.out().line("initialized empty lastmile registry in " + dir);
  } else if (!repaired.empty()) {
    ctx.out().line("registry already exists in " + dir + "; recreated missing " + repaired);
  } else {
    ctx.out().line("registry already exists in " + dir + "; nothing changed");
  }
  return 0;
}

}  // namespace

Command init_command() {
  return {"init", "create the registry (.lastmile at the top of the git work tree)",
          [](CLI::App&) {}, run_init};
}

}  // namespace lm::cli
