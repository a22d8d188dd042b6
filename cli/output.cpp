#include "cli/output.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>

#include "registry/core/error.hpp"

namespace lm::cli {

namespace {

bool env_set(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0';
}

std::size_t display_width(std::string_view text) {
  std::size_t width = 0;
  bool in_escape = false;
  for (unsigned char c : text) {
    if (in_escape) {
      if (c == 'm') in_escape = false;
      continue;
    }
    if (c == 0x1b) {
      in_escape = true;
      continue;
    }
    if ((c & 0xC0) != 0x80) ++width;  // count code points, not bytes
  }
  return width;
}

}  // namespace

ColorMode parse_color_mode(std::string_view text) {
  if (text == "auto") return ColorMode::auto_detect;
  if (text == "always") return ColorMode::always;
  if (text == "never") return ColorMode::never;
  throw Error(ExitCode::usage, "invalid --color " + quote(text) + ": use auto, always or never");
}

bool use_color(ColorMode mode, int fd) {
  if (mode == ColorMode::always) return true;
  if (mode == ColorMode::never) return false;
  if (env_set("NO_COLOR")) return false;
  if (env_set("CLICOLOR_FORCE") && std::strcmp(std::getenv("CLICOLOR_FORCE"), "0") != 0) return true;
  if (env_set("FORCE_COLOR")) return true;
  const char* term = std::getenv("TERM");
  return ::isatty(fd) == 1 && !(term && std::strcmp(term, "dumb") == 0);
}

Output::Output(bool json, bool quiet, bool verbose, ColorMode color)
    : m_json(json),
      m_quiet(quiet),
      m_verbose(verbose),
      m_stdout_color(!json && use_color(color, STDOUT_FILENO)),
      m_stderr_color(use_color(color, STDERR_FILENO)) {}

void Output::line(std::string_view text) const {
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fputc('\n', stdout);
}

void Output::json_document(const Json& doc) const {
  const std::string text = doc.dump(2, ' ', false, Json::error_handler_t::replace);
  line(text);
}

void Output::note(std::string_view text) const {
  if (m_quiet) return;
  std::fflush(stdout);
  std::fprintf(stderr, "%.*s\n", static_cast<int>(text.size()), text.data());
}

void Output::warn(std::string_view text) const {
  std::fflush(stdout);
  std::fprintf(stderr, "lastmile: %s %.*s\n",
               m_stderr_color ? "\033[33mwarning:\033[0m" : "warning:",
               static_cast<int>(text.size()), text.data());
}

std::string Output::paint(std::string_view code, std::string_view text) const {
  if (!m_stdout_color) return std::string(text);
  return "\033[" + std::string(code) + "m" + std::string(text) + "\033[0m";
}

std::string Output::bold(std::string_view text) const { return paint("1", text); }
std::string Output::green(std::string_view text) const { return paint("32", text); }
std::string Output::red(std::string_view text) const { return paint("31", text); }
std::string Output::yellow(std::string_view text) const { return paint("33", text); }
std::string Output::dim(std::string_view text) const { return paint("2", text); }

std::string short_digest(std::string_view digest) {
  return std::string(digest.substr(0, std::min<std::size_t>(digest.size(), 7 + 12)));
}

std::string format_table(const std::vector<std::vector<std::string>>& rows, const Output& out) {
  std::vector<std::size_t> widths;
  for (const auto& row : rows) {
    if (widths.size() < row.size()) widths.resize(row.size(), 0);
    for (std::size_t i = 0; i < row.size(); ++i) {
      widths[i] = std::max(widths[i], display_width(printable(row[i])));
    }
  }
  std::string text;
  for (std::size_t r = 0; r < rows.size(); ++r) {
    std::string line;
    for (std::size_t i = 0; i < rows[r].size(); ++i) {
      const bool last = i + 1 == rows[r].size();
      std::string cell = printable(rows[r][i]);
      if (!last) cell += std::string(widths[i] - display_width(cell) + 2, ' ');
      line += cell;
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    text += (r == 0 ? out.bold(line) : line);
    if (r + 1 < rows.size()) text += '\n';
  }
  return text;
}

std::string short_time(std::string_view rfc3339) {
  if (rfc3339.size() < 16) return std::string(rfc3339);
  std::string text(rfc3339.substr(0, 16));
  text[10] = ' ';
  return text;
}

}  // namespace lm::cli
