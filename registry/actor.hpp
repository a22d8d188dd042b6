#pragma once
// Who is acting: recorded with every event.

#include <filesystem>
#include <string>

namespace lm {

// LASTMILE_ACTOR, else the CI's user (GITHUB_ACTOR, GITLAB_USER_LOGIN), else
// git's identity ("GIT_AUTHOR_NAME <GIT_AUTHOR_EMAIL>", else "user.name
// <user.email>" from git config), else "$USER@host". Throws Error(usage)
// for an actor with control characters.
std::string resolve_actor(const std::filesystem::path& cwd);

}  // namespace lm
