#pragma once
// Everything the CLI writes goes through here: results to stdout (text or
// one JSON document), diagnostics to stderr.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "registry/core/error.hpp"
#include "registry/core/json.hpp"
#include "registry/core/units.hpp"

namespace lm::cli {

enum class ColorMode { auto_detect, always, never };

// Parses --color; throws Error(usage).
ColorMode parse_color_mode(std::string_view text);

// Whether to colour output on `fd`: the flag wins, then NO_COLOR, then
// CLICOLOR_FORCE / FORCE_COLOR, then a terminal that is not TERM=dumb.
bool use_color(ColorMode mode, int fd);

class Output {
 public:
  Output(bool json, bool quiet, bool verbose, ColorMode color);

  bool json() const { return m_json; }
  bool quiet() const { return m_quiet; }
  bool verbose() const { return m_verbose; }

  // A result line (text mode) on stdout.
  void line(std::string_view text) const;
  // The result as one JSON document on stdout.
  void json_document(const Json& doc) const;
  // A note for people on stderr; silenced by -q.
  void note(std::string_view text) const;
  // "lastmile: warning: ..." on stderr.
  void warn(std::string_view text) const;

  // Styling for stdout text; plain when colour is off.
  std::string bold(std::string_view text) const;
  std::string green(std::string_view text) const;
  std::string red(std::string_view text) const;
  std::string yellow(std::string_view text) const;
  std::string dim(std::string_view text) const;

  bool stderr_color() const { return m_stderr_color; }

 private:
  std::string paint(std::string_view code, std::string_view text) const;
  bool m_json;
  bool m_quiet;
  bool m_verbose;
  bool m_stdout_color;
  bool m_stderr_color;
};


// "sha256:1a2b3c4d5e6f" — the digest shortened for tables.
std::string short_digest(std::string_view digest);

// Lays out rows in columns separated by two spaces; the first row is the
// header, printed bold when `out` colours.
std::string format_table(const std::vector<std::vector<std::string>>& rows, const Output& out);

// "2026-11-24 18:38" from an RFC 3339 time, for tables.
std::string short_time(std::string_view rfc3339);

}  // namespace lm::cli
