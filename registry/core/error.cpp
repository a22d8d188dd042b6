#include "registry/core/error.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace lm {

ExitCode exit_code_for_errno(int err) noexcept {
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      return ExitCode::not_found;
    case EACCES:
    case EPERM:
    case EROFS:
      return ExitCode::permission;
    case EIO:
    case ENOSPC:
    case EDQUOT:
    case EFBIG:
    case EPIPE:
      return ExitCode::io;
    case EINTR:
      return ExitCode::interrupted;
    default:
      return ExitCode::error;
  }
}

std::string errno_text(int err) {
  std::string text = std::strerror(err);
  if (!text.empty() && text[0] >= 'A' && text[0] <= 'Z' &&
      !(text.size() > 1 && text[1] >= 'A' && text[1] <= 'Z')) {
    text[0] = static_cast<char>(text[0] - 'A' + 'a');
  }
  return text;
}

Error system_error(int err, const std::string& what) {
  return Error(exit_code_for_errno(err), what + ": " + errno_text(err));
}

std::string printable(std::string_view value) {
  const std::string quoted = quote(value);
  return quoted.substr(1, quoted.size() - 2);
}

std::string markdown_cell(std::string_view value) {
  std::string out;
  for (char c : printable(value)) {
    if (c == '|' || c == '`' || c == '\\' || c == '*' || c == '_' || c == '<' || c == '>') out += '\\';
    out += c;
  }
  return out;
}

namespace {

// The code point of the well-formed UTF-8 sequence at s[i] and its length,
// or length 0 when the bytes there are not one.
std::size_t decode_utf8(std::string_view s, std::size_t i, char32_t& cp) {
  const auto c = static_cast<unsigned char>(s[i]);
  const std::size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
  if (len == 0 || i + len > s.size()) return 0;
  cp = len == 1 ? c : c & (0x7F >> len);
  for (std::size_t k = 1; k < len; ++k) {
    const auto cc = static_cast<unsigned char>(s[i + k]);
    if ((cc & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (cc & 0x3F);
  }
  const bool overlong = (len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000);
  if (overlong || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

// Characters that print as nothing or reorder the text around them (C1
// controls, zero-width and bidirectional formatting characters): in a
// message they would make one name look like another.
bool invisible(char32_t cp) {
  return (cp >= 0x80 && cp <= 0x9F) || cp == 0xAD || cp == 0x061C || cp == 0x180E ||
         (cp >= 0x200B && cp <= 0x200F) || (cp >= 0x2028 && cp <= 0x202E) || (cp >= 0x2060 && cp <= 0x206F) ||
         cp == 0x3164 || cp == 0xFEFF || (cp >= 0xFFF9 && cp <= 0xFFFB) || (cp >= 0xE0000 && cp <= 0xE007F);
}

}  // namespace

std::string quote(std::string_view value) {
  std::string out = "'";
  for (std::size_t i = 0; i < value.size();) {
    const auto c = static_cast<unsigned char>(value[i]);
    char32_t cp = 0;
    const std::size_t len = decode_utf8(value, i, cp);
    char buf[16];
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (len == 0 || c < 0x20 || c == 0x7f) {  // a control character, or a byte that is not UTF-8
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else if (invisible(cp)) {
      std::snprintf(buf, sizeof buf, "\\u{%x}", static_cast<unsigned>(cp));
      out += buf;
      i += len;
      continue;
    } else {
      out.append(value.substr(i, len));
      i += len;
      continue;
    }
    ++i;
  }
  out += "'";
  return out;
}

}  // namespace lm
