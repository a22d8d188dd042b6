#include "registry/actor.hpp"

#include <unistd.h>

#include <cstdlib>

#include "registry/core/error.hpp"
#include "registry/core/git.hpp"
#include "registry/metadata.hpp"

namespace lm {

namespace {

std::string env(const char* name) {
  const char* value = std::getenv(name);
  return value ? std::string(value) : std::string();
}

std::string checked(std::string actor, const char* origin) {
  validate_text(actor, std::string("actor from ") + origin, 256);
  for (unsigned char c : actor) {
    if (c < 0x20 || c == 0x7f) {
      throw Error(ExitCode::usage,
                  std::string("actor from ") + origin + " contains control characters: " +
                      quote(actor));
    }
  }
  return actor;
}

}  // namespace

std::string resolve_actor(const std::filesystem::path& cwd) {
  for (const char* name : {"LASTMILE_ACTOR", "GITHUB_ACTOR", "GITLAB_USER_LOGIN"}) {
    if (std::string value = env(name); !value.empty()) return checked(value, name);
  }
  // git lets GIT_AUTHOR_NAME and GIT_AUTHOR_EMAIL override user.name and
  // user.email; so does lastmile.
  if (std::string name = env("GIT_AUTHOR_NAME"); !name.empty()) {
    const std::string email = env("GIT_AUTHOR_EMAIL");
    return checked(email.empty() ? name : name + " <" + email + ">", "GIT_AUTHOR_NAME");
  }
  if (auto identity = git::configured_identity(cwd)) return checked(*identity, "git config");
  std::string user = env("USER");
  if (user.empty()) user = "uid" + std::to_string(::getuid());
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  return checked(user + "@" + (host[0] ? host : "localhost"), "USER");
}

}  // namespace lm
