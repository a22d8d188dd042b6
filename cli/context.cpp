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

}  // namespace lm::cli
