#pragma once
// Metadata given at registration: metrics (numbers), params and labels
// (strings), owner and description.

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace lm {

using Metrics = std::map<std::string, double>;
using StringMap = std::map<std::string, std::string>;

// What a metrics file holds: numbers, and the other values kept as labels.
struct MetricsFile {
  Metrics metrics;
  StringMap labels;  // booleans, strings, nulls and lists, as text
};

// Parses a metrics file: YAML when `source` ends in .yaml or .yml (as DVC
// writes them), else JSON. Nested objects flatten to dotted keys
// ({"eval": {"auc": 0.9}} -> eval.auc); values that are not numbers become
// labels. Throws Error(data) naming `source` for a malformed document, one
// that is not an object, or a key longer than 128 bytes.
MetricsFile parse_metrics_file(std::string_view text, std::string_view source);

// Splits "key=value" given to `flag` (e.g. "--param"). Throws Error(usage)
// when '=' is missing or the key is not a valid metadata key.
std::pair<std::string, std::string> parse_key_value(std::string_view arg, std::string_view flag);

// parse_key_value for each of a repeatable flag's arguments; a later one
// wins for the same key.
StringMap parse_key_values(const std::vector<std::string>& args, std::string_view flag);

// Parses a metric value given on the command line; throws Error(usage)
// unless it is a finite number.
double parse_metric_value(std::string_view key, std::string_view value);

// Checks a metadata key: 1 to 128 bytes of letters, digits and . _ - /.
// Throws Error(usage) naming `flag`.
void validate_key(std::string_view key, std::string_view flag);

// Checks free text (owner, description, values): valid UTF-8, no NUL, at
// most `max_bytes`. Throws Error(usage) naming `what`.
void validate_text(std::string_view text, std::string_view what, std::size_t max_bytes);

// Formats a metric the way it was most likely written: 0.91, 12, 1e-06.
std::string format_metric(double value);

}  // namespace lm
