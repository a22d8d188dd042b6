#include "registry/deploy_settings.hpp"

#include <map>

#include "registry/core/error.hpp"
#include "registry/core/yaml.hpp"

namespace lm {

namespace {

enum class Kind { text, whole, text_list, any_mapping, mapping };

struct Field {
  Kind kind;
  long long min = 0;
  long long max = 0;
  std::map<std::string, Field> fields;  // for Kind::mapping
};

constexpr std::size_t k_max_text = 4096;

const std::map<std::string, Field>& schema() {
  static const std::map<std::string, Field> fields = {
      {"name", {Kind::text}},
      {"namespace", {Kind::text}},
      {"image", {Kind::text}},
      {"storage_uri", {Kind::text}},
      {"model_format", {Kind::text}},
      {"replicas", {Kind::whole, 0, 10000}},
      {"port", {Kind::whole, 1, 65535}},
      {"protocol", {Kind::text}},
      {"runtime", {Kind::text}},
      {"resources",
       {Kind::mapping, 0, 0, {{"cpu", {Kind::text}}, {"memory", {Kind::text}}, {"gpu", {Kind::whole, 0, 64}}}}},
      {"probes", {Kind::mapping, 0, 0, {{"live", {Kind::text}}, {"ready", {Kind::text}}}}},
      {"command", {Kind::text_list}},
      {"values", {Kind::any_mapping}},
  };
  return fields;
}

std::string known_keys(const std::map<std::string, Field>& fields) {
  std::string list;
  for (const auto& [key, field] : fields) list += (list.empty() ? "" : ", ") + key;
  return list;
}

std::string describe(const Json& value) {
  if (value.is_string()) return quote(value.get<std::string>());
  if (value.is_array()) return "a list";
  if (value.is_object()) return "a mapping";
  return value.dump();
}

class Checker {
 public:
  explicit Checker(std::vector<SettingProblem>& problems) : m_problems(problems) {}

  void check_mapping(Json& object, const std::map<std::string, Field>& fields,
                     std::vector<std::string>& path) {
    if (!object.is_object()) {
      add(path, setting_name(path) + " must be a mapping, got " + describe(object));
      return;
    }
    for (auto it = object.begin(); it != object.end();) {
      path.push_back(it.key());
      const auto field = fields.find(it.key());
      if (field == fields.end()) {
        add(path, "unknown setting " + setting_name(path) + " (the settings are " + known_keys(fields) + ")");
        ++it;
      } else if (it.value().is_null()) {
        it = object.erase(it);
      } else {
        check(it.value(), field->second, path);
        ++it;
      }
      path.pop_back();
    }
  }

 private:
  void add(const std::vector<std::string>& path, std::string message) {
    m_problems.push_back({path, std::move(message)});
  }

  void check(Json& value, const Field& field, std::vector<std::string>& path) {
    switch (field.kind) {
      case Kind::text:
        return check_text(value, path);
      case Kind::whole:
        if (!value.is_number_integer() || value.get<long long>() < field.min ||
            value.get<long long>() > field.max) {
          add(path, setting_name(path) + " must be a whole number from " + std::to_string(field.min) +
                        " to " + std::to_string(field.max) + ", got " + describe(value));
        }
        return;
      case Kind::text_list:
        if (!value.is_array() || value.empty()) {
          add(path, setting_name(path) + " must be a non-empty list of text, got " + describe(value));
          return;
        }
        for (auto& item : value) check_text(item, path);
        return;
      case Kind::any_mapping:
        if (!value.is_object()) add(path, setting_name(path) + " must be a mapping, got " + describe(value));
        return;
      case Kind::mapping:
        return check_mapping(value, field.fields, path);
    }
  }

  // Text settings take numbers and booleans as their text: `cpu: 2` and
  // `--set namespace=2024` mean what they say.
  void check_text(Json& value, const std::vector<std::string>& path) {
    if (value.is_number() || value.is_boolean()) value = value.dump();
    if (!value.is_string() || value.get<std::string>().empty()) {
      add(path, setting_name(path) + " must be text, got " + (value.is_string() ? "nothing" : describe(value)));
      return;
    }
    if (value.get<std::string>().size() > k_max_text) {
      add(path, setting_name(path) + " is longer than " + std::to_string(k_max_text) + " bytes");
    }
  }

  std::vector<SettingProblem>& m_problems;
};

bool valid_key_segment(std::string_view key) {
  if (key.empty() || key.size() > 128) return false;
  for (const char c : key) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

std::string setting_name(const std::vector<std::string>& path) {
  std::string name = "deploy";
  for (const auto& key : path) name += "." + printable(key);
  return name;
}

Json default_deploy_settings() {
  return {{"replicas", 1},
          {"port", 8080},
          {"protocol", "v2"},
          {"resources", {{"cpu", "1"}, {"memory", "2Gi"}}},
          {"probes", {{"live", "/v2/health/live"}, {"ready", "/v2/health/ready"}}}};
}

std::vector<SettingProblem> normalise_deploy_settings(Json& settings) {
  std::vector<SettingProblem> problems;
  std::vector<std::string> path;
  Checker(problems).check_mapping(settings, schema(), path);
  return problems;
}

Json merge_settings(Json base, const Json& overlay) {
  if (!base.is_object() || !overlay.is_object()) return overlay;
  for (const auto& [key, value] : overlay.items()) {
    if (value.is_null()) {
      base.erase(key);
    } else if (base.contains(key) && base[key].is_object() && value.is_object()) {
      base[key] = merge_settings(base[key], value);
    } else {
      base[key] = value;
    }
  }
  return base;
}

void apply_set(Json& settings, std::string_view assignment) {
  const auto equals = assignment.find('=');
  const std::string key(assignment.substr(0, equals == std::string_view::npos ? 0 : equals));
  if (equals == std::string_view::npos || key.empty()) {
    throw Error(ExitCode::usage, "--set " + quote(assignment) + " is not KEY=VALUE",
                "e.g. --set replicas=3 or --set resources.memory=4Gi");
  }
  std::vector<std::string> path;
  std::size_t start = 0;
  while (true) {
    const auto dot = key.find('.', start);
    const std::string segment = key.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (!valid_key_segment(segment)) {
      throw Error(ExitCode::usage, "--set " + quote(key) + " is not a setting name",
                  "a setting is a dotted path of letters, digits, _ and -, e.g. resources.memory");
    }
    path.push_back(segment);
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  const std::string text(assignment.substr(equals + 1));
  Json value;
  // [a, b] and {k: v} are a list and a mapping, "a b" and 'a b' quoted
  // text; {{name}}... is a pattern.
  const bool pattern = text.rfind("{{", 0) == 0;
  if (!text.empty() && std::string_view("[{\"'").find(text.front()) != std::string_view::npos && !pattern) {
    try {
      value = parse_yaml(text, "--set " + key);
    } catch (const Error& e) {
      throw Error(ExitCode::usage, e.what(), "quote items holding {{ or , e.g. --set 'command=[serve, \"{{name}}\"]'");
    }
  } else {
    value = text.empty() || pattern ? Json(text) : plain_yaml_scalar(text);
  }
  Json* node = &settings;
  for (std::size_t i = 0; i + 1 < path.size(); ++i) {
    Json& next = (*node)[path[i]];
    if (!next.is_object()) next = Json::object();
    node = &next;
  }
  (*node)[path.back()] = std::move(value);
}

}  // namespace lm
