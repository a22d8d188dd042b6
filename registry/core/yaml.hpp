#pragma once
// YAML read into the same JSON values the rest of lastmile works with.

#include <string_view>

#include "registry/core/json.hpp"

namespace lm {

// Parses a YAML document: mappings become objects, sequences arrays, plain
// scalars that read as decimal numbers, booleans or null become those (as
// in the YAML 1.2 core schema, without hexadecimal, octal or infinities),
// everything else strings. Throws Error(data) naming `source`,
// the line and the column.
Json parse_yaml(std::string_view text, std::string_view source);

}  // namespace lm
