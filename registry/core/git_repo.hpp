#pragma once
// Shared by the libgit2 wrappers in registry/core: opening a repository
// with libgit2 initialised. Not for use outside registry/core.

#include <git2.h>

#include <filesystem>
#include <memory>
#include <string>

namespace lm::git::detail {

struct RepoFree {
  void operator()(git_repository* p) const noexcept { git_repository_free(p); }
};
using RepoPtr = std::unique_ptr<git_repository, RepoFree>;
struct RefFree {
  void operator()(git_reference* p) const noexcept { git_reference_free(p); }
};
struct ObjectFree {
  void operator()(git_object* p) const noexcept { git_object_free(p); }
};

// Initialises libgit2 once, thread-safely; shut down when the process exits.
void ensure_libgit2();

// The repository containing `start` (GIT_CEILING_DIRECTORIES honoured), or
// null outside one. Throws when the system fails libgit2 (I/O, memory).
RepoPtr open_repository(const std::filesystem::path& start);

// Throws Error(`what`: reason) when libgit2 returned `rc` < 0 because the
// system failed it: class OS or NOMEMORY, or `err` (errno right after the
// call, zeroed before it) is one no mere probe leaves (EIO, ENOSPC, ...).
void throw_if_system_failure(int rc, int err, const std::string& what);

}  // namespace lm::git::detail
