// Metrics files (registry/metadata.hpp): the input is read both as JSON
// and as YAML. Either it is refused with Error(data), or every metric it
// yields is a finite number under a valid key, and no key is both a metric
// and a label.

#include <cmath>

#include "registry/metadata.hpp"
#include "tests/fuzz/fuzz.hpp"

namespace {

using lm::ExitCode;
using lm::fuzz::attempt;
using lm::fuzz::expect;

void check(std::string_view text, std::string_view source) {
  lm::MetricsFile file;
  if (!attempt([&] { file = lm::parse_metrics_file(text, source); }, {ExitCode::data})) return;
  const auto valid_key = [](const std::string& key) {
    return attempt([&] { lm::validate_key(key, "--metric"); }, {ExitCode::usage});
  };
  for (const auto& [key, value] : file.metrics) {
    expect(valid_key(key), "metric with an invalid key");
    expect(std::isfinite(value), "metric that is not a finite number");
    expect(!file.labels.contains(key), "key both a metric and a label");
    // The form shown to users reads back as the same number.
    const std::string shown = lm::format_metric(value);
    expect(std::stod(shown) == value, "format_metric does not read back");
  }
  for (const auto& [key, value] : file.labels) expect(valid_key(key), "label with an invalid key");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const unsigned char* data, std::size_t size) {
  const std::string_view text = lm::fuzz::as_text(data, size);
  check(text, "metrics.json");
  check(text, "metrics.yaml");
  return 0;
}
