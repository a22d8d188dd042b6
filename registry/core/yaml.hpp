#pragma once
// YAML read into the same JSON values the rest of lastmile works with.

#include <string_view>

#include "registry/core/json.hpp"

namespace YAML {
class Node;
}

namespace lm {

// Parses a YAML document: mappings become objects, sequences arrays, plain
// scalars that read as decimal numbers, booleans or null become those (as
// in the YAML 1.2 core schema, without hexadecimal, octal or infinities),
// everything else strings. Throws Error(data) naming `source`,
// the line and the column.
Json parse_yaml(std::string_view text, std::string_view source);

// One parsed YAML node, read the same way. Throws Error(data) naming
// `source` when it is nested too deeply or holds text that is not UTF-8.
Json yaml_to_json(const YAML::Node& node, std::string_view source);

// An unquoted scalar as parse_yaml reads it: "3" is a number, "true" a
// boolean, "" and "null" are null, anything else is text.
Json plain_yaml_scalar(const std::string& text);

}  // namespace lm
