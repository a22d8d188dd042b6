#pragma once
// What lastmile reads from git, through libgit2: where the work tree is, and
// the provenance of a registration (commit, branch, dirty flag, remote).

#include <filesystem>
#include <optional>
#include <string>

namespace lm::git {

// How much of its history a clone holds. A CI checkout is often shallow
// (depth 1, no tags): the commit is there, its history and tags are not.
struct CloneDepth {
  bool shallow = false;   // history cut off, as after 'git clone --depth N'
  bool has_tags = false;  // at least one refs/tags/* reference
};

struct Provenance {
  std::string commit;      // full hex id of HEAD; empty on an unborn branch
  std::string branch;      // short branch name; empty when HEAD is detached
  bool dirty = false;      // tracked files differ from HEAD
  std::string remote_url;  // "origin" (else the first remote), credentials removed
  CloneDepth depth;        // not recorded: what a warning about a shallow clone needs
};

// libgit2 is initialised on first use and shut down at exit: loading its
// TLS certificates costs milliseconds that commands which never read git
// data should not pay.

// Returns the top of the git work tree containing `start`, or nullopt
// outside a work tree (bare repositories included). GIT_CEILING_DIRECTORIES
// is honoured as git does. The common layouts are recognised by looking for
// .git without starting libgit2; GIT_DIR and paths inside a git directory
// are left to libgit2.
std::optional<std::filesystem::path> work_tree_top(const std::filesystem::path& start);

// work_tree_top as libgit2 answers it; for tests of the fast path.
std::optional<std::filesystem::path> work_tree_top_libgit2(const std::filesystem::path& start);

// Returns the provenance of the repository containing `start`, or nullopt
// outside a repository.
std::optional<Provenance> read_provenance(const std::filesystem::path& start);

// Returns the depth of the clone containing `start`, or nullopt outside a
// repository.
// The full hex id of HEAD's commit ("" on an unborn branch), or nullopt
// outside a repository: what read_provenance gives without the status scan.
std::optional<std::string> read_head_commit(const std::filesystem::path& start);

std::optional<CloneDepth> read_clone_depth(const std::filesystem::path& start);

// How to get what a shallow clone lacks, locally and in CI, in words.
std::string shallow_clone_fix();

// Whether the commit HEAD names holds `path` (relative to the top of the
// work tree, '/'-separated; a file or a directory): what a CI checkout of
// that commit will have. nullopt outside a repository or on an unborn
// branch.
std::optional<bool> in_head_commit(const std::filesystem::path& start, const std::string& path);

// Whether `name` can be a branch: refs/heads/<name> is a valid reference
// name by git's rules.
bool valid_branch_name(const std::string& name);

// Returns "Name <email>" from git configuration for the repository around
// `start` (or the global configuration), or nullopt when user.name is unset.
std::optional<std::string> configured_identity(const std::filesystem::path& start);

// The URL of remote `name` of the repository containing `start`, as
// configured (credentials included: it is used, never recorded), with a
// relative path made absolute against the top of the work tree. nullopt
// outside a repository or when there is no such remote.
std::optional<std::string> configured_remote_url(const std::filesystem::path& start,
                                                 const std::string& name);

// A path setting (such as http.sslCAInfo) from git configuration for the
// repository around `start` (or the global configuration), '~' expanded;
// nullopt when unset.
std::optional<std::string> configured_path(const std::filesystem::path& start, const std::string& key);

// Removes "user:password@" from a URL so that tokens never reach the log.
std::string strip_credentials(const std::string& url);

// Calls `handler` (which must not return) when libgit2 cannot allocate
// memory: libgit2 does not survive every failed allocation.
void set_out_of_memory_handler(void (*handler)());

}  // namespace lm::git
