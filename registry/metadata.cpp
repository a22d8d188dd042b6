#include "registry/metadata.hpp"

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "registry/core/error.hpp"
#include "registry/core/json.hpp"
#include "registry/core/yaml.hpp"

namespace lm {

namespace {

constexpr std::size_t k_max_key_bytes = 128;

void flatten(const Json& node, const std::string& prefix, std::string_view source,
             MetricsFile& out) {
  for (const auto& [key, value] : node.items()) {
    const std::string name = prefix.empty() ? key : prefix + "." + key;
    // Checked before going deeper: the key limit also bounds the nesting.
    if (name.size() > k_max_key_bytes) {
      throw Error(ExitCode::data, "metric name " + quote(name.substr(0, 40) + "...") + " in " +
                                      quote(source) + " is longer than 128 bytes");
    }
    if (value.is_object()) {
      flatten(value, name, source, out);
      continue;
    }
    try {
      validate_key(name, "metric in " + quote(source));
    } catch (const Error& e) {
      throw Error(ExitCode::data, e.what(), e.hint());
    }
    if (value.is_number() && std::isfinite(value.get<double>())) {
      out.metrics[name] = value.get<double>();
    } else {
      // Not a number: kept, as text, rather than dropped.
      out.labels[name] = value.is_string() ? value.get<std::string>() : value.dump();
    }
  }
}

bool is_yaml(std::string_view source) {
  std::string lower(source);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const auto ends_with = [&](std::string_view suffix) {
    return lower.size() >= suffix.size() && lower.substr(lower.size() - suffix.size()) == suffix;
  };
  return ends_with(".yaml") || ends_with(".yml");
}

}  // namespace

MetricsFile parse_metrics_file(std::string_view text, std::string_view source) {
  const Json doc = is_yaml(source) ? parse_yaml(text, source) : parse_json(text, source);
  if (!doc.is_object()) {
    throw Error(ExitCode::data, "metrics file " + quote(source) + " must hold an object of metrics",
                "for example {\"auc\": 0.91, \"eval\": {\"loss\": 0.2}}");
  }
  MetricsFile out;
  flatten(doc, "", source, out);
  return out;
}

void validate_key(std::string_view key, std::string_view flag) {
  bool ok = !key.empty() && key.size() <= k_max_key_bytes;
  for (char c : key) {
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '.' || c == '_' || c == '-' || c == '/');
  }
  if (!ok) {
    throw Error(ExitCode::usage, "invalid key " + quote(key) + " for " + std::string(flag),
                "keys are 1 to 128 letters, digits and . _ - /");
  }
}

std::pair<std::string, std::string> parse_key_value(std::string_view arg, std::string_view flag) {
  const auto eq = arg.find('=');
  if (eq == std::string_view::npos) {
    throw Error(ExitCode::usage,
                std::string(flag) + " expects KEY=VALUE, got " + quote(arg));
  }
  std::string key(arg.substr(0, eq));
  std::string value(arg.substr(eq + 1));
  validate_key(key, flag);
  validate_text(value, std::string(flag) + " " + key, 4096);
  return {key, value};
}

StringMap parse_key_values(const std::vector<std::string>& args, std::string_view flag) {
  StringMap out;
  for (const auto& arg : args) {
    auto [key, value] = parse_key_value(arg, flag);
    out[key] = value;
  }
  return out;
}

double parse_metric_value(std::string_view key, std::string_view value) {
  double number = 0;
  const auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), number);
  if (value.empty() || ec != std::errc() || ptr != value.data() + value.size() ||
      !std::isfinite(number)) {
    throw Error(ExitCode::usage,
                "metric " + quote(key) + " is not a number: " + quote(value),
                "metrics are numbers; record text with --label " + std::string(key) + "=VALUE");
  }
  return number;
}

void validate_text(std::string_view text, std::string_view what, std::size_t max_bytes) {
  if (text.size() > max_bytes) {
    throw Error(ExitCode::usage, std::string(what) + " is " + std::to_string(text.size()) +
                                     " bytes long (at most " + std::to_string(max_bytes) + ")");
  }
  if (text.find('\0') != std::string_view::npos || !valid_utf8(text)) {
    throw Error(ExitCode::usage, std::string(what) + " is not valid UTF-8 text");
  }
}

std::string format_metric(double value) {
  char buf[64];
  // Shortest form that reads back as the same double.
  const auto [ptr, ec] = std::to_chars(buf, buf + sizeof buf, value);
  return ec == std::errc() ? std::string(buf, ptr) : std::to_string(value);
}

}  // namespace lm
