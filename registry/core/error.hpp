#pragma once
// Errors and exit codes. Library code throws Error; only cli/main.cpp turns
// an Error into a message and an exit status.

#include <stdexcept>
#include <string>

namespace lm {

// Exit status of the lastmile executable (DESIGN.md §9, lastmile(1)).
enum class ExitCode : int {
  ok = 0,
  check_failed = 1,  // a check said no: gate, verify, refused promotion
  error = 2,         // runtime error with no better code
  usage = 64,        // bad flags, names, versions, references
  data = 65,         // malformed input data or corrupt registry
  not_found = 66,    // no registry, model, version or input file
  unavailable = 69,  // a remote is unreachable
  internal = 70,     // a bug
  io = 74,           // I/O error
  temp_fail = 75,    // registry locked past the timeout; safe to retry
  permission = 77,   // permission denied
  config = 78,       // configuration error
  interrupted = 130,
};

class Error : public std::runtime_error {
 public:
  Error(ExitCode code, const std::string& message, std::string hint = {})
      : std::runtime_error(message), m_code(code), m_hint(std::move(hint)) {}
  ExitCode code() const noexcept { return m_code; }
  // A suggestion printed after the message as "hint: ...", or empty.
  const std::string& hint() const noexcept { return m_hint; }

 private:
  ExitCode m_code;
  std::string m_hint;
};

// Returns the exit code that fits an errno value from a failed system call.
ExitCode exit_code_for_errno(int err) noexcept;

// Returns strerror(err) with a lowercase first letter, for messages in the
// "cannot open 'x': no such file or directory" form.
std::string errno_text(int err);

// Returns Error("<what>: <errno text>") with the code that fits err.
Error system_error(int err, const std::string& what);

// Quotes a user-supplied value for a message: 'value', with control
// characters shown as escapes so that a message stays on one line, and
// bytes that are not UTF-8 (\xff) and invisible or bidirectional
// formatting characters (\u{200b}) escaped so that no name looks like
// another.
std::string quote(std::string_view value);

// `value` with control characters shown as escapes (\n, \x1b), unquoted,
// so that it can neither break a line nor drive a terminal.
std::string printable(std::string_view value);

// `value` as printable() shows it, for a cell of a Markdown table: '|'
// would end the cell, and `, \, *, _, < and > would start markup.
std::string markdown_cell(std::string_view value);

}  // namespace lm
