#pragma once
// Wall-clock time as the registry records it: RFC 3339, UTC, microseconds.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace lm {

// Nanoseconds since the Unix epoch, from CLOCK_REALTIME.
std::int64_t now_ns();

// Formats nanoseconds since the epoch as "2026-11-24T18:38:00.123456Z".
std::string format_rfc3339(std::int64_t ns);

// The current time, formatted as format_rfc3339 does.
std::string now_rfc3339();

// Parses an RFC 3339 time ("2026-11-24T18:38:00Z", "...+01:00", fractions)
// or a date ("2026-11-24", midnight UTC) to nanoseconds since the epoch.
std::optional<std::int64_t> parse_rfc3339(std::string_view text);

}  // namespace lm
