#include "deploy/template.hpp"

#include <kainjow/mustache.hpp>
#include <yaml-cpp/yaml.h>
#include <yaml-cpp/eventhandler.h>

#include <algorithm>
#include <optional>
#include <sstream>
#include <vector>

#include "registry/core/error.hpp"

namespace lm::deploy {

namespace {

namespace mu = kainjow::mustache;
using Data = mu::data;

// ---- reading a template ------------------------------------------------

struct Tag {
  std::size_t begin = 0;  // offset of "{{"
  std::size_t end = 0;    // offset just past "}}"
  char kind = 0;          // 'v' variable, '#', '^', '/', '!'
  std::string name;
  int line = 0;
};

// Tag names and file names are the template's text: escaped, so that the
// message stays on one line.
Error template_error(const std::string& origin, int line, const std::string& message) {
  return Error(ExitCode::data, printable(origin + ":" + std::to_string(line) + ": " + message),
               "templates are Mustache: {{name}}, {{#section}}...{{/section}}, {{^inverted}}, {{! comment}}");
}

std::string trimmed(std::string_view text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return "";
  const auto last = text.find_last_not_of(" \t\r\n");
  return std::string(text.substr(first, last - first + 1));
}

// Finds every tag. Partials and delimiter changes are refused: a manifest
// template needs neither, and both would let text escape the checks.
std::vector<Tag> scan_tags(std::string_view text, const std::string& origin, int first_line) {
  std::vector<Tag> tags;
  int line = first_line;
  std::size_t counted = 0;
  for (std::size_t pos = text.find("{{"); pos != std::string_view::npos; pos = text.find("{{", pos)) {
    for (; counted < pos; ++counted) line += text[counted] == '\n';
    Tag tag;
    tag.begin = pos;
    tag.line = line;
    const bool triple = pos + 2 < text.size() && text[pos + 2] == '{';
    const std::string_view close = triple ? "}}}" : "}}";
    const std::size_t stop = text.find(close, pos + (triple ? 3 : 2));
    if (stop == std::string_view::npos) throw template_error(origin, line, "a tag opened with {{ is never closed");
    tag.end = stop + close.size();
    std::string_view contents = text.substr(pos + (triple ? 3 : 2), stop - pos - (triple ? 3 : 2));
    // kainjow reads the sigil after leading spaces: "{{ #x }}" is a section.
    while (!contents.empty() && (contents.front() == ' ' || contents.front() == '\t')) contents.remove_prefix(1);
    const char first = contents.empty() ? 'v' : contents.front();
    if (triple || first == '&') {
      tag.kind = 'v';
      if (!triple) contents.remove_prefix(1);
    } else if (first == '#' || first == '^' || first == '/' || first == '!') {
      tag.kind = first;
      contents.remove_prefix(1);
    } else if (first == '>') {
      throw template_error(origin, line, "partials ({{> name}}) are not supported in templates");
    } else if (first == '=') {
      throw template_error(origin, line, "changing delimiters ({{= =}}) is not supported in templates");
    } else {
      tag.kind = 'v';
    }
    tag.name = trimmed(contents);
    if (tag.kind != '!' && tag.name.empty()) throw template_error(origin, line, "a tag has no name");
    // The renderer marks section names with '?'; a name cannot start with one.
    if (tag.kind != '!' && tag.name.front() == '?') {
      throw template_error(origin, line, "a tag name cannot start with '?': {{" + tag.name + "}}");
    }
    tags.push_back(std::move(tag));
    pos = tags.back().end;
  }
  return tags;
}

bool on_comment_line(std::string_view text, std::size_t pos) {
  const std::size_t start = text.rfind('\n', pos == 0 ? 0 : pos - 1);
  const std::size_t line_start = start == std::string_view::npos || pos == 0 ? 0 : start + 1;
  const std::size_t first = text.find_first_not_of(" \t", line_start);
  return first != std::string_view::npos && first < pos && text[first] == '#';
}

// In YAML a value is inserted as a whole quoted scalar, so a variable must
// stand alone: `key: {{x}}`, `{{x}}: value`, `- {{x}}`, `[{{x}}, {{y}}]`.
// The check reads a skeleton of the template: section and comment tags
// removed (they render no text) and each variable one \x01.
// How deep in [ ] and { } the skeleton is at `at`, counting from the start
// of its line (flow collections in templates stay on one line).
int flow_depth(std::string_view text, std::size_t at) {
  const std::size_t newline = at == 0 ? std::string_view::npos : text.rfind('\n', at - 1);
  int depth = 0;
  bool quoted = false;
  for (std::size_t i = newline == std::string_view::npos ? 0 : newline + 1; i < at; ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '\\') ++i;
      else if (c == '"') quoted = false;
    } else if (c == '"') {
      quoted = true;
    } else if (c == '[' || c == '{') {
      ++depth;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return depth;
}

// Whether only "- " sequence entries stand between the start of the line
// and `i`: "- {{x}}" and "- - {{x}}", not "img - {{x}}".
bool only_entries_before(std::string_view text, std::size_t i) {
  while (i > 0 && text[i - 1] != '\n') {
    const char c = text[i - 1];
    if (c != ' ' && c != '-' && c != '?') return false;
    if ((c == '-' || c == '?') && (i >= 2 && text[i - 2] != ' ' && text[i - 2] != '\n')) return false;
    --i;
  }
  return true;
}

bool starts_value(std::string_view text, std::size_t at) {
  std::size_t i = at;
  while (i > 0 && text[i - 1] == ' ') --i;
  if (i == 0 || text[i - 1] == '\n') return true;  // a key, or a value on its own line
  const char c = text[i - 1];
  if (c == '[' || c == '{') return true;
  if (c == ',') return flow_depth(text, i) > 0;  // in block context a comma is text
  if (i == at) return false;                      // "key:{{x}}", "a-{{x}}"
  if (c == ':') return true;                      // "key: {{x}}"
  return (c == '-' || c == '?') && only_entries_before(text, i);
}

bool ends_value(std::string_view text, std::size_t after) {
  std::size_t i = after;
  while (i < text.size() && text[i] == ' ') ++i;
  if (i == text.size() || text[i] == '\n' || text[i] == '\r') return true;
  const char c = text[i];
  if (c == ',' || c == ']' || c == '}') return true;
  if (c == '#') return i > after;  // a comment needs a space before it
  return c == ':' && i == after;   // a key
}

void check_whole_values(std::string_view text, const std::vector<Tag>& tags, const std::string& origin) {
  std::string skeleton;
  std::vector<std::pair<std::size_t, const Tag*>> variables;  // position in skeleton, tag
  std::size_t copied = 0;
  for (const Tag& tag : tags) {
    skeleton.append(text, copied, tag.begin - copied);
    if (tag.kind == 'v' && !on_comment_line(text, tag.begin)) {
      variables.emplace_back(skeleton.size(), &tag);
      skeleton += '\x01';
    }
    copied = tag.end;
  }
  skeleton.append(text, copied, std::string_view::npos);
  for (const auto& [at, tag] : variables) {
    if (!starts_value(skeleton, at) || !ends_value(skeleton, at + 1)) {
      throw template_error(origin, tag->line,
                           "{{" + tag->name + "}} is part of a larger value; in a YAML template each "
                           "variable must be a whole value, because it is inserted quoted");
    }
  }
}

// A section or comment tag alone on its line leaves no blank line behind
// (Mustache's "standalone" rule): its indentation and line break go.
struct Span {
  std::size_t begin;
  std::size_t end;
};
Span standalone_span(std::string_view text, const Tag& tag) {
  if (tag.kind == 'v') return {tag.begin, tag.end};
  std::size_t begin = tag.begin;
  while (begin > 0 && (text[begin - 1] == ' ' || text[begin - 1] == '\t')) --begin;
  if (begin > 0 && text[begin - 1] != '\n') return {tag.begin, tag.end};
  std::size_t end = tag.end;
  while (end < text.size() && (text[end] == ' ' || text[end] == '\t' || text[end] == '\r')) ++end;
  if (end < text.size() && text[end] != '\n') return {tag.begin, tag.end};
  return {begin, end < text.size() ? end + 1 : end};
}

// The body handed to kainjow: section tags renamed "?name" so the context
// can tell a section's lookup (missing means false) from a variable's
// (missing is an error), and standalone tag lines taken out.
std::string mark_sections(std::string_view text, const std::vector<Tag>& tags) {
  std::string out;
  std::size_t copied = 0;
  for (const Tag& tag : tags) {
    Span span = standalone_span(text, tag);
    if (span.begin < copied) span.begin = tag.begin;  // two tags on one line: keep it simple
    out.append(text, copied, span.begin - copied);
    if (tag.kind == '#' || tag.kind == '^' || tag.kind == '/') {
      out += "{{";
      out += tag.kind;
      out += "?" + tag.name + "}}";
    } else if (tag.kind == 'v') {
      out.append(text, tag.begin, tag.end - tag.begin);
    }
    copied = span.end;
  }
  out.append(text, copied, std::string_view::npos);
  return out;
}

void check_sections_balance(const std::vector<Tag>& tags, const std::string& origin) {
  std::vector<const Tag*> open;
  for (const Tag& tag : tags) {
    if (tag.kind == '#' || tag.kind == '^') open.push_back(&tag);
    if (tag.kind != '/') continue;
    if (open.empty() || open.back()->name != tag.name) {
      throw template_error(origin, tag.line,
                           "{{/" + tag.name + "}} closes " +
                               (open.empty() ? std::string("no open section") : "{{#" + open.back()->name + "}}"));
    }
    open.pop_back();
  }
  if (!open.empty()) throw template_error(origin, open.back()->line, "{{#" + open.back()->name + "}} is never closed");
}

std::optional<OutputFormat> format_from_extension(std::string_view file) {
  const auto dot = file.rfind('.');
  const std::string_view ext = dot == std::string_view::npos ? "" : file.substr(dot + 1);
  if (ext == "yaml" || ext == "yml") return OutputFormat::yaml;
  if (ext == "service" || ext == "socket" || ext == "timer" || ext == "path") return OutputFormat::systemd;
  return std::nullopt;
}

// ---- rendering -----------------------------------------------------------

// The context as kainjow data. Text and numbers are stored already encoded
// for the format; lists, mappings and booleans keep their shape for
// sections and get an encoded form for when a template inserts them whole.
class Values {
 public:
  Values(const Json& context, OutputFormat format) : m_format(format), m_root(build(context)) {
    index(context, &m_root);
  }
  Values(const Values&) = delete;
  Values& operator=(const Values&) = delete;

  const Data& root() const { return m_root; }
  const Json* raw(const Data* node) const {
    const auto it = m_raw.find(node);
    return it == m_raw.end() ? nullptr : it->second;
  }
  // What a variable tag inserts for `node`; nullptr when the format cannot
  // hold it.
  const Data* as_variable(const Data* node) const {
    const auto it = m_encoded.find(node);
    if (it != m_encoded.end()) return it->second ? &*it->second : nullptr;
    return node->is_string() ? node : nullptr;
  }

 private:
  Data build(const Json& value) const {
    if (value.is_object()) {
      Data object(Data::type::object);
      for (const auto& [key, item] : value.items()) {
        if (!item.is_null()) object.set(key, build(item));
      }
      return object;
    }
    if (value.is_array()) {
      Data list(Data::type::list);
      for (const auto& item : value) {
        if (!item.is_null()) list.push_back(build(item));
      }
      return list;
    }
    if (value.is_boolean()) return Data(value.get<bool>());
    return Data(encode_value(value, m_format).value_or(std::string()));
  }

  void index(const Json& value, const Data* node) {
    m_raw[node] = &value;
    // Text the format cannot hold was stored empty by build(); mark it.
    if (!node->is_string() || !encode_value(value, m_format)) m_encoded[node] = encoded(value);
    if (value.is_object()) {
      for (const auto& [key, item] : value.items()) {
        if (!item.is_null()) index(item, node->get(key));
      }
    } else if (value.is_array()) {
      auto it = node->list_value().begin();
      for (const auto& item : value) {
        if (!item.is_null()) index(item, &*it++);
      }
    }
  }

  std::optional<Data> encoded(const Json& value) const {
    const auto text = encode_value(value, m_format);
    if (!text) return std::nullopt;
    return Data(*text);
  }

  OutputFormat m_format;
  Data m_root;
  std::map<const Data*, const Json*> m_raw;
  std::map<const Data*, std::optional<Data>> m_encoded;
};

struct Lookups {
  std::vector<std::string> missing;
  std::vector<std::pair<std::string, std::string>> refused;  // name, reason
  std::vector<std::pair<std::string, const Json*>> unencodable;  // name, value
};

// Resolves names the Mustache way, and notes what a variable tag asks for
// that has no value, that a check refuses, or that the format cannot hold.
class CheckedContext : public mu::context<std::string> {
 public:
  // `checks` apply to the values at those dotted paths of the context, however
  // a template reaches them ({{deploy.name}}, or {{name}} inside {{#deploy}}).
  CheckedContext(const Values& values, const Json& tree, const std::map<std::string, ValueCheck>& checks,
                 Lookups& lookups)
      : mu::context<std::string>(&values.root()), m_values(values), m_lookups(lookups) {
    for (const auto& [path, check] : checks) {
      const Json* node = &tree;
      std::size_t start = 0;
      while (node && start <= path.size()) {
        const std::size_t dot = std::min(path.find('.', start), path.size());
        const std::string key = path.substr(start, dot - start);
        node = node->is_object() && node->contains(key) ? &(*node)[key] : nullptr;
        start = dot + 1;
      }
      if (node) m_checks.emplace(node, std::make_pair(path, check));
    }
  }

  const Data* get_partial(const std::string&) const override { return nullptr; }

  const Data* get(const std::string& name) const override {
    if (!name.empty() && name.front() == '?') return mu::context<std::string>::get(name.substr(1));
    const Data* found = mu::context<std::string>::get(name);
    if (!found) {
      m_lookups.missing.push_back(name);
      return nullptr;
    }
    if (const Json* raw = m_values.raw(found)) {
      if (const auto check = m_checks.find(raw); check != m_checks.end()) {
        const std::string reason = check->second.second(*raw);
        if (!reason.empty()) m_lookups.refused.emplace_back(check->second.first, reason);
      }
    }
    const Data* value = m_values.as_variable(found);
    if (!value) m_lookups.unencodable.emplace_back(name, m_values.raw(found));
    return value;
  }

 private:
  const Values& m_values;
  std::map<const Json*, std::pair<std::string, ValueCheck>> m_checks;
  Lookups& m_lookups;
};

std::string missing_hint(const std::string& name) {
  if (name == "model_format" || name == "format") {
    return "the version has no recorded format: set deploy.model_format (e.g. --set model_format=sklearn), "
           "or register the next version with --format";
  }
  if (name.rfind("deploy.", 0) == 0) {
    return "set " + name + " in lastmile.yaml, in a --values file, or with --set " + name.substr(7) + "=VALUE";
  }
  return "'lastmile deploy context REF' shows every variable a template can use";
}

std::string render_body(const std::string& body, const Json& context, OutputFormat format,
                        const std::map<std::string, ValueCheck>& checks, const std::string& what) {
  mu::mustache engine(body);
  if (!engine.is_valid()) throw Error(ExitCode::data, printable(what + ": " + engine.error_message()));
  // Values arrive encoded for the format; HTML escaping would corrupt them.
  engine.set_custom_escape([](const std::string& s) { return s; });
  const Values values(context, format);
  Lookups lookups;
  CheckedContext ctx(values, context, checks, lookups);
  std::ostringstream out;
  engine.render(ctx, out);
  if (!engine.is_valid()) throw Error(ExitCode::data, printable(what + ": " + engine.error_message()));
  if (!lookups.missing.empty()) {
    const std::string name = printable(lookups.missing.front());
    throw Error(ExitCode::config, what + " uses {{" + name + "}}, which has no value", missing_hint(name));
  }
  if (!lookups.refused.empty()) {
    const std::string name = printable(lookups.refused.front().first);
    const std::string& reason = lookups.refused.front().second;
    throw Error(ExitCode::usage, what + ": {{" + name + "}} cannot be used: " + reason,
                name.rfind("deploy.", 0) == 0
                    ? "set a valid " + name + " in lastmile.yaml, or with --set " + name.substr(7) + "=VALUE"
                    : "a template can use only values its target accepts");
  }
  if (!lookups.unencodable.empty()) {
    const std::string name = printable(lookups.unencodable.front().first);
    const Json* raw = lookups.unencodable.front().second;
    const std::string reason = raw ? encoding_problem(*raw, format) : "";
    const auto holds_mapping = [](const Json& v) {
      return v.is_object() || (v.is_array() && std::any_of(v.begin(), v.end(), [](const Json& i) { return i.is_object(); }));
    };
    if (raw && holds_mapping(*raw)) {
      throw Error(ExitCode::data, what + " inserts {{" + name + "}}, which " + format_name(format) +
                                      " output cannot hold as one value: " + reason,
                  "insert its fields one by one, or iterate it with a section");
    }
    throw Error(ExitCode::usage, what + " cannot insert {{" + name + "}}: " + reason,
                "change the value; it cannot be written safely into this file");
  }
  return out.str();
}

// Reads every document of `text`, as YAML::LoadAll does, but refuses a
// document that does not move the parser on: yaml-cpp 0.7 loops forever
// (collecting empty documents) on a ',' that starts one.
class DocumentStarts : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark& mark) override { start = mark; }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}

  YAML::Mark start;
};

void read_all_documents(const std::string& text) {
  std::istringstream in(text);
  YAML::Parser parser(in);
  DocumentStarts events;
  int previous = -1;
  while (parser.HandleNextDocument(events)) {
    if (events.start.pos == previous) throw YAML::ParserException(events.start, "a document starts with a token it cannot start with");
    previous = events.start.pos;
  }
}

void check_yaml_output(const std::string& text, const std::string& what) {
  try {
    read_all_documents(text);
  } catch (const YAML::Exception& e) {
    throw Error(ExitCode::data,
                what + " rendered YAML that does not parse: line " + std::to_string(e.mark.line + 1) + ": " + printable(e.msg),
                "check the template's indentation and that each {{variable}} stands for a whole value");
  }
}

void check_unit_output(const std::string& text, const std::string& what) {
  std::istringstream lines(text);
  std::string line;
  int number = 0;
  while (std::getline(lines, line)) {
    ++number;
    const std::string t = trimmed(line);
    if (t.empty() || t.front() == '#' || t.front() == ';') continue;
    if (t.front() == '[' && t.back() == ']') continue;
    const auto equals = t.find('=');
    bool key_ok = equals != std::string::npos && equals > 0;
    for (std::size_t i = 0; key_ok && i < equals; ++i) {
      const char c = t[i];
      key_ok = std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == ' ';
    }
    if (!key_ok) {
      throw Error(ExitCode::data, what + " rendered a unit file whose line " + std::to_string(number) +
                                      " is neither [Section], Key=value nor a comment",
                  "check the template");
    }
  }
}

}  // namespace

std::string template_target(std::string_view file_name) {
  constexpr std::string_view suffix = ".mustache";
  if (file_name.size() <= suffix.size() || file_name.substr(file_name.size() - suffix.size()) != suffix) return "";
  const std::string_view output = file_name.substr(0, file_name.size() - suffix.size());
  const std::string_view target = output.substr(0, output.find('.'));
  if (target.empty() || target.size() > 63) return "";
  for (const char c : target) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_')) return "";
  }
  return std::string(target);
}

Template parse_template(std::string_view file_name, std::string_view text, const std::string& origin) {
  Template t;
  t.target = template_target(file_name);
  if (t.target.empty()) {
    throw Error(ExitCode::data, "template file name " + quote(file_name) + " is not TARGET.EXT.mustache",
                "e.g. kubernetes.yaml.mustache; the target is lowercase letters, digits, - and _");
  }
  t.file_name = std::string(file_name.substr(0, file_name.size() - 9));
  t.origin = origin;
  if (!valid_utf8(text)) throw Error(ExitCode::data, origin + " is not UTF-8 text");
  std::optional<OutputFormat> format = format_from_extension(t.file_name);
  int first_line = 1;
  // The header: a leading comment tag of "key: value" lines.
  if (text.substr(0, 3) == "{{!") {
    const std::size_t stop = text.find("}}");
    if (stop == std::string_view::npos) throw template_error(origin, 1, "the header comment is never closed");
    std::istringstream header{std::string(text.substr(3, stop - 3))};
    std::string line;
    int line_number = 0;
    while (std::getline(header, line)) {
      ++line_number;
      const std::string entry = trimmed(line);
      if (entry.empty()) continue;
      const auto colon = entry.find(':');
      const std::string key = colon == std::string::npos ? entry : trimmed(entry.substr(0, colon));
      const std::string value = colon == std::string::npos ? "" : trimmed(entry.substr(colon + 1));
      if (key == "description") {
        t.description = value;
      } else if (key == "format") {
        format = parse_output_format(value);
        if (!format) {
          throw template_error(origin, line_number, "unknown format " + quote(value) + " (use yaml, compose, systemd or text)");
        }
      } else {
        throw template_error(origin, line_number,
                             "unknown header entry " + quote(key) + " (the header has description: and format:)");
      }
    }
    std::size_t body = stop + 2;
    for (std::size_t i = 0; i < body; ++i) first_line += text[i] == '\n';
    if (body < text.size() && text[body] == '\n') {
      ++body;
      ++first_line;
    }
    text.remove_prefix(body);
  }
  if (!format) {
    throw template_error(origin, 1, "cannot tell the output format from " + quote(t.file_name) +
                                        "; add 'format: yaml' (or compose, systemd, text) to the header comment");
  }
  t.format = *format;
  const std::vector<Tag> tags = scan_tags(text, origin, first_line);
  check_sections_balance(tags, origin);
  if (t.format == OutputFormat::yaml || t.format == OutputFormat::compose) check_whole_values(text, tags, origin);
  t.body = mark_sections(text, tags);
  return t;
}

std::string render_template(const Template& t, const Json& context,
                            const std::map<std::string, ValueCheck>& checks) {
  const std::string what = "template " + quote(t.target) + " (" + t.origin + ")";
  std::string text = render_body(t.body, context, t.format, checks, what);
  if (!text.empty() && text.back() != '\n') text += '\n';
  if (t.format == OutputFormat::yaml || t.format == OutputFormat::compose) check_yaml_output(text, what);
  if (t.format == OutputFormat::systemd) check_unit_output(text, what);
  return text;
}

std::string render_pattern(std::string_view pattern, const Json& context, const std::string& what) {
  const std::vector<Tag> tags = scan_tags(pattern, what, 1);
  check_sections_balance(tags, what);
  return render_body(mark_sections(pattern, tags), context, OutputFormat::text, {}, what);
}

}  // namespace lm::deploy
