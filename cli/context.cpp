#include "cli/context.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "registry/core/error.hpp"
#include "registry/core/git.hpp"

namespace lm::cli {

namespace {

std::filesystem::path working_directory(const std::string& dash_c) {
  if (!dash_c.empty() && ::chdir(dash_c.c_str()) != 0) {
    throw system_error(errno, "cannot change to directory " + quote(dash_c));
  }
  std::error_code ec;
  auto cwd = std::filesystem::current_path(ec);
  if (ec) throw system_error(ec.value(), "cannot read the current directory");
  return cwd;
}

}  // namespace

Context::Context(const Globals& globals)
    : m_globals(globals),
      m_out(globals.json, globals.quiet, globals.verbose, parse_color_mode(globals.color)),
      m_cwd(working_directory(globals.directory)) {}

RegistryLocation Context::location() const {
  std::optional<std::filesystem::path> override_dir;
  if (!m_globals.registry.empty()) {
    override_dir = m_globals.registry;
  } else if (const char* env = std::getenv("LASTMILE_REGISTRY"); env && *env) {
    override_dir = env;
  }
  return locate_registry(m_cwd, override_dir);
}

std::chrono::milliseconds Context::lock_timeout() const { return lock_timeout_from_env(); }

std::filesystem::path Context::project_root() const {
  return git::work_tree_top(m_cwd).value_or(m_cwd);
}

Registry& Context::registry() {
  if (!m_registry) m_registry.emplace(Registry::open(location(), lock_timeout()));
  return *m_registry;
}

const PolicyLoad& Context::policy() {
  if (!m_policy) m_policy = load_policy(policy_path());
  return *m_policy;
}

const Policy& Context::valid_policy() {
  const PolicyLoad& load = policy();
  if (load.ok()) return load.policy;
  const PolicyProblem& first = load.problems.front();
  std::string where = "lastmile.yaml";
  if (first.line > 0) where += ":" + std::to_string(first.line) + ":" + std::to_string(first.column);
  const std::size_t more = load.problems.size() - 1;
  throw Error(ExitCode::config,
              "invalid policy: " + where + ": " + first.message +
                  (more ? " (and " + std::to_string(more) + " more)" : ""),
              "'lastmile policy check' lists every problem; no promotion happens until it passes");
}

std::string Context::landing_stage() {
  const PolicyLoad& load = policy();
  if (load.ok()) return load.policy.stages.front().name;
  // Registration goes on under a broken policy (only promotions stop); the
  // version lands where the file's first stage seems to be.
  const bool named = !load.policy.stages.empty() && !load.policy.stages.front().name.empty();
  const std::string stage =
      named ? load.policy.stages.front().name : default_policy().stages.front().name;
  out().warn("lastmile.yaml has problems ('lastmile policy check'); the version lands in " +
             quote(stage));
  return stage;
}

NamedFile named_file(const Context& ctx, const std::string& arg) {
  const std::filesystem::path path = (ctx.cwd() / arg).lexically_normal();
  const std::filesystem::path inside = path.lexically_relative(ctx.project_root());
  const bool in_project = !inside.empty() && *inside.begin() != "..";
  return {path, (in_project ? inside : path).generic_string()};
}

}  // namespace lm::cli
