#pragma once
// Running an external command, as a command gate does (./scripts/smoke.sh
// against a model): no shell, a time limit that reaches the command's own
// children, and bounded output.

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace lm {

struct ProcessRequest {
  // argv[0] with a '/' is a path (relative to `cwd`), else it is looked up in
  // lastmile's own PATH (a PATH in `env` reaches the command, not the lookup).
  std::vector<std::string> argv;
  // The child's working directory; empty means lastmile's own.
  std::filesystem::path cwd;
  // Set in the child on top of the inherited environment, replacing variables
  // of the same name; a later pair wins over an earlier one.
  std::vector<std::pair<std::string, std::string>> env;
  std::chrono::milliseconds timeout{300000};
  // Bytes of combined stdout and stderr kept.
  std::size_t output_limit = 64 * 1024;
  // The command's stdin; /dev/null when empty (a credential helper reads
  // the host it is asked about there).
  std::string input;
  // Sends stderr to /dev/null, for a command whose stdout is data to parse.
  bool discard_stderr = false;
};

struct ProcessResult {
  bool started = false;     // false: it could not be run at all
  std::string start_error;  // why not, when !started: "'./smoke.sh' not found"
  int exit_code = -1;       // when it exited
  int signal = 0;           // when a signal ended it
  bool timed_out = false;   // killed because it ran past the timeout
  // Combined stdout and stderr, as bytes (not necessarily UTF-8). When longer
  // than output_limit, the first and last halves are kept with a
  // "[... N bytes omitted ...]" line between.
  std::string output;
  std::chrono::milliseconds duration{0};
  bool succeeded() const { return started && !timed_out && signal == 0 && exit_code == 0; }
};

// Runs request.argv without a shell, stdin from request.input, stdout and
// stderr into one pipe, in a process group of its own. Past the timeout the whole
// group gets SIGTERM, then SIGKILL 2 s later. Once the command has exited,
// descendants still holding its output open get about 1 s before the group
// is killed; descendants that let go of the output are left running.
// Never throws for the command's own failures (they are in the result);
// throws system_error only when the machine cannot create a pipe, a process
// or similar.
ProcessResult run_process(const ProcessRequest& request);

}  // namespace lm
