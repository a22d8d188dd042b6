#pragma once
// Moving one reference between a local bare repository and any git remote,
// through libgit2: commits of files, fetch, and a push that only ever
// replaces the value the caller last saw (compare-and-swap), so that two
// pushers racing on one remote can never both win. No domain knowledge.

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace lm::git {

struct FileWrite {
  std::string path;  // '/'-separated, inside the commit's tree
  std::string content;
};

struct Signature {
  std::string name;
  std::string email;
};

// Whether `url` names a repository on this machine by path (absolute,
// relative or ~/...), rather than ssh (host:path, ssh://), git://, http(s)://.
bool is_local_path_url(const std::string& url);

class SyncRepository {
 public:
  // Opens the bare repository at `dir`, creating it when absent.
  static SyncRepository open_or_create(const std::filesystem::path& dir);
  // Opens it when it exists.
  static std::optional<SyncRepository> open_existing(const std::filesystem::path& dir);
  ~SyncRepository();
  SyncRepository(SyncRepository&&) noexcept;
  SyncRepository& operator=(SyncRepository&&) noexcept;

  // The commit `name` points at (full hex), or nullopt when it does not exist.
  std::optional<std::string> reference(const std::string& name) const;
  void set_reference(const std::string& name, const std::string& commit);
  // Names of references under `prefix` ("refs/lastmile/remotes/").
  std::vector<std::string> references(const std::string& prefix) const;

  // A commit whose tree is `parent`'s (empty without one) with `files`
  // added or replaced. Returns its full hex id.
  std::string commit(const std::optional<std::string>& parent, const std::vector<FileWrite>& files,
                     const std::string& message, const Signature& who);
  // The content of `path` in `commit`'s tree, or nullopt when absent.
  std::optional<std::string> read_file(const std::string& commit, const std::string& path) const;
  // The files directly in directory `dir` of `commit`'s tree, sorted by
  // name; empty when there is no such directory.
  std::vector<FileWrite> read_directory(const std::string& commit, const std::string& dir) const;
  std::string message(const std::string& commit) const;
  std::optional<std::string> parent(const std::string& commit) const;

  // Fetches `remote_ref` from `url` into `local_ref`, which mirrors the
  // remote (forced). Returns the remote's commit, or nullopt when the remote
  // has no such reference (local_ref is then removed). Throws
  // Error(unavailable) when the remote cannot be reached or read,
  // Error(permission) when it refuses the credentials. `label` names the
  // remote in messages.
  std::optional<std::string> fetch(const std::string& label, const std::string& url,
                                   const std::string& remote_ref, const std::string& local_ref);

  enum class PushResult { updated, remote_moved };
  // Sets `remote_ref` on `url` to `commit` if it still is `expected`
  // (nullopt: absent); otherwise changes nothing and says remote_moved.
  PushResult push(const std::string& label, const std::string& url, const std::string& commit,
                  const std::string& remote_ref, const std::optional<std::string>& expected);

  const std::filesystem::path& dir() const { return m_dir; }

 private:
  PushResult push_to_path(const std::string& label, const std::string& url, const std::string& commit,
                          const std::string& remote_ref, const std::optional<std::string>& expected);
  struct Impl;
  SyncRepository(std::unique_ptr<Impl> impl, std::filesystem::path dir);
  std::unique_ptr<Impl> m_impl;
  std::filesystem::path m_dir;
};

}  // namespace lm::git
