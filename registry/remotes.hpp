#pragma once
// Where the registry is shared: named remotes in .lastmile/config.
//   a log remote    any git URL (a path, ssh, https, git://): the event log
//                   travels on its refs/lastmile/log;
//   a blob remote   file:///PATH (a shared directory) or oci://HOST/REPO (an
//                   OCI registry): the bytes of the versions.
// Without a configured log remote, the git repository's own 'origin' is used.

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace lm {

enum class RemoteKind { log, directory, oci };

struct Remote {
  std::string name;
  std::string url;
  RemoteKind kind = RemoteKind::log;
  bool insecure = false;    // oci: plain http, loopback only
  bool git_origin = false;  // not configured: the git repository's origin

  bool holds_log() const { return kind == RemoteKind::log; }
};

// "log", "directory" or "oci".
const char* remote_kind_name(RemoteKind kind);

// What a URL names: oci:// an OCI registry, file:// a directory, anything
// else a git repository.
RemoteKind remote_kind_of(const std::string& url);

// Throws Error(usage) unless `name` is [a-z0-9][a-z0-9._-]* (≤ 64 bytes).
void validate_remote_name(const std::string& name);

struct RemoteAddRequest {
  std::filesystem::path registry_dir;
  std::filesystem::path cwd;  // a relative path URL is made absolute against it
  std::string name;
  std::string url;
  bool insecure = false;
};

// Adds a remote to .lastmile/config. Throws Error(usage) for a bad name or
// URL, Error(check_failed) when the name is taken. Returns what was stored.
Remote add_remote(const RemoteAddRequest& request);

// Removes it; Error(not_found) when there is no such remote, and
// Error(check_failed) for 'origin' when that is the git repository's own.
void remove_remote(const std::filesystem::path& registry_dir, const std::filesystem::path& cwd,
                   const std::string& name);

// The configured remotes, in the order they were added, then the git
// repository's origin when no configured remote is called 'origin'.
std::vector<Remote> list_remotes(const std::filesystem::path& registry_dir,
                                 const std::filesystem::path& cwd);

// The remote called `name`; Error(not_found) listing the names there are.
Remote find_remote(const std::filesystem::path& registry_dir, const std::filesystem::path& cwd,
                   const std::string& name);

// The log remote push and pull use without a name: 'origin' (configured,
// else the git repository's), else the only log remote configured.
// Error(config) when there is none, Error(usage) when several could be meant.
Remote default_log_remote(const std::filesystem::path& registry_dir, const std::filesystem::path& cwd);

// The configured blob remotes, in order.
std::vector<Remote> blob_remotes(const std::filesystem::path& registry_dir);

}  // namespace lm
