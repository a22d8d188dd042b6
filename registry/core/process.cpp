#include "registry/core/process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <csignal>
#include <cerrno>
#include <optional>
#include <string_view>

#include "registry/core/error.hpp"
#include "registry/core/files.hpp"

extern char** environ;

namespace lm {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr milliseconds k_kill_grace{2000};  // SIGTERM to SIGKILL
constexpr milliseconds k_eof_grace{1000};   // child exit to giving up on the pipe
constexpr milliseconds k_read_tick{100};    // how late an exit is noticed while the pipe is open
constexpr milliseconds k_max_idle_tick{50};
// Keeps now + timeout far from overflowing the clock.
constexpr milliseconds k_max_timeout{std::chrono::hours(24 * 365)};

void check_spawn_setup(int rc, const std::string& command) {
  if (rc != 0) throw system_error(rc, "cannot prepare to run " + quote(command));
}

class SpawnActions {
 public:
  explicit SpawnActions(const std::string& command) {
    check_spawn_setup(posix_spawn_file_actions_init(&m_actions), command);
  }
  ~SpawnActions() { posix_spawn_file_actions_destroy(&m_actions); }
  SpawnActions(const SpawnActions&) = delete;
  SpawnActions& operator=(const SpawnActions&) = delete;
  posix_spawn_file_actions_t* get() { return &m_actions; }

 private:
  posix_spawn_file_actions_t m_actions;
};

class SpawnAttr {
 public:
  explicit SpawnAttr(const std::string& command) {
    check_spawn_setup(posix_spawnattr_init(&m_attr), command);
  }
  ~SpawnAttr() { posix_spawnattr_destroy(&m_attr); }
  SpawnAttr(const SpawnAttr&) = delete;
  SpawnAttr& operator=(const SpawnAttr&) = delete;
  posix_spawnattr_t* get() { return &m_attr; }

 private:
  posix_spawnattr_t m_attr;
};

struct Pipe {
  UniqueFd read;
  UniqueFd write;
};

// With lastmile's stdin, stdout or stderr closed, a pipe end can land on
// 0..2, where the child's dup2 onto 1 and 2 would clobber it.
UniqueFd above_stdio(UniqueFd fd) {
  if (fd.get() > 2) return fd;
  const int moved = ::fcntl(fd.get(), F_DUPFD_CLOEXEC, 3);
  if (moved < 0) throw system_error(errno, "cannot create a pipe");
  return UniqueFd(moved);
}

// Both ends close-on-exec: the child gets the write end only through dup2,
// and no other child started meanwhile by another thread holds it open.
Pipe make_pipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw system_error(errno, "cannot create a pipe");
  UniqueFd read_end(fds[0]);
  UniqueFd write_end(fds[1]);
  return {above_stdio(std::move(read_end)), above_stdio(std::move(write_end))};
}

bool valid_env_name(std::string_view name) {
  return !name.empty() && name.find('=') == std::string_view::npos &&
         name.find('\0') == std::string_view::npos;
}

// environ with `overrides` laid over it; of two overrides of one name, the
// later wins.
std::vector<std::string> child_environment(
    const std::vector<std::pair<std::string, std::string>>& overrides) {
  const auto overridden = [&](std::string_view name, std::size_t from) {
    return std::any_of(overrides.begin() + static_cast<std::ptrdiff_t>(from), overrides.end(),
                       [&](const auto& kv) { return kv.first == name; });
  };
  std::vector<std::string> env;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    const std::string_view text(*entry);
    if (!overridden(text.substr(0, text.find('=')), 0)) env.emplace_back(text);
  }
  for (std::size_t i = 0; i < overrides.size(); ++i) {
    if (!overridden(overrides[i].first, i + 1)) {
      env.push_back(overrides[i].first + "=" + overrides[i].second);
    }
  }
  return env;
}

// posix_spawn wants char* const[]; it does not write through them.
std::vector<char*> pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// The command's stdin: `input` in an anonymous memory file, so that input
// of any size is there at once and the child can never block lastmile on a
// full pipe.
UniqueFd input_file(const std::string& input) {
  if (input.empty()) return {};
  UniqueFd fd(::memfd_create("lastmile-input", MFD_CLOEXEC));
  if (!fd) throw system_error(errno, "cannot create the input of a command");
  fd = above_stdio(std::move(fd));
  write_all(fd.get(), input.data(), input.size(), "memfd:lastmile-input");
  if (::lseek(fd.get(), 0, SEEK_SET) != 0) {
    throw system_error(errno, "cannot rewind the input of a command");
  }
  return fd;
}

void set_file_actions(SpawnActions& actions, const ProcessRequest& request, const Pipe& pipe,
                      const UniqueFd& input) {
  const std::string& command = request.argv[0];
  posix_spawn_file_actions_t* a = actions.get();
  if (input) {
    check_spawn_setup(posix_spawn_file_actions_adddup2(a, input.get(), 0), command);
  } else {
    check_spawn_setup(posix_spawn_file_actions_addopen(a, 0, "/dev/null", O_RDONLY, 0), command);
  }
  check_spawn_setup(posix_spawn_file_actions_adddup2(a, pipe.write.get(), 1), command);
  if (request.discard_stderr) {
    check_spawn_setup(posix_spawn_file_actions_addopen(a, 2, "/dev/null", O_WRONLY, 0), command);
  } else {
    check_spawn_setup(posix_spawn_file_actions_adddup2(a, pipe.write.get(), 2), command);
  }
  check_spawn_setup(posix_spawn_file_actions_addclose(a, pipe.read.get()), command);
  if (!request.cwd.empty()) {
    check_spawn_setup(posix_spawn_file_actions_addchdir_np(a, request.cwd.c_str()), command);
  }
}

// A group of its own lets a timeout reach a script's children too. The mask
// and dispositions are reset because lastmile's may have been inherited
// from whatever started it (an ignored SIGPIPE, SIGINT under nohup or CI).
void set_attributes(SpawnAttr& attr, const std::string& command) {
  sigset_t none;
  sigemptyset(&none);
  sigset_t defaults;
  sigemptyset(&defaults);
  for (int sig : {SIGPIPE, SIGINT, SIGQUIT, SIGTERM, SIGHUP, SIGCHLD}) sigaddset(&defaults, sig);
  const short flags = POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
  check_spawn_setup(posix_spawnattr_setflags(attr.get(), flags), command);
  check_spawn_setup(posix_spawnattr_setpgroup(attr.get(), 0), command);
  check_spawn_setup(posix_spawnattr_setsigmask(attr.get(), &none), command);
  check_spawn_setup(posix_spawnattr_setsigdefault(attr.get(), &defaults), command);
}

// Returns 0 or the error posix_spawnp reports; glibc waits for the exec, so
// its errors (ENOENT, EACCES, ENOEXEC) arrive here rather than as exit 127.
int spawn(const ProcessRequest& request, const Pipe& pipe, pid_t& pid) {
  const UniqueFd input = input_file(request.input);
  SpawnActions actions(request.argv[0]);
  set_file_actions(actions, request, pipe, input);
  SpawnAttr attr(request.argv[0]);
  set_attributes(attr, request.argv[0]);
  std::vector<std::string> args = request.argv;
  std::vector<std::string> env = child_environment(request.env);
  std::vector<char*> argv = pointers(args);
  std::vector<char*> envp = pointers(env);
  return ::posix_spawnp(&pid, argv[0], actions.get(), attr.get(), argv.data(), envp.data());
}

// Checked before spawning, so that a spawn error can be blamed on the command.
std::optional<std::string> request_problem(const ProcessRequest& request) {
  if (request.argv.empty()) return "no command given";
  for (const auto& [name, value] : request.env) {
    if (!valid_env_name(name)) return "invalid environment variable name " + quote(name);
  }
  if (request.cwd.empty()) return std::nullopt;
  struct stat st {};
  int err = 0;
  if (::stat(request.cwd.c_str(), &st) != 0) {
    err = errno;
  } else if (!S_ISDIR(st.st_mode)) {
    err = ENOTDIR;
  } else if (::access(request.cwd.c_str(), X_OK) != 0) {
    err = errno;
  }
  if (err == 0) return std::nullopt;
  return "cannot change to directory " + quote(request.cwd.string()) + ": " + errno_text(err);
}

bool exists_from(const std::filesystem::path& cwd, const std::string& command) {
  struct stat st {};
  const std::filesystem::path path = cwd.empty() ? std::filesystem::path(command) : cwd / command;
  return ::stat(path.c_str(), &st) == 0;
}

// Why the command could not be started. Throws when the machine, not the
// command, is at fault.
std::string start_error(int err, const ProcessRequest& request) {
  const std::string& command = request.argv[0];
  const bool is_path = command.find('/') != std::string::npos;
  switch (err) {
    case EAGAIN:
    case ENOMEM:
    case EMFILE:
    case ENFILE:
      throw system_error(err, "cannot run " + quote(command));
    case ENOENT:
      if (!is_path) return quote(command) + " not found in PATH";
      if (exists_from(request.cwd, command)) {
        return "cannot run " + quote(command) + ": its #! interpreter was not found";
      }
      return quote(command) + " not found";
    case ENOEXEC:
      return "cannot run " + quote(command) + ": " + errno_text(err) +
             " (a script needs a #! line)";
    default:
      return "cannot run " + quote(command) + ": " + errno_text(err);
  }
}

// The started child; killed (whole group) and reaped on every way out.
class Child {
 public:
  Child(pid_t pid, std::string command) : m_pid(pid), m_command(std::move(command)) {}
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() {
    if (m_reaped) return;
    kill_group(SIGKILL);
    int status;
    while (::waitpid(m_pid, &status, 0) < 0 && errno == EINTR) {
    }
  }

  // True once the child has exited; does not block.
  bool reap() {
    if (m_reaped) return true;
    pid_t rc;
    do {
      rc = ::waitpid(m_pid, &m_status, WNOHANG);
    } while (rc < 0 && errno == EINTR);
    if (rc < 0) throw system_error(errno, "cannot wait for " + quote(m_command));
    m_reaped = rc == m_pid;
    return m_reaped;
  }

  // The group outlives the child while its descendants run, and its id
  // cannot be reused until they are gone.
  void kill_group(int sig) const { ::kill(-m_pid, sig); }

  int status() const { return m_status; }

 private:
  pid_t m_pid;
  std::string m_command;
  int m_status = 0;
  bool m_reaped = false;
};

bool utf8_continuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

std::size_t utf8_length(char lead) {
  const auto c = static_cast<unsigned char>(lead);
  if (c >= 0xF0) return 4;
  if (c >= 0xE0) return 3;
  if (c >= 0xC0) return 2;
  return 1;
}

// Drops a multi-byte character cut in two at the end of `text`.
std::string_view cut_utf8_end(std::string_view text) {
  const std::size_t floor = text.size() > 4 ? text.size() - 4 : 0;
  for (std::size_t i = text.size(); i > floor; --i) {
    if (utf8_continuation(text[i - 1])) continue;
    return i - 1 + utf8_length(text[i - 1]) > text.size() ? text.substr(0, i - 1) : text;
  }
  return text;
}

// Drops the continuation bytes of a character cut in two at the start.
std::string_view cut_utf8_start(std::string_view text) {
  std::size_t i = 0;
  while (i < 3 && i < text.size() && utf8_continuation(text[i])) ++i;
  return text.substr(i);
}

// Keeps the first and last parts of the output, so that both how a command
// started and how it failed survive a flood in between.
class OutputBuffer {
 public:
  explicit OutputBuffer(std::size_t limit) : m_head_cap(limit - limit / 2), m_tail_cap(limit / 2) {}

  void append(std::string_view data) {
    m_total += data.size();
    const std::size_t to_head = std::min(data.size(), m_head_cap - m_head.size());
    m_head.append(data.substr(0, to_head));
    m_tail.append(data.substr(to_head));
    // Trimmed in batches, so that each byte is moved a bounded number of times.
    if (m_tail.size() > std::max<std::size_t>(2 * m_tail_cap, 4096)) {
      m_tail.erase(0, m_tail.size() - m_tail_cap);
    }
  }

  std::string finish() const {
    if (m_total <= m_head_cap + m_tail_cap) return m_head + m_tail;
    const std::string_view head = cut_utf8_end(m_head);
    std::string_view tail = m_tail;
    tail = cut_utf8_start(tail.substr(tail.size() - std::min(tail.size(), m_tail_cap)));
    std::string out(head);
    if (!out.empty() && out.back() != '\n') out += '\n';
    out += "[... " + std::to_string(m_total - head.size() - tail.size()) + " bytes omitted ...]\n";
    out += tail;
    return out;
  }

 private:
  std::size_t m_head_cap;
  std::size_t m_tail_cap;
  std::string m_head;
  std::string m_tail;
  std::size_t m_total = 0;
};

// Reads what is there; returns false at end of file.
bool read_into(int fd, OutputBuffer& output, const std::string& command) {
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      output.append(std::string_view(buf, static_cast<std::size_t>(n)));
      return true;
    }
    if (n == 0) return false;
    if (errno == EAGAIN) return true;
    if (errno != EINTR) throw system_error(errno, "cannot read the output of " + quote(command));
  }
}

// Waits up to `wait` for output (or just waits, when `fd` is -1). Returns
// true when the descriptor is readable or at end of file.
bool wait_for_output(int fd, Clock::duration wait) {
  const auto ms = std::max<milliseconds::rep>(0, std::chrono::ceil<milliseconds>(wait).count());
  pollfd pfd{fd, POLLIN, 0};
  const int n = ::poll(fd >= 0 ? &pfd : nullptr, fd >= 0 ? 1 : 0, static_cast<int>(ms));
  if (n < 0 && errno != EINTR) throw system_error(errno, "cannot wait for a command's output");
  return n > 0;
}

// The signal that asked lastmile to stop while a command ran, or 0.
volatile std::sig_atomic_t g_stop_signal = 0;

extern "C" void note_stop_signal(int sig) { g_stop_signal = sig; }

// While a command runs in its own process group, a Ctrl-C at the terminal
// reaches only lastmile: it is caught here so that the command's group is
// killed and its temporary files removed before lastmile exits with 130,
// instead of leaving the command running unsupervised.
class StopSignals {
 public:
  StopSignals() {
    g_stop_signal = 0;
    struct sigaction action {};
    action.sa_handler = note_stop_signal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = 0;  // no SA_RESTART: poll() returns at once with EINTR
    for (std::size_t i = 0; i < k_signals.size(); ++i) ::sigaction(k_signals[i], &action, &m_old[i]);
  }
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;
  ~StopSignals() {
    for (std::size_t i = 0; i < k_signals.size(); ++i) ::sigaction(k_signals[i], &m_old[i], nullptr);
  }

  static void throw_if_stopped(const std::string& command) {
    if (const int sig = g_stop_signal) {
      const char* name = sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "SIGHUP";
      throw Error(ExitCode::interrupted,
                  std::string("interrupted by ") + name + "; stopped " + quote(command));
    }
  }

 private:
  static constexpr std::array<int, 3> k_signals{SIGINT, SIGTERM, SIGHUP};
  std::array<struct sigaction, 3> m_old{};
};

// Reads the output and watches the clock until the child has exited and
// the pipe is at end of file, or the end-of-file grace has run out.
class Supervisor {
 public:
  Supervisor(Child& child, int fd, const ProcessRequest& request, OutputBuffer& output)
      : m_child(child),
        m_fd(fd),
        m_command(request.argv[0]),
        m_output(output),
        m_deadline(Clock::now() + std::clamp(request.timeout, milliseconds(0), k_max_timeout)) {}

  // Returns true when the child was killed for running past the timeout.
  bool run() {
    for (;;) {
      StopSignals::throw_if_stopped(m_command);  // ~Child kills the group
      const auto now = Clock::now();
      if (!m_exited_at && m_child.reap()) m_exited_at = now;
      if (m_exited_at && m_eof) return m_timed_out;
      if (m_exited_at && now >= *m_exited_at + k_eof_grace) {
        // A descendant still holds the output open: a gate must not hang on it.
        m_child.kill_group(SIGKILL);
        return m_timed_out;
      }
      enforce_timeout(now);
      wait(now);
    }
  }

 private:
  void enforce_timeout(Clock::time_point now) {
    if (m_exited_at) return;
    if (!m_term_sent && now >= m_deadline) {
      m_timed_out = true;
      m_child.kill_group(SIGTERM);
      m_term_sent = now;
    } else if (m_term_sent && !m_kill_sent && now >= *m_term_sent + k_kill_grace) {
      m_child.kill_group(SIGKILL);
      m_kill_sent = true;
    }
  }

  Clock::time_point next_event() const {
    if (m_exited_at) return *m_exited_at + k_eof_grace;
    if (!m_term_sent) return m_deadline;
    if (!m_kill_sent) return *m_term_sent + k_kill_grace;
    return Clock::time_point::max();
  }

  // Reading while the pipe is open; once it is not, polling for the exit
  // with a backoff, as an exit cannot be polled for without a signal handler.
  void wait(Clock::time_point now) {
    const Clock::duration tick = m_eof ? Clock::duration(m_idle_tick) : k_read_tick;
    const auto until = std::min(next_event(), now + tick);
    if (wait_for_output(m_eof ? -1 : m_fd, until - now)) {
      m_eof = !read_into(m_fd, m_output, m_command);
    }
    if (m_eof) m_idle_tick = std::min(m_idle_tick * 2, k_max_idle_tick);
  }

  Child& m_child;
  int m_fd;
  const std::string& m_command;
  OutputBuffer& m_output;
  Clock::time_point m_deadline;
  std::optional<Clock::time_point> m_exited_at;
  std::optional<Clock::time_point> m_term_sent;
  bool m_kill_sent = false;
  bool m_timed_out = false;
  bool m_eof = false;
  milliseconds m_idle_tick{1};
};

void set_exit_status(ProcessResult& result, int status) {
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) result.signal = WTERMSIG(status);
}

}  // namespace

ProcessResult run_process(const ProcessRequest& request) {
  const auto start = Clock::now();
  ProcessResult result;
  if (auto problem = request_problem(request)) {
    result.start_error = *problem;
    return result;
  }
  const StopSignals stop_signals;
  Pipe pipe = make_pipe();
  pid_t pid = 0;
  const int rc = spawn(request, pipe, pid);
  // Our copy of the write end would keep end of file from ever arriving.
  pipe.write = UniqueFd();
  if (rc != 0) {
    result.start_error = start_error(rc, request);
    return result;
  }
  result.started = true;
  Child child(pid, request.argv[0]);
  OutputBuffer output(request.output_limit);
  result.timed_out = Supervisor(child, pipe.read.get(), request, output).run();
  set_exit_status(result, child.status());
  result.output = output.finish();
  result.duration = std::chrono::duration_cast<milliseconds>(Clock::now() - start);
  return result;
}

}  // namespace lm
