#include "registry/hooks.hpp"

#include <sys/stat.h>

#include "registry/core/error.hpp"
#include "registry/core/files.hpp"

namespace lm {

namespace {

namespace fs = std::filesystem;

constexpr std::string_view k_marker = "# lastmile hook:";
constexpr std::string_view k_chained_suffix = ".lastmile-chained";
constexpr std::string_view k_replaced_suffix = ".lastmile-replaced";

// One shell word for a path: single quotes, with ' written as '\''.
std::string single_quoted(const std::string& text) {
  std::string out = "'";
  for (const char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

fs::path chained_path(const fs::path& hook) { return fs::path(hook.string() + std::string(k_chained_suffix)); }

}  // namespace

const std::vector<std::string>& lastmile_hooks() {
  static const std::vector<std::string> hooks = {"pre-commit", "pre-push"};
  return hooks;
}

std::string hook_script(const std::string& hook, const fs::path& binary) {
  const std::string run = "exec " + single_quoted(binary.string()) + " hooks run " + hook + " \"$@\"";
  std::string script = "#!/bin/sh\n" + std::string(k_marker) + " " + hook +
                       " (installed by 'lastmile hooks install'; 'lastmile hooks uninstall' removes it)\n"
                       "# A hook that was here before is kept as " + hook + std::string(k_chained_suffix) +
                       " and runs first.\n"
                       "chained=\"$(dirname \"$0\")/" + hook + std::string(k_chained_suffix) + "\"\n";
  if (hook == "pre-push") {
    // Both read the refs being pushed on stdin: keep them for the second.
    script +=
        "if [ -x \"$chained\" ]; then\n"
        "  refs=$(cat)\n"
        "  printf '%s\\n' \"$refs\" | \"$chained\" \"$@\" || exit $?\n"
        "  printf '%s\\n' \"$refs\" | " + run + "\n"
        "fi\n";
  } else {
    script += "if [ -x \"$chained\" ]; then \"$chained\" \"$@\" || exit $?; fi\n";
  }
  return script + run + "\n";
}

bool is_lastmile_hook(const fs::path& path) {
  if (!lstat_path(path)) return false;
  const std::string text = read_file(path);
  return text.find(k_marker) != std::string::npos;
}

std::vector<HookChange> install_hooks(const fs::path& dir, const std::vector<std::string>& hooks,
                                      const fs::path& binary, bool force) {
  make_directories(dir);
  std::vector<HookChange> changes;
  for (const auto& hook : hooks) {
    const fs::path path = dir / hook;
    const std::string script = hook_script(hook, binary);
    HookChange change{hook, path, "installed"};
    if (lstat_path(path)) {
      if (is_lastmile_hook(path)) {
        change.action = read_file(path) == script ? "unchanged" : "updated";
      } else {
        // Chained, it still runs; replaced (--force), it is kept but not run.
        const fs::path aside = force ? fs::path(path.string() + std::string(k_replaced_suffix)) : chained_path(path);
        if (lstat_path(aside)) {
          throw Error(ExitCode::check_failed,
                      quote(path.string()) + " is not lastmile's, and " + quote(aside.filename().string()) +
                          " is taken",
                      "merge the hooks by hand, then run 'lastmile hooks install' again");
        }
        fs::rename(path, aside);
        change.action = force ? "replaced" : "chained";
      }
    }
    if (change.action != "unchanged") write_file_atomic(path, script, 0755);
    changes.push_back(change);
  }
  return changes;
}

std::vector<HookChange> uninstall_hooks(const fs::path& dir, const std::vector<std::string>& hooks) {
  std::vector<HookChange> changes;
  for (const auto& hook : hooks) {
    const fs::path path = dir / hook;
    HookChange change{hook, path, "absent"};
    if (is_lastmile_hook(path)) {
      fs::remove(path);
      change.action = "removed";
      if (lstat_path(chained_path(path))) {
        fs::rename(chained_path(path), path);
        change.action = "restored";
      }
    }
    changes.push_back(change);
  }
  return changes;
}

}  // namespace lm
