#pragma once
// Running lastmile under the fault shim (faultshim.c) and judging what one
// injected fault left behind. Nothing here uses Catch2, so that several
// sandboxes can be driven from threads at once.

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "tests/e2e/sandbox.hpp"

namespace lm::stress::faults {

namespace fs = std::filesystem;
using lm::test::RunResult;
using lm::test::Sandbox;

inline const std::vector<std::string> k_families = {"write", "fsync", "rename", "open", "malloc"};

// One injected fault: the n-th call of `family` fails with `error`; a
// persistent fault fails every later call of the family too.
struct Fault {
  std::string family;
  long n = 0;
  std::string error;  // EIO, ENOSPC, ENOMEM, EACCES
  bool persistent = false;

  std::string spec() const;  // "write:7:ENOSPC:persistent", as LASTMILE_FAULT takes it
};

// What the shim wrote when the program's main returned.
struct ShimReport {
  bool written = false;                 // false: the process died before main returned
  std::map<std::string, long> calls;    // calls of each family
  long failed_calls = 0;
  std::string injected;                 // "write 7 pwrite64 fd:5"; empty when never reached
};

// A command line of lastmile that changes the registry.
struct Operation {
  std::string name;  // "register a file"
  std::vector<std::string> args;
};

// What the registry holds: every event, and every file under .lastmile
// other than the database's own.
struct RegistryState {
  std::vector<std::string> events;           // "kind subject actor payload", in order
  std::map<std::string, std::string> files;  // path under .lastmile -> bytes
};

// Runs `op` under the shim: counting calls only when `fault` is null.
struct ShimRun {
  RunResult result;
  ShimReport shim;
};
ShimRun run_under_shim(const Sandbox& sb, const Operation& op, const Fault* fault);

RegistryState capture(const Sandbox& sb);

// Replaces the sandbox's .lastmile with a copy of `pristine`.
void restore(const Sandbox& sb, const fs::path& pristine);

// The outcome of one fault, judged. `problems` is empty when lastmile
// behaved: success, or a clear error with the registry as it was or wholly
// changed, verify and fsck clean, and the operation succeeding when rerun.
struct Verdict {
  bool reached = false;  // the n-th call happened
  std::string injected;  // the call that failed, as the shim reports it
  bool git_object = false;  // it opened a git object: libgit2 reports "not found"
  int rc = -1;
  std::string first_error_line;
  std::vector<std::string> problems;
};
Verdict run_and_judge(const Sandbox& sb, const fs::path& pristine, const Operation& op,
                      const Fault& fault, const RegistryState& before, const RegistryState& after);

// The exit codes DESIGN.md §9 allows for a fault with errno `error`, and the
// words of the message that say what the system reported.
std::vector<int> allowed_exit_codes(const std::string& error);
std::vector<std::string> errno_words(const std::string& error);

}  // namespace lm::stress::faults
