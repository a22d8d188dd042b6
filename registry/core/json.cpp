#include "registry/core/json.hpp"

#include "registry/core/error.hpp"

namespace lm {

bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t len;
    std::uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
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
      return false;
    }
    if (i + len > s.size()) return false;
    for (std::size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    const bool overlong = (len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
                          (len == 4 && cp < 0x10000);
    if (overlong || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
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
    throw Error(ExitCode::data, "malformed JSON in " + quote(source) + ": " + detail);
  }
}

}  // namespace lm
