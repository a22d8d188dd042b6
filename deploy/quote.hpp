#pragma once
// Values written into manifests. Templates insert every value through
// encode_value for the manifest's format, so text from the registry (a
// description with a newline, "---", ": ", "#", "{{" or a quote) stays one
// scalar and can never add a key, a document or a unit setting.

#include <optional>
#include <string>
#include <string_view>

#include "registry/core/json.hpp"

namespace lm::deploy {

enum class OutputFormat {
  yaml,     // Kubernetes, KServe, Seldon: double-quoted YAML scalars
  compose,  // YAML, and a literal $ doubled against Compose interpolation
  systemd,  // unit files: systemd's C-style quoting, % and $ doubled
  text,     // no quoting: settings patterns such as storage_uri
};

std::optional<OutputFormat> parse_output_format(std::string_view name);
const char* format_name(OutputFormat format);

// A YAML double-quoted scalar that reads back as exactly `text` (invalid
// UTF-8 becomes U+FFFD first): quotes, backslashes, control characters and
// the characters YAML treats as line breaks are escaped.
std::string yaml_quote(std::string_view text);

// One word of a systemd unit setting: as it is when it holds only
// characters systemd never interprets, else double-quoted with C escapes;
// % and $ are doubled so specifiers and variables are not expanded. A
// `first_word` starting with a prefix ExecStart= would read (- @ + : !) is
// quoted too.
std::string systemd_quote(std::string_view text, bool first_word = true);

// A number as YAML 1.1 and 1.2 both read it: "0.5", "3", "1.0e-05".
std::string number_text(const Json& number);

// `value` written for `format`: text quoted, numbers and booleans bare, a
// list as a flow sequence (YAML) or as words (systemd), a mapping as a flow
// mapping (YAML). nullopt when the format cannot hold the value (see
// encoding_problem) or the value is null.
std::optional<std::string> encode_value(const Json& value, OutputFormat format);

// Why encode_value cannot write `value` for `format` ("" when it can): a
// mapping in a unit file; in a unit file, a $ (expanded in ExecStart= but
// not in Environment=, so no one spelling is right for both) or a first
// word ExecStart= would read as a prefix (- @ + : ! or ;).
std::string encoding_problem(const Json& value, OutputFormat format);

// Kubernetes name rules. Each returns "" when `name` is valid, else why not.
// DNS-1035 label (Service names): a-z, 0-9 and '-', a letter first, an
// alphanumeric last, at most 63 characters.
std::string dns1035_label_problem(std::string_view name);
// RFC 1123 label (namespaces): as above, but a digit may come first.
std::string rfc1123_label_problem(std::string_view name);
// A label value: at most 63 of [A-Za-z0-9-_.], alphanumeric at both ends.
std::string label_value_problem(std::string_view value);

}  // namespace lm::deploy
