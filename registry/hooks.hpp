#pragma once
// Git hooks: lastmile's pre-commit (the staged lastmile.yaml is a valid
// policy; the registry's audit chain is intact) and pre-push (verify).
// An installed hook is a fixed script that execs the lastmile that
// installed it with the hook's own arguments: nothing in it comes from
// user data. A hook that was there before is kept as HOOK.lastmile-chained
// and still runs first, with the same arguments and input.

#include <filesystem>
#include <string>
#include <vector>

namespace lm {

// The hooks lastmile installs.
const std::vector<std::string>& lastmile_hooks();

// The script for `hook`, running `binary`.
std::string hook_script(const std::string& hook, const std::filesystem::path& binary);

// Whether the file at `path` is a hook lastmile installed.
bool is_lastmile_hook(const std::filesystem::path& path);

struct HookChange {
  std::string hook;
  std::filesystem::path path;
  // installed, updated (a lastmile hook rewritten), unchanged, chained (an
  // existing hook kept as .lastmile-chained), replaced (kept as
  // .lastmile-replaced), removed, restored (the chained hook put back),
  // absent (nothing of lastmile's there)
  std::string action;
};

// Installs each hook into `dir` (created when missing). An existing hook
// that is not lastmile's is chained; with `force` it is replaced instead:
// kept as HOOK.lastmile-replaced, not run. Never deleted. Idempotent.
// Throws Error(check_failed) when the name it would be kept under is taken.
std::vector<HookChange> install_hooks(const std::filesystem::path& dir, const std::vector<std::string>& hooks,
                                      const std::filesystem::path& binary, bool force);

// Removes lastmile's hooks from `dir` and puts chained hooks back.
std::vector<HookChange> uninstall_hooks(const std::filesystem::path& dir, const std::vector<std::string>& hooks);

}  // namespace lm
