#include "registry/core/json.hpp"

#include "registry/core/error.hpp"

namespace lm {

namespace {

// The length of the well-formed UTF-8 sequence at s[i], or 0 when the bytes
// there are not one (bad lead or continuation byte, overlong, surrogate,
// beyond U+10FFFF, or cut short).
std::size_t utf8_sequence_length(std::string_view s, std::size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  std::size_t len;
  std::uint32_t cp;
  if (c < 0x80) {
    return 1;
  } else if ((c & 0xE0) == 0xC0) {
    len = 2;
    cp = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    len = 3;
    cp = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    len = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  for (std::size_t k = 1; k < len; ++k) {
    const auto cc = static_cast<unsigned char>(s[i + k]);
    if ((cc & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (cc & 0x3F);
  }
  const bool overlong = (len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
                        (len == 4 && cp < 0x10000);
  if (overlong || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

}  // namespace

bool valid_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t len = utf8_sequence_length(s, i);
    if (len == 0) return false;
    i += len;
  }
  return true;
}

std::string to_valid_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t len = utf8_sequence_length(s, i);
    if (len == 0) {
      out += "\xEF\xBF\xBD";  // U+FFFD REPLACEMENT CHARACTER
      ++i;
    } else {
      out.append(s.substr(i, len));
      i += len;
    }
  }
  return out;
}

std::string canonical_json(const Json& value) {
  try {
    // nlohmann::json keeps object keys in a std::map, so dump() sorts them.
    return value.dump(-1, ' ', false, Json::error_handler_t::strict);
  } catch (const Json::type_error& e) {
    throw Error(ExitCode::data, std::string("text is not valid UTF-8: ") + e.what());
  }
}

Json parse_json(std::string_view text, std::string_view source) {
  try {
    return Json::parse(text);
  } catch (const Json::out_of_range& e) {
    throw Error(ExitCode::data, "number out of range in " + quote(source));
  } catch (const Json::parse_error& e) {
    std::string detail = e.what();
    // "[json.exception.parse_error.101] parse error at line 1, column 2: ..."
    if (const auto pos = detail.find("] "); pos != std::string::npos) detail = detail.substr(pos + 2);
    // nlohmann quotes what it last read, DEL and all: escaped for one line.
    throw Error(ExitCode::data, "malformed JSON in " + quote(source) + ": " + printable(detail));
  }
}

}  // namespace lm
