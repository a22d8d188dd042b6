#include "registry/core/yaml.hpp"

#include <yaml-cpp/yaml.h>

#include <charconv>
#include <cmath>
#include <regex>

#include "registry/core/error.hpp"

namespace lm {

namespace {

constexpr int k_max_depth = 64;

}  // namespace

// A plain scalar as the YAML 1.2 core schema reads it.
Json plain_yaml_scalar(const std::string& text) {
  if (text.empty() || text == "~" || text == "null" || text == "Null" || text == "NULL") return nullptr;
  if (text == "true" || text == "True" || text == "TRUE") return true;
  if (text == "false" || text == "False" || text == "FALSE") return false;
  static const std::regex integer(R"([-+]?[0-9]+)");
  static const std::regex number(R"([-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?)");
  if (std::regex_match(text, integer)) {
    long long value = 0;
    const char* begin = text.data() + (text[0] == '+' ? 1 : 0);
    const auto [ptr, ec] = std::from_chars(begin, text.data() + text.size(), value);
    if (ec == std::errc() && ptr == text.data() + text.size()) return value;
  }
  if (std::regex_match(text, number)) {
    double value = 0;
    const char* begin = text.data() + (text[0] == '+' ? 1 : 0);
    const auto [ptr, ec] = std::from_chars(begin, text.data() + text.size(), value);
    if (ec == std::errc() && ptr == text.data() + text.size() && std::isfinite(value)) return value;
  }
  return text;
}

namespace {

// yaml-cpp passes bytes through (and turns some, such as a NUL, into
// others); a string that is not UTF-8 could not be written as JSON.
const std::string& utf8_scalar(const YAML::Node& node, std::string_view source) {
  if (!valid_utf8(node.Scalar())) {
    throw Error(ExitCode::data, "YAML in " + quote(source) + ": line " + std::to_string(node.Mark().line + 1) +
                                    " holds text that is not UTF-8");
  }
  return node.Scalar();
}

Json convert(const YAML::Node& node, std::string_view source, int depth) {
  if (depth > k_max_depth) {
    throw Error(ExitCode::data, "YAML in " + quote(source) + " is nested too deeply");
  }
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return nullptr;
    case YAML::NodeType::Scalar:
      // A quoted scalar (tag "!") is always a string.
      return node.Tag() == "!" ? Json(utf8_scalar(node, source)) : plain_yaml_scalar(utf8_scalar(node, source));
    case YAML::NodeType::Sequence: {
      Json list = Json::array();
      for (const auto& item : node) list.push_back(convert(item, source, depth + 1));
      return list;
    }
    case YAML::NodeType::Map: {
      Json object = Json::object();
      for (const auto& item : node) {
        // A key that is a list or a mapping ({[a]: 1}) has no JSON form.
        if (!item.first.IsScalar() && !item.first.IsNull()) {
          throw Error(ExitCode::data, "YAML in " + quote(source) + ": line " +
                                          std::to_string(item.first.Mark().line + 1) +
                                          " has a key that is not text");
        }
        // An empty key reads as "null", as yaml-cpp gives it.
        const std::string key = item.first.IsNull() ? "null" : utf8_scalar(item.first, source);
        object[key] = convert(item.second, source, depth + 1);
      }
      return object;
    }
  }
  return nullptr;
}

}  // namespace

Json yaml_to_json(const YAML::Node& node, std::string_view source) {
  return convert(node, source, 0);
}

Json parse_yaml(std::string_view text, std::string_view source) {
  try {
    return convert(YAML::Load(std::string(text)), source, 0);
  } catch (const YAML::Exception& e) {
    throw Error(ExitCode::data, "malformed YAML in " + quote(source) + ": line " +
                                    std::to_string(e.mark.line + 1) + ", column " +
                                    std::to_string(e.mark.column + 1) + ": " + printable(e.msg));
  }
}

}  // namespace lm
