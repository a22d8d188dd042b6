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

std::string quote(std::string_view value) {
  std::string out = "'";
  for (unsigned char c : value) {
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  out += "'";
  return out;
}

}  // namespace lm
