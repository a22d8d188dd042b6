#pragma once
// A throwaway git repository with a hermetic environment, and a way to run
// the real lastmile binary in it the way a user does.

#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace lm::test {

namespace fs = std::filesystem;

struct RunResult {
  int rc = -1;
  std::string out;
  std::string err;

  nlohmann::json json() const;  // parses out; fails the test if it is not JSON
};

struct RunOptions {
  std::map<std::string, std::string> env;  // added to (or replacing) the sandbox env
  std::vector<std::string> unset;          // removed from the sandbox env
  fs::path cwd;                            // default: the repository
  std::string stdin_text;
  bool as_unprivileged_user = false;       // run as nobody (when root)
};

// A program started and not yet waited for (a test that kills it, or runs
// several at once). The destructor kills and reaps it if nobody waited.
class Child {
 public:
  Child(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
        const fs::path& cwd, const std::string& stdin_text);
  ~Child();
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  int pid() const { return m_pid; }
  void kill(int signal) const;
  // Reads its output to the end and reaps it; rc is 128 + the signal that
  // ended it, if one did.
  RunResult wait();

 private:
  int m_pid = -1;
  int m_out = -1;
  int m_err = -1;
};

class Sandbox {
 public:
  // Creates <tmp>/lastmile-test.XXXXXX/repo as a git repository with one commit.
  explicit Sandbox(bool git_repo = true);
  ~Sandbox();
  Sandbox(const Sandbox&) = delete;
  Sandbox& operator=(const Sandbox&) = delete;

  const fs::path& root() const { return m_root; }  // holds repo/ and home/
  const fs::path& repo() const { return m_repo; }
  fs::path registry() const { return m_repo / ".lastmile"; }

  // Writes a file (parents created) relative to the repository.
  fs::path write(const fs::path& rel, const std::string& content);
  std::string read(const fs::path& rel) const;

  // Runs lastmile with args.
  RunResult run(const std::vector<std::string>& args, const RunOptions& opts = {}) const;
  // Runs any program (argv[0] looked up in PATH).
  RunResult exec(const std::vector<std::string>& argv, const RunOptions& opts = {}) const;
  // Starts lastmile, or any program, without waiting for it.
  std::unique_ptr<Child> start(const std::vector<std::string>& args, const RunOptions& opts = {}) const;
  std::unique_ptr<Child> start_program(const std::vector<std::string>& argv,
                                       const RunOptions& opts = {}) const;
  // Runs git in the repository; fails the test when git fails.
  void git(const std::vector<std::string>& args) const;

  // The number of events in the registry's log (read with SQLite directly).
  long event_count() const;
  // Runs one SQL statement against the registry database.
  void sql(const std::string& statement) const;
  // Every file under .lastmile/objects and .lastmile/tmp, sorted.
  std::vector<std::string> stored_files() const;

  std::map<std::string, std::string> base_env() const;

 private:
  fs::path m_root;
  fs::path m_repo;
};

// A python3 that can import yaml, to read YAML with a parser of its own:
// the system's first (python3-yaml; it also starts faster than a version
// manager's shim), else the first on PATH. Fails the test when there is none.
std::string python_with_yaml(const Sandbox& sb);

// Runs a program and captures its output; `argv[0]` is looked up in PATH.
RunResult spawn(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                const fs::path& cwd, const std::string& stdin_text);

}  // namespace lm::test
