#include "tests/e2e/sandbox.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

extern char** environ;

namespace lm::test {

namespace {

void check(bool ok, const std::string& what) {
  if (!ok) throw std::runtime_error(what + ": " + std::strerror(errno));
}

std::string parent_env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

}  // namespace

nlohmann::json RunResult::json() const {
  INFO("stdout: " << out << "\nstderr: " << err);
  nlohmann::json doc;
  REQUIRE_NOTHROW(doc = nlohmann::json::parse(out));
  return doc;
}

Child::Child(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
             const fs::path& cwd, const std::string& stdin_text) {
  int out_pipe[2], err_pipe[2], in_pipe[2];
  check(::pipe2(out_pipe, O_CLOEXEC) == 0 && ::pipe2(err_pipe, O_CLOEXEC) == 0 &&
            ::pipe2(in_pipe, O_CLOEXEC) == 0,
        "pipe");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in_pipe[0], 0);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
  posix_spawn_file_actions_addchdir_np(&actions, cwd.c_str());
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<std::string> env_strings;
  for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  const int rc = posix_spawnp(&m_pid, args[0], &actions, nullptr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  ::close(in_pipe[0]);
  if (rc != 0) {
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    ::close(in_pipe[1]);
    m_pid = -1;
    throw std::runtime_error("cannot run " + argv[0] + ": " + std::strerror(rc));
  }
  if (!stdin_text.empty()) {
    [[maybe_unused]] auto n = ::write(in_pipe[1], stdin_text.data(), stdin_text.size());
  }
  ::close(in_pipe[1]);
  m_out = out_pipe[0];
  m_err = err_pipe[0];
}

Child::~Child() {
  if (m_pid > 0) {
    ::kill(m_pid, SIGKILL);
    wait();
  }
}

void Child::kill(int signal) const {
  if (m_pid > 0) ::kill(m_pid, signal);
}

RunResult Child::wait() {
  RunResult result;
  if (m_pid <= 0) return result;
  pollfd fds[2] = {{m_out, POLLIN, 0}, {m_err, POLLIN, 0}};
  std::string* sinks[2] = {&result.out, &result.err};
  int open_fds = 2;
  char buf[65536];
  while (open_fds > 0) {
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      const ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n > 0) {
        sinks[i]->append(buf, static_cast<std::size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  for (auto& fd : fds) {
    if (fd.fd >= 0) ::close(fd.fd);
  }
  int status = 0;
  while (::waitpid(m_pid, &status, 0) < 0 && errno == EINTR) {
  }
  m_pid = -1;
  result.rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

RunResult spawn(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                const fs::path& cwd, const std::string& stdin_text) {
  return Child(argv, env, cwd, stdin_text).wait();
}

Sandbox::Sandbox(bool git_repo) {
  const char* keep_base = std::getenv("TMPDIR");
  std::string pattern = std::string(keep_base && *keep_base ? keep_base : "/tmp") +
                        "/lastmile-test.XXXXXX";
  check(::mkdtemp(pattern.data()) != nullptr, "mkdtemp");
  m_root = fs::canonical(pattern);
  // Readable by others, so a test may run lastmile as an unprivileged user.
  ::chmod(m_root.c_str(), 0755);
  m_repo = m_root / "repo";
  fs::create_directories(m_repo);
  fs::create_directories(m_root / "home");
  // Identity the way users set it up: in the global git configuration.
  std::ofstream(m_root / "home/.gitconfig")
      << "[user]\n\tname = Ada Lovelace\n\temail = ada@example.com\n[init]\n\tdefaultBranch = main\n";
  if (git_repo) {
    git({"init", "-q", "-b", "main"});
    write("README.md", "# a project\n");
    git({"add", "README.md"});
    git({"commit", "-q", "-m", "initial commit"});
  }
}

Sandbox::~Sandbox() {
  const char* keep = std::getenv("LASTMILE_TEST_KEEP");
  if (keep && std::string(keep) == "1") return;
  std::error_code ec;
  // Make read-only test directories removable again.
  for (auto it = fs::recursive_directory_iterator(m_root, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (it->is_directory(ec) && !it->is_symlink(ec)) ::chmod(it->path().c_str(), 0755);
  }
  fs::remove_all(m_root, ec);
}

std::map<std::string, std::string> Sandbox::base_env() const {
  const std::string home = (m_root / "home").string();
  std::map<std::string, std::string> env = {
      {"PATH", parent_env("PATH").empty() ? "/usr/bin:/bin" : parent_env("PATH")},
      {"HOME", home},
      {"XDG_CONFIG_HOME", home + "/.config"},
      {"GIT_CONFIG_NOSYSTEM", "1"},
      {"GIT_CEILING_DIRECTORIES", m_root.string()},
      {"GIT_AUTHOR_DATE", "2026-01-01T00:00:00Z"},
      {"GIT_COMMITTER_DATE", "2026-01-01T00:00:00Z"},
      {"TZ", "UTC"},
      {"LC_ALL", "C"},
      {"NO_COLOR", "1"},
      {"USER", "ada"},
      {"TERM", "dumb"},
  };
  return env;
}

fs::path Sandbox::write(const fs::path& rel, const std::string& content) {
  const fs::path path = m_repo / rel;
  fs::create_directories(path.parent_path());
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << content;
  f.close();
  REQUIRE(f.good());
  return path;
}

std::string Sandbox::read(const fs::path& rel) const {
  std::ifstream f(rel.is_absolute() ? rel : m_repo / rel, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

RunResult Sandbox::exec(const std::vector<std::string>& argv, const RunOptions& opts) const {
  return start_program(argv, opts)->wait();
}

std::unique_ptr<Child> Sandbox::start_program(const std::vector<std::string>& argv,
                                              const RunOptions& opts) const {
  auto env = base_env();
  for (const auto& [k, v] : opts.env) env[k] = v;
  for (const auto& k : opts.unset) env.erase(k);
  std::vector<std::string> full = argv;
  if (opts.as_unprivileged_user && ::geteuid() == 0) {
    full.insert(full.begin(), {"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"});
  }
  return std::make_unique<Child>(full, env, opts.cwd.empty() ? m_repo : opts.cwd, opts.stdin_text);
}

RunResult Sandbox::run(const std::vector<std::string>& args, const RunOptions& opts) const {
  return start(args, opts)->wait();
}

std::unique_ptr<Child> Sandbox::start(const std::vector<std::string>& args, const RunOptions& opts) const {
  std::vector<std::string> argv{LASTMILE_BIN};
  argv.insert(argv.end(), args.begin(), args.end());
  return start_program(argv, opts);
}

void Sandbox::git(const std::vector<std::string>& args) const {
  std::vector<std::string> argv{"git"};
  argv.insert(argv.end(), args.begin(), args.end());
  const RunResult r = exec(argv);
  INFO("git " << args.front() << ": " << r.err);
  REQUIRE(r.rc == 0);
}

namespace {

struct Db {
  sqlite3* db = nullptr;
  explicit Db(const fs::path& path) {
    if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
      throw std::runtime_error("cannot open " + path.string());
    }
    sqlite3_busy_timeout(db, 10000);
  }
  ~Db() { sqlite3_close(db); }
};

}  // namespace

long Sandbox::event_count() const {
  if (!fs::exists(registry() / "registry.db")) return 0;
  Db db(registry() / "registry.db");
  sqlite3_stmt* stmt = nullptr;
  sqlite3_prepare_v2(db.db, "SELECT count(*) FROM events", -1, &stmt, nullptr);
  long n = -1;
  if (sqlite3_step(stmt) == SQLITE_ROW) n = sqlite3_column_int64(stmt, 0);
  sqlite3_finalize(stmt);
  return n;
}

void Sandbox::sql(const std::string& statement) const {
  Db db(registry() / "registry.db");
  char* error = nullptr;
  const int rc = sqlite3_exec(db.db, statement.c_str(), nullptr, nullptr, &error);
  INFO("sql: " << statement << ": " << (error ? error : ""));
  sqlite3_free(error);
  REQUIRE(rc == SQLITE_OK);
}

std::vector<std::string> Sandbox::stored_files() const {
  std::vector<std::string> files;
  for (const char* sub : {"objects", "tmp"}) {
    const fs::path dir = registry() / sub;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec)) {
      if (!it->is_directory()) files.push_back(it->path().lexically_relative(registry()).string());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::string python_with_yaml(const Sandbox& sb) {
  static std::string found;
  if (!found.empty()) return found;
  for (const char* candidate : {"/usr/bin/python3", "python3"}) {
    try {
      if (sb.exec({candidate, "-c", "import yaml"}).rc == 0) return found = candidate;
    } catch (const std::exception&) {
    }
  }
  FAIL("no python3 with the yaml module (python3-yaml) to read YAML");
  return "";
}

}  // namespace lm::test
