#include "registry/core/git.hpp"

#include <git2.h>
#include <git2/sys/alloc.h>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string_view>
#include <vector>

#include "registry/core/error.hpp"
#include "registry/core/git_repo.hpp"
#include "registry/core/git_sync.hpp"

namespace lm::git {

namespace detail {

namespace {

void (*g_out_of_memory)() = nullptr;

void* checked(void* p, std::size_t size) {
  if (p == nullptr && size != 0 && g_out_of_memory) g_out_of_memory();
  return p;
}

// libgit2's allocator, calling g_out_of_memory instead of returning null.
git_allocator checked_allocator() {
  git_allocator a{};
  a.gmalloc = [](std::size_t n, const char*, int) { return checked(std::malloc(n), n); };
  a.gcalloc = [](std::size_t n, std::size_t size, const char*, int) {
    return checked(std::calloc(n, size), n * size);
  };
  a.gstrdup = [](const char* str, const char*, int) {
    return static_cast<char*>(checked(::strdup(str), 1));
  };
  a.gstrndup = [](const char* str, std::size_t n, const char*, int) {
    return static_cast<char*>(checked(::strndup(str, n), 1));
  };
  a.gsubstrdup = [](const char* str, std::size_t n, const char*, int) {
    char* p = static_cast<char*>(checked(std::malloc(n + 1), n + 1));
    if (p) {
      std::memcpy(p, str, n);
      p[n] = '\0';
    }
    return p;
  };
  a.grealloc = [](void* ptr, std::size_t size, const char*, int) {
    return checked(std::realloc(ptr, size), size);
  };
  a.greallocarray = [](void* ptr, std::size_t n, std::size_t size, const char*, int) -> void* {
    if (size != 0 && n > SIZE_MAX / size) return checked(nullptr, 1);
    return checked(std::realloc(ptr, n * size), n * size);
  };
  a.gmallocarray = [](std::size_t n, std::size_t size, const char*, int) -> void* {
    if (size != 0 && n > SIZE_MAX / size) return checked(nullptr, 1);
    return checked(std::malloc(n * size), n * size);
  };
  a.gfree = [](void* ptr) { std::free(ptr); };
  return a;
}

}  // namespace

void ensure_libgit2() {
  struct Library {
    // Set before and after starting: some versions replace it as they start.
    int rc = set_allocator() < 0 || git_libgit2_init() < 0 ? -1 : set_allocator();
    ~Library() {
      if (rc >= 0) git_libgit2_shutdown();
    }
    static int set_allocator() {
      static git_allocator allocator = checked_allocator();
      return g_out_of_memory ? git_libgit2_opts(GIT_OPT_SET_ALLOCATOR, &allocator) : 0;
    }
  };
  static const Library library;
  if (library.rc < 0) {
    const git_error* e = git_error_last();
    throw Error(ExitCode::error,
                std::string("cannot start libgit2: ") +
                    (!e ? "unknown error" : e->klass == GIT_ERROR_NOMEMORY ? "out of memory" : e->message));
  }
}

namespace {

// libgit2 may reset errno before it returns, but ends the message of an
// OS error with strerror: "failed open - '...' is locked: Permission denied".
int errno_from_message(std::string_view message) {
  for (const int err : {EACCES, EPERM, EROFS, ENOENT, ENOTDIR, EIO, ENOSPC, EDQUOT, ENOMEM, EMFILE}) {
    const std::string_view text = std::strerror(err);
    if (message.size() >= text.size() && message.substr(message.size() - text.size()) == text) return err;
  }
  return 0;
}

}  // namespace

// errno values that no probe for an optional file leaves behind: when one
// is set after libgit2 fails, the system failed it, whatever libgit2 says
// (it reports an index it cannot open as "no longer exists").
bool system_errno(int err) {
  for (const int e : {EIO, ENOSPC, EDQUOT, EACCES, EPERM, EROFS, ENOMEM, EMFILE, ENFILE}) {
    if (err == e) return true;
  }
  return false;
}

void throw_if_system_failure(int rc, int err, const std::string& what) {
  const git_error* e = git_error_last();
  if (rc >= 0 || !e) return;
  if (e->klass == GIT_ERROR_NOMEMORY) throw Error(ExitCode::error, what + ": out of memory");
  if (const int stated = errno_from_message(e->message); stated && e->klass == GIT_ERROR_OS) err = stated;
  if (!system_errno(err)) {
    if (e->klass == GIT_ERROR_OS) throw Error(ExitCode::io, what + ": " + e->message);
    return;
  }
  const ExitCode code = exit_code_for_errno(err);
  throw Error(code == ExitCode::error && err != ENOMEM ? ExitCode::io : code, what + ": " + errno_text(err));
}

RepoPtr open_repository(const std::filesystem::path& start) {
  ensure_libgit2();
  git_repository* raw = nullptr;
  const char* ceiling = std::getenv("GIT_CEILING_DIRECTORIES");
  errno = 0;
  const int rc = git_repository_open_ext(&raw, start.c_str(), 0, ceiling);
  // No repository is no provenance; a repository the system cannot read is
  // an error, never a silent "not in a git repository".
  throw_if_system_failure(rc, errno, "cannot read the git repository at " + quote(start.string()));
  if (rc != 0) return nullptr;
  return RepoPtr(raw);
}

}  // namespace detail

void set_out_of_memory_handler(void (*handler)()) { detail::g_out_of_memory = handler; }

using detail::ensure_libgit2;
using detail::open_repository;
using detail::RepoPtr;

namespace {

using detail::RefFree;
struct RemoteFree {
  void operator()(git_remote* p) const noexcept { git_remote_free(p); }
};
struct StatusFree {
  void operator()(git_status_list* p) const noexcept { git_status_list_free(p); }
};
struct ConfigFree {
  void operator()(git_config* p) const noexcept { git_config_free(p); }
};
struct RefIteratorFree {
  void operator()(git_reference_iterator* p) const noexcept { git_reference_iterator_free(p); }
};
using detail::ObjectFree;
struct TreeEntryFree {
  void operator()(git_tree_entry* p) const noexcept { git_tree_entry_free(p); }
};

std::string head_commit(git_repository* repo) {
  git_oid oid;
  errno = 0;
  const int rc = git_reference_name_to_id(&oid, repo, "HEAD");
  detail::throw_if_system_failure(rc, errno, "cannot read HEAD in " + quote(git_repository_path(repo)));
  if (rc != 0) return {};
  char hex[GIT_OID_HEXSZ + 1];
  git_oid_tostr(hex, sizeof hex, &oid);
  return hex;
}

std::string head_branch(git_repository* repo) {
  git_reference* raw = nullptr;
  const std::string what = "cannot read HEAD in " + quote(git_repository_path(repo));
  errno = 0;
  const int detached = git_repository_head_detached(repo);
  detail::throw_if_system_failure(detached, errno, what);
  if (detached == 1) return {};
  // HEAD of an unborn branch still names the branch symbolically.
  errno = 0;
  const int rc = git_reference_lookup(&raw, repo, "HEAD");
  detail::throw_if_system_failure(rc, errno, what);
  if (rc != 0) return {};
  std::unique_ptr<git_reference, RefFree> head(raw);
  if (git_reference_type(head.get()) != GIT_REFERENCE_SYMBOLIC) return {};
  std::string target = git_reference_symbolic_target(head.get());
  const std::string prefix = "refs/heads/";
  if (target.rfind(prefix, 0) == 0) target = target.substr(prefix.size());
  return target;
}

bool tracked_changes(git_repository* repo) {
  if (git_repository_is_bare(repo)) return false;
  git_status_options opts;
  git_status_options_init(&opts, GIT_STATUS_OPTIONS_VERSION);
  opts.show = GIT_STATUS_SHOW_INDEX_AND_WORKDIR;
  opts.flags = GIT_STATUS_OPT_EXCLUDE_SUBMODULES;  // untracked files do not count
  git_status_list* raw = nullptr;
  errno = 0;
  const int rc = git_status_list_new(&raw, repo, &opts);
  if (rc != 0) {
    // A tree whose status cannot be read is never recorded as clean.
    const std::string what = "cannot read the status of git work tree " +
                             quote(git_repository_workdir(repo) ? git_repository_workdir(repo) : "");
    detail::throw_if_system_failure(rc, errno, what);
    const git_error* e = git_error_last();
    throw Error(ExitCode::error, what + ": " + (e ? e->message : "unknown error"));
  }
  std::unique_ptr<git_status_list, StatusFree> list(raw);
  return git_status_list_entrycount(list.get()) > 0;
}

std::string remote_url(git_repository* repo) {
  git_remote* raw = nullptr;
  if (git_remote_lookup(&raw, repo, "origin") != 0) {
    git_strarray names{};
    if (git_remote_list(&names, repo) != 0) return {};
    const bool any = names.count > 0;
    const int rc = any ? git_remote_lookup(&raw, repo, names.strings[0]) : -1;
    git_strarray_dispose(&names);
    if (rc != 0) return {};
  }
  std::unique_ptr<git_remote, RemoteFree> remote(raw);
  const char* url = git_remote_url(remote.get());
  return url ? strip_credentials(url) : std::string();
}

CloneDepth clone_depth(git_repository* repo) {
  CloneDepth depth;
  depth.shallow = git_repository_is_shallow(repo) == 1;
  git_reference_iterator* raw = nullptr;
  if (git_reference_iterator_glob_new(&raw, repo, "refs/tags/*") == 0) {
    std::unique_ptr<git_reference_iterator, RefIteratorFree> tags(raw);
    const char* name = nullptr;
    depth.has_tags = git_reference_next_name(&name, tags.get()) == 0;
  }
  return depth;
}

}  // namespace

namespace {

std::vector<std::filesystem::path> ceiling_directories() {
  std::vector<std::filesystem::path> dirs;
  const char* env = std::getenv("GIT_CEILING_DIRECTORIES");
  if (env == nullptr) return dirs;
  std::string_view rest(env);
  while (!rest.empty()) {
    const auto colon = rest.find(':');
    const std::filesystem::path dir(std::string(rest.substr(0, colon)));
    if (dir.is_absolute()) dirs.push_back(dir.lexically_normal());
    if (colon == std::string_view::npos) break;
    rest.remove_prefix(colon + 1);
  }
  return dirs;
}

enum class DotGit { none, work_tree, unsure };

// What `dir/.git` says about `dir`: the top of a work tree (a git directory
// with HEAD, or a "gitdir:" file as worktrees and submodules have), nothing,
// or something only libgit2 can judge.
DotGit inspect_dot_git(const std::filesystem::path& dir) {
  struct stat st {};
  const std::filesystem::path dot_git = dir / ".git";
  if (::stat(dot_git.c_str(), &st) != 0) return errno == ENOENT ? DotGit::none : DotGit::unsure;
  if (S_ISDIR(st.st_mode)) {
    return ::access((dot_git / "HEAD").c_str(), F_OK) == 0 ? DotGit::work_tree : DotGit::unsure;
  }
  char head[8] = {};
  std::FILE* f = std::fopen(dot_git.c_str(), "r");
  if (f == nullptr) return DotGit::unsure;
  const std::size_t n = std::fread(head, 1, sizeof head - 1, f);
  std::fclose(f);
  return std::string_view(head, n) == "gitdir:" ? DotGit::work_tree : DotGit::unsure;
}

// A directory that is itself a git directory (a bare repository).
bool is_git_dir(const std::filesystem::path& dir) {
  return ::access((dir / "HEAD").c_str(), F_OK) == 0 &&
         ::access((dir / "objects").c_str(), F_OK) == 0 &&
         ::access((dir / "refs").c_str(), F_OK) == 0;
}

bool inside_git_dir(const std::filesystem::path& path) {
  for (const auto& part : path) {
    if (part == ".git") return true;
  }
  return false;
}

}  // namespace

std::optional<std::filesystem::path> work_tree_top(const std::filesystem::path& start) {
  const char* git_dir = std::getenv("GIT_DIR");
  if ((git_dir && *git_dir) || !start.is_absolute() || inside_git_dir(start)) {
    return work_tree_top_libgit2(start);
  }
  const auto ceilings = ceiling_directories();
  std::filesystem::path dir = start.lexically_normal();
  if (!dir.has_filename() && dir.has_parent_path() && dir != dir.root_path()) dir = dir.parent_path();
  for (;;) {
    if (is_git_dir(dir)) return work_tree_top_libgit2(start);
    switch (inspect_dot_git(dir)) {
      case DotGit::work_tree:
        return dir;
      case DotGit::unsure:
        return work_tree_top_libgit2(start);
      case DotGit::none:
        break;
    }
    const std::filesystem::path parent = dir.parent_path();
    if (parent == dir) return std::nullopt;
    if (std::find(ceilings.begin(), ceilings.end(), parent) != ceilings.end()) return std::nullopt;
    dir = parent;
  }
}

std::optional<std::filesystem::path> work_tree_top_libgit2(const std::filesystem::path& start) {
  RepoPtr repo = open_repository(start);
  if (!repo || git_repository_is_bare(repo.get())) return std::nullopt;
  const char* workdir = git_repository_workdir(repo.get());
  if (workdir == nullptr) return std::nullopt;
  std::filesystem::path top(workdir);
  if (!top.has_filename()) top = top.parent_path();  // drop the trailing '/'
  return top;
}

std::optional<Provenance> read_provenance(const std::filesystem::path& start) {
  RepoPtr repo = open_repository(start);
  if (!repo) return std::nullopt;
  Provenance p;
  p.commit = head_commit(repo.get());
  p.branch = head_branch(repo.get());
  p.dirty = tracked_changes(repo.get());
  p.remote_url = remote_url(repo.get());
  p.depth = clone_depth(repo.get());
  return p;
}

std::optional<std::string> read_head_commit(const std::filesystem::path& start) {
  RepoPtr repo = open_repository(start);
  if (!repo) return std::nullopt;
  return head_commit(repo.get());
}

std::optional<CloneDepth> read_clone_depth(const std::filesystem::path& start) {
  RepoPtr repo = open_repository(start);
  if (!repo) return std::nullopt;
  return clone_depth(repo.get());
}

std::string shallow_clone_fix() {
  return "fetch them with 'git fetch --unshallow --tags', or have CI check out everything (GitHub: "
         "actions/checkout with 'fetch-depth: 0'; GitLab: GIT_DEPTH: \"0\")";
}

std::optional<bool> in_head_commit(const std::filesystem::path& start, const std::string& path) {
  RepoPtr repo = open_repository(start);
  if (!repo) return std::nullopt;
  git_object* raw = nullptr;
  if (git_revparse_single(&raw, repo.get(), "HEAD^{tree}") != 0) return std::nullopt;
  std::unique_ptr<git_object, ObjectFree> tree(raw);
  if (path.empty() || path == ".") return true;
  git_tree_entry* entry = nullptr;
  const int rc = git_tree_entry_bypath(&entry, reinterpret_cast<git_tree*>(tree.get()), path.c_str());
  std::unique_ptr<git_tree_entry, TreeEntryFree> owned(entry);
  return rc == 0;
}

bool valid_branch_name(const std::string& name) {
  ensure_libgit2();
  int valid = 0;
  return !name.empty() && git_reference_name_is_valid(&valid, ("refs/heads/" + name).c_str()) == 0 && valid;
}

namespace {

// A snapshot of the configuration of the repository around `start`, or of
// the global configuration outside one; null when neither can be read.
std::unique_ptr<git_config, ConfigFree> configuration_at(const std::filesystem::path& start) {
  git_config* raw = nullptr;
  RepoPtr repo = open_repository(start);
  ensure_libgit2();
  const int rc = repo ? git_repository_config_snapshot(&raw, repo.get()) : git_config_open_default(&raw);
  if (rc != 0) return nullptr;
  std::unique_ptr<git_config, ConfigFree> config(raw);
  if (!repo) {
    git_config* snapshot = nullptr;
    if (git_config_snapshot(&snapshot, config.get()) != 0) return nullptr;
    config.reset(snapshot);
  }
  return config;
}

}  // namespace

std::optional<std::string> configured_identity(const std::filesystem::path& start) {
  const auto config = configuration_at(start);
  if (!config) return std::nullopt;
  const char* name = nullptr;
  const char* email = nullptr;
  if (git_config_get_string(&name, config.get(), "user.name") != 0 || name == nullptr ||
      *name == '\0') {
    return std::nullopt;
  }
  std::string identity = name;
  if (git_config_get_string(&email, config.get(), "user.email") == 0 && email && *email) {
    identity += std::string(" <") + email + ">";
  }
  return identity;
}

std::optional<std::string> configured_path(const std::filesystem::path& start, const std::string& key) {
  const auto config = configuration_at(start);
  if (!config) return std::nullopt;
  git_buf value = GIT_BUF_INIT;
  if (git_config_get_path(&value, config.get(), key.c_str()) != 0) return std::nullopt;
  std::string path(value.ptr, value.size);
  git_buf_dispose(&value);
  if (path.empty()) return std::nullopt;
  return path;
}

std::string strip_credentials(const std::string& url) {
  const auto scheme = url.find("://");
  if (scheme == std::string::npos) return url;  // scp-like "git@host:path" has no secret
  // A query string or fragment can carry a token (?access_token=...).
  std::string rest = url.substr(scheme + 3);
  rest = rest.substr(0, rest.find_first_of("?#"));
  // "user:password@": a password may hold a raw '/', so a ':' before the
  // first '@' marks credentials wherever the '@' is.
  const auto first_at = rest.find('@');
  const auto colon = rest.find(':');
  if (first_at != std::string::npos && colon != std::string::npos && colon < first_at) {
    rest = rest.substr(rest.rfind('@', rest.find('/', first_at) == std::string::npos
                                           ? rest.size()
                                           : rest.find('/', first_at)) +
                       1);
  } else {
    const auto path_start = rest.find('/');
    const auto at = rest.rfind('@', path_start == std::string::npos ? rest.size() : path_start);
    if (at != std::string::npos) rest = rest.substr(at + 1);
  }
  return url.substr(0, scheme + 3) + rest;
}

std::optional<std::string> configured_remote_url(const std::filesystem::path& start,
                                                 const std::string& name) {
  const RepoPtr repo = open_repository(start);
  if (!repo) return std::nullopt;
  git_remote* raw = nullptr;
  if (git_remote_lookup(&raw, repo.get(), name.c_str()) != 0) return std::nullopt;
  std::unique_ptr<git_remote, RemoteFree> remote(raw);
  const char* url = git_remote_url(remote.get());
  if (url == nullptr || *url == '\0') return std::nullopt;
  std::string text = url;
  // git resolves a relative path against the work tree (or git directory).
  if (is_local_path_url(text) && text[0] != '/' && text[0] != '~') {
    const char* workdir = git_repository_workdir(repo.get());
    const std::filesystem::path base = workdir != nullptr ? workdir : git_repository_path(repo.get());
    text = (base / text).lexically_normal().string();
  }
  return text;
}

}  // namespace lm::git
