#include "registry/core/files.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <random>
#include <thread>

#include "registry/core/error.hpp"

namespace lm {

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept {
  if (this != &other) {
    if (m_fd >= 0) ::close(m_fd);
    m_fd = other.release();
  }
  return *this;
}

UniqueFd::~UniqueFd() {
  if (m_fd >= 0) ::close(m_fd);
}

void UniqueFd::close_checked(const fs::path& path) {
  const int fd = release();
  if (fd >= 0 && ::close(fd) != 0 && errno != EINTR) {
    throw system_error(errno, "cannot write " + quote(path.string()));
  }
}

UniqueFd open_file(const fs::path& path, int flags, mode_t mode) {
  int fd;
  do {
    fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) throw system_error(errno, "cannot open " + quote(path.string()));
  return UniqueFd(fd);
}

void write_all(int fd, const void* data, std::size_t size, const fs::path& path) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd, p, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw system_error(errno, "cannot write " + quote(path.string()));
    }
    p += n;
    size -= static_cast<std::size_t>(n);
  }
}

std::size_t read_some(int fd, void* data, std::size_t size, const fs::path& path) {
  for (;;) {
    const ssize_t n = ::read(fd, data, size);
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno != EINTR) throw system_error(errno, "cannot read " + quote(path.string()));
  }
}

void fsync_fd(int fd, const fs::path& path) {
  if (::fsync(fd) != 0) throw system_error(errno, "cannot sync " + quote(path.string()));
}

void fsync_dir(const fs::path& dir) {
  UniqueFd fd = open_file(dir, O_RDONLY | O_DIRECTORY);
  fsync_fd(fd.get(), dir);
}

std::string read_file(const fs::path& path) {
  UniqueFd fd = open_file(path, O_RDONLY);
  std::string content;
  char buf[65536];
  for (;;) {
    const std::size_t n = read_some(fd.get(), buf, sizeof buf, path);
    if (n == 0) break;
    content.append(buf, n);
  }
  return content;
}

void write_file_atomic(const fs::path& path, std::string_view content, mode_t mode) {
  const fs::path temp = path.parent_path() / ("." + path.filename().string() + "." + temp_name());
  try {
    UniqueFd fd = open_file(temp, O_WRONLY | O_CREAT | O_EXCL, mode);
    write_all(fd.get(), content.data(), content.size(), temp);
    fsync_fd(fd.get(), temp);
    fd.close_checked(temp);
    if (::rename(temp.c_str(), path.c_str()) != 0) {
      throw system_error(errno, "cannot write " + quote(path.string()));
    }
  } catch (const Error& e) {
    ::unlink(temp.c_str());
    // The temporary name is an implementation detail: the message names the
    // file asked for, with the reason the system gave ("...: no space left").
    const std::string what = e.what();
    const std::size_t reason = what.rfind("': ");
    if (what.rfind("cannot write " + quote(path.string()), 0) == 0 || reason == std::string::npos) throw;
    throw Error(e.code(), "cannot write " + quote(path.string()) + ": " + what.substr(reason + 3), e.hint());
  } catch (...) {
    ::unlink(temp.c_str());
    throw;
  }
  fsync_dir(path.parent_path().empty() ? fs::path(".") : path.parent_path());
}

void make_directories(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw system_error(ec.value(), "cannot create directory " + quote(dir.string()));
}

std::optional<struct stat> lstat_path(const fs::path& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) return st;
  if (errno == ENOENT || errno == ENOTDIR) return std::nullopt;
  throw system_error(errno, "cannot read " + quote(path.string()));
}

std::int64_t mtime_ns(const struct stat& st) {
  return static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}

std::int64_t ctime_ns(const struct stat& st) {
  return static_cast<std::int64_t>(st.st_ctim.tv_sec) * 1'000'000'000 + st.st_ctim.tv_nsec;
}

std::optional<std::string> network_filesystem_name(std::int64_t magic) {
  switch (static_cast<std::uint32_t>(magic)) {
    case 0x6969:
      return "nfs";
    case 0x517B:
      return "smb";
    case 0xFF534D42:
      return "cifs";
    case 0xFE534D42:
      return "smb2";
    case 0x5346414F:
      return "afs";
    case 0x73757245:
      return "coda";
    case 0x564c:
      return "ncp";
    case 0x01021997:
      return "9p";
    case 0x00C36400:
      return "ceph";
    case 0x47504653:
      return "gpfs";
    case 0x0BD00BD0:
      return "lustre";
    default:
      return std::nullopt;
  }
}

std::optional<std::string> network_filesystem(const fs::path& path) {
  struct statfs info {};
  if (::statfs(path.c_str(), &info) != 0) {
    throw system_error(errno, "cannot inspect " + quote(path.string()));
  }
  return network_filesystem_name(static_cast<std::int64_t>(info.f_type));
}

std::string temp_name() {
  static std::atomic<unsigned> counter{0};
  thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[64];
  std::snprintf(buf, sizeof buf, "%ld-%08llx%u.tmp", static_cast<long>(::getpid()),
                static_cast<unsigned long long>(rng() & 0xffffffffULL), counter++);
  return buf;
}

bool process_alive(long pid) {
  if (pid <= 0) return false;
  return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
}

FileLock::FileLock(const fs::path& path, std::chrono::milliseconds wait) {
  m_fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (m_fd < 0) {
    const int err = errno;
    throw Error(err == EACCES || err == EROFS || err == EPERM ? ExitCode::permission : ExitCode::io,
                "cannot open " + quote(path.string()) + ": " + errno_text(err));
  }
  const auto deadline = std::chrono::steady_clock::now() + wait;
  while (::flock(m_fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    if (err != EWOULDBLOCK && err != EINTR) {
      ::close(m_fd);
      throw Error(ExitCode::io, "cannot lock " + quote(path.string()) + ": " + errno_text(err));
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      ::close(m_fd);
      throw Error(ExitCode::temp_fail,
                  "another process held " + quote(path.string()) + " for over " +
                      std::to_string(std::chrono::duration_cast<std::chrono::seconds>(wait).count()) +
                      " seconds",
                  "run it again; it is safe to retry");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

FileLock::~FileLock() {
  if (m_fd >= 0) ::close(m_fd);
}

void refuse_git_directory(const fs::path& path, const std::string& what) {
  std::error_code ec;
  const fs::path resolved = fs::weakly_canonical(fs::absolute(path, ec), ec);
  if (ec) return;  // what cannot be resolved is refused by the write itself
  for (const fs::path& part : resolved) {
    if (part == ".git") {
      throw Error(ExitCode::usage,
                  "refusing to write " + what + ": it resolves to " + quote(resolved.string()) +
                      ", inside a git directory",
                  "name a directory outside .git; lastmile hooks install is how hooks are added");
    }
  }
}

}  // namespace lm
