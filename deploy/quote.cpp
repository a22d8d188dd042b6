#include "deploy/quote.hpp"

#include <cstdio>

#include "registry/core/error.hpp"

namespace lm::deploy {

namespace {

std::string hex_escape(const char* prefix, unsigned value, int digits) {
  char buffer[16];
  std::snprintf(buffer, sizeof buffer, "%s%0*X", prefix, digits, value);
  return buffer;
}

// Decodes the code point starting at text[i] (well-formed UTF-8) and
// advances i past it.
char32_t next_code_point(std::string_view text, std::size_t& i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char lead = byte(i);
  if (lead < 0x80) return text[i++];
  const int length = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
  char32_t cp = lead & (0x7F >> length);  // 0x1F, 0x0F, 0x07: the bits after the length prefix
  for (int k = 1; k < length; ++k) cp = (cp << 6) | (byte(i + k) & 0x3F);
  i += length;
  return cp;
}

bool is_lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool is_alnum(char c) { return is_lower_alnum(c) || (c >= 'A' && c <= 'Z'); }

std::string label_problem(std::string_view name, bool letter_first) {
  if (name.empty()) return "it is empty";
  if (name.size() > 63) return "it is longer than 63 characters";
  for (const char c : name) {
    if (!is_lower_alnum(c) && c != '-') {
      return "it holds " + quote(std::string(1, c)) + "; only lowercase letters, digits and '-' are allowed";
    }
  }
  if (letter_first && !(name.front() >= 'a' && name.front() <= 'z')) return "it must start with a letter";
  if (!is_lower_alnum(name.front())) return "it must start with a letter or digit";
  if (!is_lower_alnum(name.back())) return "it must end with a letter or digit";
  return "";
}

}  // namespace

std::optional<OutputFormat> parse_output_format(std::string_view name) {
  if (name == "yaml") return OutputFormat::yaml;
  if (name == "compose") return OutputFormat::compose;
  if (name == "systemd") return OutputFormat::systemd;
  if (name == "text") return OutputFormat::text;
  return std::nullopt;
}

const char* format_name(OutputFormat format) {
  switch (format) {
    case OutputFormat::yaml: return "yaml";
    case OutputFormat::compose: return "compose";
    case OutputFormat::systemd: return "systemd";
    case OutputFormat::text: return "text";
  }
  return "text";
}

std::string yaml_quote(std::string_view raw) {
  const std::string text = to_valid_utf8(raw);
  std::string out = "\"";
  for (std::size_t i = 0; i < text.size();) {
    const std::size_t start = i;
    const char32_t cp = next_code_point(text, i);
    switch (cp) {
      case '"': out += "\\\""; continue;
      case '\\': out += "\\\\"; continue;
      case '\n': out += "\\n"; continue;
      case '\t': out += "\\t"; continue;
      case '\r': out += "\\r"; continue;
      case 0x85: out += "\\N"; continue;    // next line: a line break to YAML
      case 0x2028: out += "\\L"; continue;  // line separator
      case 0x2029: out += "\\P"; continue;  // paragraph separator
      default: break;
    }
    // Control characters, and what YAML 1.1 readers refuse to see raw.
    if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F)) {
      out += hex_escape("\\x", static_cast<unsigned>(cp), 2);
    } else if (cp == 0xFEFF || cp == 0xFFFE || cp == 0xFFFF) {
      out += hex_escape("\\u", static_cast<unsigned>(cp), 4);
    } else {
      out.append(text, start, i - start);
    }
  }
  return out + "\"";
}

std::string systemd_quote(std::string_view raw, bool first_word) {
  const std::string text = to_valid_utf8(raw);
  // A leading - @ + : ! on the first word of ExecStart= is a prefix
  // (ignore failure, argv0, privileges); quoted, it is just text.
  bool plain = !text.empty() &&
               !(first_word && std::string_view("-@+:!").find(text.front()) != std::string_view::npos);
  for (const char c : text) {
    plain = plain && (is_alnum(c) || std::string_view("_.,:/@+=-").find(c) != std::string_view::npos);
  }
  if (plain) return text;
  std::string out = "\"";
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      case '%': out += "%%"; break;
      case '$': out += "$$"; break;
      default:
        if (byte < 0x20 || byte == 0x7F) {
          out += hex_escape("\\x", byte, 2);
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

std::string number_text(const Json& number) {
  if (number.is_number_integer()) return number.dump();
  std::string text = number.dump();
  // "1e-05" is a string to YAML 1.1; "1.0e-05" is a number to both.
  const auto e = text.find_first_of("eE");
  if (e != std::string::npos && text.find('.') == std::string::npos) text.insert(e, ".0");
  return text;
}

namespace {

// In a unit file: nothing systemd would expand or read as a prefix.
std::string unit_word_problem(const std::string& text, bool first_word) {
  if (text.find('$') != std::string::npos) {
    return quote(text) + " holds a $, which systemd expands in ExecStart= but not in Environment=";
  }
  if (first_word && (text == ";" || (!text.empty() && std::string_view("-@+:!").find(text.front()) != std::string_view::npos))) {
    return quote(text) + " starts with " + quote(text.substr(0, 1)) + ", which ExecStart= reads as a prefix";
  }
  return "";
}

}  // namespace

std::string encoding_problem(const Json& value, OutputFormat format) {
  if (format != OutputFormat::systemd) return "";
  if (value.is_object()) return "a mapping cannot be written into a unit file";
  if (value.is_string()) return unit_word_problem(value.get<std::string>(), true);
  if (value.is_array()) {
    for (std::size_t i = 0; i < value.size(); ++i) {
      const Json& item = value[i];
      const std::string p = item.is_string() ? unit_word_problem(item.get<std::string>(), i == 0)
                                             : encoding_problem(item, format);
      if (!p.empty()) return p;
    }
  }
  return "";
}

std::optional<std::string> encode_value(const Json& value, OutputFormat format) {
  const bool yaml = format == OutputFormat::yaml || format == OutputFormat::compose;
  if (format == OutputFormat::systemd && !encoding_problem(value, format).empty()) return std::nullopt;
  if (value.is_string()) {
    const std::string& text = value.get_ref<const std::string&>();
    switch (format) {
      case OutputFormat::yaml: return yaml_quote(text);
      case OutputFormat::systemd: return systemd_quote(text, true);
      case OutputFormat::text: return text;
      case OutputFormat::compose: {
        std::string doubled;
        for (const char c : text) doubled += c == '$' ? std::string("$$") : std::string(1, c);
        return yaml_quote(doubled);
      }
    }
  }
  if (value.is_number()) return number_text(value);
  if (value.is_boolean()) return value.get<bool>() ? "true" : "false";
  if (value.is_array()) {
    std::string out;
    for (const auto& item : value) {
      // After the first word, a leading - is an option, not a prefix.
      const auto encoded = format == OutputFormat::systemd && !out.empty() && item.is_string()
                               ? std::optional(systemd_quote(item.get_ref<const std::string&>(), false))
                               : encode_value(item, format);
      if (!encoded) return std::nullopt;
      out += (out.empty() ? "" : yaml ? ", " : " ") + *encoded;
    }
    return yaml ? "[" + out + "]" : out;
  }
  if (value.is_object() && yaml) {
    std::string out;
    for (const auto& [key, item] : value.items()) {
      const auto encoded = encode_value(item, format);
      if (!encoded) return std::nullopt;
      out += (out.empty() ? "" : ", ") + yaml_quote(key) + ": " + *encoded;
    }
    return "{" + out + "}";
  }
  return std::nullopt;
}

std::string dns1035_label_problem(std::string_view name) { return label_problem(name, true); }

std::string rfc1123_label_problem(std::string_view name) { return label_problem(name, false); }

std::string label_value_problem(std::string_view value) {
  if (value.empty()) return "";
  if (value.size() > 63) return "it is longer than 63 characters";
  for (const char c : value) {
    if (!is_alnum(c) && c != '-' && c != '_' && c != '.') {
      return "it holds " + quote(std::string(1, c)) + "; only letters, digits, '-', '_' and '.' are allowed";
    }
  }
  if (!is_alnum(value.front()) || !is_alnum(value.back())) return "it must start and end with a letter or digit";
  return "";
}

}  // namespace lm::deploy
