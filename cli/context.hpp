#pragma once
// What every command needs after parsing: the global options, the working
// directory, the output, and the registry (opened on first use).

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "cli/output.hpp"
#include "registry/policy.hpp"
#include "registry/registry.hpp"

namespace lm::cli {

struct Globals {
  std::string directory;  // -C
  std::string registry;   // --registry
  bool json = false;
  bool quiet = false;
  bool verbose = false;
  std::string color = "auto";
};

class Context {
 public:
  explicit Context(const Globals& globals);

  const Globals& globals() const { return m_globals; }
  const Output& out() const { return m_out; }
  const std::filesystem::path& cwd() const { return m_cwd; }

  // Where the registry is: --registry, LASTMILE_REGISTRY, or found from cwd.
  RegistryLocation location() const;
  std::chrono::milliseconds lock_timeout() const;
  // The top of the git work tree around cwd, else cwd: where lastmile.yaml is.
  std::filesystem::path project_root() const;
  std::filesystem::path policy_path() const { return project_root() / "lastmile.yaml"; }
  // Opens the registry on first use.
  Registry& registry();
  // lastmile.yaml (or the default policy), read on first use; may have problems.
  const PolicyLoad& policy();
  // The policy, or Error(config) listing its problems: what promotions use.
  const Policy& valid_policy();
  // Where a new model version lands: the policy's first stage.
  std::string landing_stage();

 private:
  Globals m_globals;
  Output m_out;
  std::filesystem::path m_cwd;
  std::optional<Registry> m_registry;
  std::optional<PolicyLoad> m_policy;
};

// A file named on the command line: its path from the working directory,
// and the name the log keeps (relative to the project when inside it, so
// that clones elsewhere read the same).
struct NamedFile {
  std::filesystem::path path;
  std::string recorded_as;
};
NamedFile named_file(const Context& ctx, const std::string& arg);

}  // namespace lm::cli
