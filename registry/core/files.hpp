#pragma once
// File-system helpers with errno-accurate errors: owned descriptors, durable
// writes (temp -> fsync -> rename -> fsync dir), network file system checks.

#include <sys/stat.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace lm {

namespace fs = std::filesystem;

// An owned file descriptor, closed in the destructor.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : m_fd(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : m_fd(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd();

  int get() const { return m_fd; }
  int release() {
    const int fd = m_fd;
    m_fd = -1;
    return fd;
  }
  explicit operator bool() const { return m_fd >= 0; }
  // Closes now and throws when close reports an error (a late write error).
  void close_checked(const fs::path& path);

 private:
  int m_fd = -1;
};

// Opens `path` with open(2) flags (O_CLOEXEC added). Throws system_error
// naming the path.
UniqueFd open_file(const fs::path& path, int flags, mode_t mode = 0644);

// Writes all of `size` bytes, retrying short writes. Throws naming `path`.
void write_all(int fd, const void* data, std::size_t size, const fs::path& path);

// Reads up to `size` bytes, retrying on EINTR; returns 0 at end of file.
std::size_t read_some(int fd, void* data, std::size_t size, const fs::path& path);

// fsync(2) the file; throws naming `path`.
void fsync_fd(int fd, const fs::path& path);

// Makes a directory entry change durable.
void fsync_dir(const fs::path& dir);

// Reads a whole (small) file. Throws not_found / permission / io errors.
std::string read_file(const fs::path& path);

// Replaces `path` with `content` atomically and durably.
void write_file_atomic(const fs::path& path, std::string_view content, mode_t mode = 0644);

// Creates `dir` and its parents; throws naming the directory.
void make_directories(const fs::path& dir);

// lstat(2) without throwing: nullopt when the path does not exist.
// Throws for other errors.
std::optional<struct stat> lstat_path(const fs::path& path);

// The modification and status-change times of `st` in nanoseconds.
std::int64_t mtime_ns(const struct stat& st);
std::int64_t ctime_ns(const struct stat& st);

// Returns the name of the network file system `path` lives on ("nfs",
// "cifs", ...), or nullopt for a local one. SQLite's locking cannot be
// trusted on the former.
std::optional<std::string> network_filesystem(const fs::path& path);

// The name a statfs f_type magic number stands for when it is a network
// file system, else nullopt. Exposed for tests.
std::optional<std::string> network_filesystem_name(std::int64_t magic);

// Throws Error(usage) when `path`, once its symlinks are resolved, lies in
// a git directory (a component named .git): what lastmile writes for a
// user never lands among git's hooks, config or objects, whatever links a
// repository commits. `what` names the option ("--to 'out'").
void refuse_git_directory(const fs::path& path, const std::string& what);

// A unique name for a temporary file: "<pid>-<random>.tmp".
std::string temp_name();

// True when `pid` names a process that is still running.
bool process_alive(long pid);

// An exclusive flock on `path` (created), held for the object's life:
// processes doing the same work take turns. Waiting longer than `wait` is
// Error(temp_fail), safe to retry; a file that cannot be opened is
// Error(permission) or Error(io).
class FileLock {
 public:
  FileLock(const fs::path& path, std::chrono::milliseconds wait);
  ~FileLock();
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  int m_fd = -1;
};

}  // namespace lm
