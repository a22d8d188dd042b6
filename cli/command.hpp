#pragma once
// One row per command: how it is wired into CLI11 and how it runs.
// Adding a command: cli/cmd_<verb>.cpp, a row in all_commands(), an e2e
// test and a man page.

#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

namespace lm::cli {

class Context;

struct Command {
  std::string name;
  std::string summary;
  // Declares the command's options on its CLI11 subcommand.
  std::function<void(CLI::App&)> setup;
  // Runs after a successful parse; returns the exit status.
  std::function<int(Context&)> run;
};

Command init_command();
Command register_command();
Command dataset_command();
Command annotate_command();
Command lineage_command();
Command diff_command();
Command policy_command();
Command list_command();
Command show_command();
Command history_command();
Command verify_command();
Command checkout_command();
Command gate_command();
Command promote_command();
Command approve_command();
Command rollback_command();
Command status_command();
Command audit_command();
Command deploy_command();
Command hooks_command();
Command check_ref_command();
Command completion_command();
Command ci_command();
Command remote_command();
Command push_command();
Command pull_command();
Command fsck_command();
Command profile_command();
Command drift_command();
Command feedback_command();
Command report_command();

inline std::vector<Command> all_commands() {
  return {init_command(),     register_command(), dataset_command(), annotate_command(), list_command(),
          show_command(),     lineage_command(),  diff_command(),    history_command(),
          verify_command(),   policy_command(),   gate_command(),    promote_command(),
          approve_command(),  rollback_command(), status_command(),  audit_command(),
          deploy_command(),   hooks_command(),    check_ref_command(), ci_command(), checkout_command(), remote_command(),
          push_command(),     pull_command(),     fsck_command(),    profile_command(), drift_command(),
          feedback_command(), report_command(),
          completion_command()};
}

// A check that lets any value through but names the ones an option takes,
// as CLI::IsMember does ("{auto,always,never}"): help shows them and shell
// completion offers them, while the command checks the value itself and
// says what is wrong in its own words.
inline CLI::Validator takes_one_of(const std::vector<std::string>& values) {
  std::string set;
  for (const auto& v : values) set += (set.empty() ? "" : ",") + v;
  return CLI::Validator("{" + set + "}");
}

}  // namespace lm::cli
