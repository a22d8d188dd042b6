#pragma once
// Names, versions and references (DESIGN.md §3). Every parser throws
// Error(usage) quoting the input and the rule it broke.

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lm {

// Checks a model or dataset name: '/'-separated segments of
// [a-z0-9]([a-z0-9._-]*[a-z0-9])?, at most 128 bytes, no "..", no segment
// ending in ".lock". `what` names the thing in the message ("model").
void validate_name(std::string_view name, std::string_view what = "model");

// Checks a stage name: [a-z][a-z0-9-]*, not "latest".
void validate_stage(std::string_view stage);

// A SemVer 2.0.0 version.
struct Semver {
  std::uint64_t major = 0;
  std::uint64_t minor = 0;
  std::uint64_t patch = 0;
  std::vector<std::string> prerelease;  // dot-separated identifiers
  std::string build;                    // ignored for precedence

  // "1.4.0-rc.1+build.5"
  std::string str() const;
  // The version without build metadata: equal keys mean equal precedence.
  std::string key() const;
  std::string prerelease_text() const;
  bool is_prerelease() const { return !prerelease.empty(); }
};

// Precedence as semver.org §11 defines it (build metadata ignored).
std::strong_ordering compare(const Semver& a, const Semver& b);
inline bool operator<(const Semver& a, const Semver& b) { return compare(a, b) < 0; }

// Parses "1.4.0", "v1.4.0", "2.0.0-rc.1+b5"; nullopt when not SemVer or
// when a number is larger than 2^63 - 1.
std::optional<Semver> try_parse_semver(std::string_view text);
// As try_parse_semver, but throws Error(usage) quoting the input.
Semver parse_semver(std::string_view text);

enum class BumpKind { major, minor, patch };
// The next version after `v`: 1.4.2 -> 2.0.0 / 1.5.0 / 1.4.3. A pre-release
// bumps to its own release for the part it is at (1.5.0-rc.1 -> 1.5.0).
// Throws Error(usage) when the number would pass 2^63 - 1.
Semver bump(const Semver& v, BumpKind kind);
BumpKind parse_bump(std::string_view text);

// A reference to one version: name@1.4.0, name@latest, name@<stage>,
// name#<stage>, name@sha256:<hex>, or a bare name (latest).
struct Ref {
  enum class Kind { latest, version, stage, digest };
  std::string name;
  Kind kind = Kind::latest;
  Semver version;         // Kind::version
  std::string stage;      // Kind::stage
  std::string digest_hex; // Kind::digest: 12 to 64 lowercase hex digits
  std::string text;       // as the user wrote it

  std::string str() const { return text; }
};

Ref parse_ref(std::string_view text);

}  // namespace lm
