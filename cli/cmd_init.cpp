// lastmile init: create the registry.

#include "cli/command.hpp"
#include "cli/context.hpp"
#include "registry/core/files.hpp"
#include "registry/policy.hpp"

namespace lm::cli {

namespace {

// Writes a commented lastmile.yaml equivalent to the default policy, unless
// the project has one. A convenience: when it cannot be written, init
// warns and goes on. Returns whether it wrote it.
bool write_example_policy(const Context& ctx) {
  const std::filesystem::path path = ctx.policy_path();
  try {
    if (lstat_path(path)) return false;
    write_file_atomic(path, example_policy());
    return true;
  } catch (const Error& e) {
    ctx.out().warn(std::string("no example policy written: ") + e.what());
    return false;
  }
}

int run_init(Context& ctx) {
  const auto result = Registry::init(ctx.location(), ctx.lock_timeout());
  const bool wrote_policy = write_example_policy(ctx);
  const std::string dir = result.dir.string();
  std::string repaired;
  for (const auto& part : result.repaired) repaired += (repaired.empty() ? "" : ", ") + part;
  if (ctx.out().json()) {
    ctx.out().json_document({{"registry", dir},
                             {"created", result.created},
                             {"repaired", result.repaired},
                             {"policy", ctx.policy_path().string()},
                             {"policy_created", wrote_policy}});
  } else if (result.created) {
    ctx.out().line("initialized empty lastmile registry in " + dir);
  } else if (!repaired.empty()) {
    ctx.out().line("registry already exists in " + dir + "; recreated missing " + repaired);
  } else {
    ctx.out().line("registry already exists in " + dir + (wrote_policy ? "" : "; nothing changed"));
  }
  if (wrote_policy && !ctx.out().json()) {
    ctx.out().line("wrote an example policy to " + ctx.policy_path().string() +
                   " (the default stages, gates commented out)");
  }
  return 0;
}

}  // namespace

Command init_command() {
  return {"init", "create the registry (.lastmile at the top of the git work tree)",
          [](CLI::App&) {}, run_init};
}

}  // namespace lm::cli
