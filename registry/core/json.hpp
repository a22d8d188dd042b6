#pragma once
// Canonical JSON: the one byte form the registry hashes (manifests, events).

#include <nlohmann/json.hpp>
#include <string>

namespace lm {

using Json = nlohmann::json;

// Returns the canonical form of `value`: keys sorted, no whitespace, UTF-8.
// Throws Error(data) when a string in it is not valid UTF-8.
std::string canonical_json(const Json& value);

// True when `text` is well-formed UTF-8 (no overlongs, no surrogates).
bool valid_utf8(std::string_view text);
// `text` with each byte that is not part of well-formed UTF-8 replaced by
// U+FFFD, e.g. for a tool's output kept in a JSON document.
std::string to_valid_utf8(std::string_view text);

// Parses JSON text; throws Error(data) naming `source` and the position.
Json parse_json(std::string_view text, std::string_view source);

}  // namespace lm
