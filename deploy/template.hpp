#pragma once
// Mustache templates for manifests. A template is a file NAME.EXT.mustache
// that renders NAME.EXT; it may begin with a comment header
//
//   {{! description: Kubernetes Deployment and Service
//       format: yaml }}
//
// Rendering differs from plain Mustache in three ways, all so that a
// manifest is either right or refused:
//   - every value is written through the format's quoting (deploy/quote.hpp);
//   - a variable with no value is an error naming it and the template;
//   - in YAML each {{variable}} must be a whole value (a scalar, a key or a
//     flow item), since it is inserted quoted.
// Sections ({{#x}}...{{/x}}, {{^x}}) work as usual: a missing x is false.

#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "deploy/quote.hpp"
#include "registry/core/json.hpp"

namespace lm::deploy {

struct Template {
  std::string target;       // "kubernetes"
  std::string file_name;    // what it renders: "kubernetes.yaml"
  std::string description;  // one line, for 'deploy targets'
  OutputFormat format = OutputFormat::yaml;
  std::string origin;       // "built-in", or the file it was read from
  std::string body;         // Mustache text, as the renderer wants it
};

// Reads the template file `file_name` ("kubernetes.yaml.mustache"). Throws
// Error(data) naming `origin` and the line of a malformed tag or header, a
// partial or delimiter change (not supported), or a YAML variable that is
// part of a larger value.
Template parse_template(std::string_view file_name, std::string_view text, const std::string& origin);

// The target a template file defines ("kubernetes" for
// "kubernetes.yaml.mustache"), or "" when the name is not a template's.
std::string template_target(std::string_view file_name);

// A check run on a variable's value when a template uses it; returns "" when
// the value is acceptable, else the reason it is not.
using ValueCheck = std::function<std::string(const Json& value)>;

// Renders `t` with `context`. Throws Error(config) for a variable with no
// value, Error(usage) for a value a check refuses, Error(data) when the
// template produces a file that does not parse as its format.
std::string render_template(const Template& t, const Json& context,
                            const std::map<std::string, ValueCheck>& checks = {});

// Renders a settings pattern such as "s3://models/{{name}}/{{version}}"
// with unquoted values; `what` names it in errors ("deploy.storage_uri").
std::string render_pattern(std::string_view pattern, const Json& context, const std::string& what);

}  // namespace lm::deploy
