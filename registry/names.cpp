#include "registry/names.hpp"

#include <charconv>

#include "registry/core/error.hpp"

namespace lm {

namespace {

constexpr std::size_t k_max_name_bytes = 128;
constexpr std::size_t k_max_version_bytes = 128;
constexpr std::uint64_t k_max_version_number = 9'223'372'036'854'775'807ULL;

bool is_lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

bool valid_segment(std::string_view seg) {
  if (seg.empty() || !is_lower_alnum(seg.front()) || !is_lower_alnum(seg.back())) return false;
  for (char c : seg) {
    if (!is_lower_alnum(c) && c != '.' && c != '_' && c != '-') return false;
  }
  return true;
}

std::vector<std::string_view> split(std::string_view text, char sep) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  for (;;) {
    const auto pos = text.find(sep, start);
    parts.push_back(text.substr(start, pos == std::string_view::npos ? pos : pos - start));
    if (pos == std::string_view::npos) break;
    start = pos + 1;
  }
  return parts;
}

[[noreturn]] void bad_name(std::string_view name, std::string_view what, std::string_view why) {
  throw Error(ExitCode::usage,
              "invalid " + std::string(what) + " name " + quote(name) + ": " + std::string(why),
              "names are '/'-separated segments of lowercase letters, digits and . _ - "
              "(starting and ending with a letter or digit), at most 128 bytes");
}

bool numeric_identifier(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

bool valid_identifier_chars(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          c == '-')) {
      return false;
    }
  }
  return true;
}

std::optional<std::uint64_t> parse_core_number(std::string_view s) {
  if (!numeric_identifier(s) || (s.size() > 1 && s[0] == '0')) return std::nullopt;
  std::uint64_t value = 0;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  // The registry stores version numbers as signed 64-bit integers.
  if (value > k_max_version_number) return std::nullopt;
  return value;
}

std::string join(const std::vector<std::string>& parts, char sep) {
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i) out += sep;
    out += parts[i];
  }
  return out;
}

}  // namespace

void validate_name(std::string_view name, std::string_view what) {
  if (name.empty()) bad_name(name, what, "it is empty");
  if (name.size() > k_max_name_bytes) {
    bad_name(name.substr(0, 40), what,
             "it is " + std::to_string(name.size()) + " bytes long (at most 128)");
  }
  if (name.find("..") != std::string_view::npos) bad_name(name, what, "it contains '..'");
  for (std::string_view seg : split(name, '/')) {
    if (seg.empty()) bad_name(name, what, "it has an empty segment");
    if (!valid_segment(seg)) {
      bad_name(name, what, "segment " + quote(seg) + " breaks the rule");
    }
    if (seg.size() >= 5 && seg.substr(seg.size() - 5) == ".lock") {
      bad_name(name, what, "a segment may not end in '.lock'");
    }
  }
}

void validate_stage(std::string_view stage) {
  bool ok = !stage.empty() && stage.front() >= 'a' && stage.front() <= 'z' && stage.size() <= 63;
  for (char c : stage) ok = ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-');
  if (!ok || stage == "latest") {
    throw Error(ExitCode::usage, "invalid stage name " + quote(stage),
                "stage names are a lowercase letter followed by lowercase letters, digits "
                "and '-', and not 'latest'");
  }
}

std::string Semver::prerelease_text() const { return join(prerelease, '.'); }

std::string Semver::key() const {
  std::string out =
      std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch);
  if (!prerelease.empty()) out += "-" + prerelease_text();
  return out;
}

std::string Semver::str() const { return build.empty() ? key() : key() + "+" + build; }

std::strong_ordering compare(const Semver& a, const Semver& b) {
  if (auto c = a.major <=> b.major; c != 0) return c;
  if (auto c = a.minor <=> b.minor; c != 0) return c;
  if (auto c = a.patch <=> b.patch; c != 0) return c;
  // A release has higher precedence than any of its pre-releases.
  if (a.prerelease.empty() && b.prerelease.empty()) return std::strong_ordering::equal;
  if (a.prerelease.empty()) return std::strong_ordering::greater;
  if (b.prerelease.empty()) return std::strong_ordering::less;
  const std::size_t n = std::min(a.prerelease.size(), b.prerelease.size());
  for (std::size_t i = 0; i < n; ++i) {
    const std::string& x = a.prerelease[i];
    const std::string& y = b.prerelease[i];
    const bool xn = numeric_identifier(x);
    const bool yn = numeric_identifier(y);
    if (xn && yn) {
      // Compare as numbers without overflow: longer means larger (no leading zeros).
      if (auto c = x.size() <=> y.size(); c != 0) return c;
      if (auto c = x <=> y; c != 0) return c;
    } else if (xn != yn) {
      return xn ? std::strong_ordering::less : std::strong_ordering::greater;
    } else if (auto c = x <=> y; c != 0) {
      return c;
    }
  }
  return a.prerelease.size() <=> b.prerelease.size();
}

std::optional<Semver> try_parse_semver(std::string_view text) {
  if (text.size() > k_max_version_bytes) return std::nullopt;
  if (!text.empty() && text[0] == 'v') text.remove_prefix(1);
  Semver v;
  std::string_view rest = text;
  if (const auto plus = rest.find('+'); plus != std::string_view::npos) {
    const std::string_view build = rest.substr(plus + 1);
    for (std::string_view id : split(build, '.')) {
      if (!valid_identifier_chars(id)) return std::nullopt;
    }
    v.build = std::string(build);
    rest = rest.substr(0, plus);
  }
  if (const auto dash = rest.find('-'); dash != std::string_view::npos) {
    for (std::string_view id : split(rest.substr(dash + 1), '.')) {
      if (!valid_identifier_chars(id)) return std::nullopt;
      if (numeric_identifier(id) && id.size() > 1 && id[0] == '0') return std::nullopt;
      v.prerelease.emplace_back(id);
    }
    rest = rest.substr(0, dash);
  }
  const auto core = split(rest, '.');
  if (core.size() != 3) return std::nullopt;
  const auto major = parse_core_number(core[0]);
  const auto minor = parse_core_number(core[1]);
  const auto patch = parse_core_number(core[2]);
  if (!major || !minor || !patch) return std::nullopt;
  v.major = *major;
  v.minor = *minor;
  v.patch = *patch;
  return v;
}

Semver parse_semver(std::string_view text) {
  if (auto v = try_parse_semver(text)) return *v;
  throw Error(ExitCode::usage, "invalid version " + quote(text) + " (SemVer 2.0.0 required)",
              "a version is MAJOR.MINOR.PATCH without leading zeros, e.g. 1.4.0 or "
              "2.0.0-rc.1");
}

Semver bump(const Semver& v, BumpKind kind) {
  const std::uint64_t part = kind == BumpKind::major ? v.major : kind == BumpKind::minor ? v.minor : v.patch;
  if (part >= k_max_version_number) {
    throw Error(ExitCode::usage, "cannot bump " + quote(v.str()) + ": the number would overflow",
                "give the version with --version");
  }
  Semver next;
  next.major = v.major;
  next.minor = v.minor;
  next.patch = v.patch;
  const bool pre = v.is_prerelease();
  switch (kind) {
    case BumpKind::major:
      if (!(pre && v.minor == 0 && v.patch == 0)) ++next.major;
      next.minor = 0;
      next.patch = 0;
      break;
    case BumpKind::minor:
      if (!(pre && v.patch == 0)) ++next.minor;
      next.patch = 0;
      break;
    case BumpKind::patch:
      if (!pre) ++next.patch;
      break;
  }
  return next;
}

BumpKind parse_bump(std::string_view text) {
  if (text == "major") return BumpKind::major;
  if (text == "minor") return BumpKind::minor;
  if (text == "patch") return BumpKind::patch;
  throw Error(ExitCode::usage, "invalid bump " + quote(text) + ": use major, minor or patch");
}

Ref parse_ref(std::string_view text) {
  Ref ref;
  ref.text = std::string(text);
  const auto at = text.find('@');
  const auto hash = text.find('#');
  if (at == std::string_view::npos && hash == std::string_view::npos) {
    validate_name(text, "model or dataset");
    ref.name = std::string(text);
    return ref;
  }
  const bool by_hash = at == std::string_view::npos || (hash != std::string_view::npos && hash < at);
  const auto sep = by_hash ? hash : at;
  ref.name = std::string(text.substr(0, sep));
  const std::string_view what = text.substr(sep + 1);
  validate_name(ref.name, "model or dataset");
  const auto bad_ref = [&](const std::string& why) {
    return Error(ExitCode::usage, "invalid reference " + quote(text) + ": " + why,
                 "use NAME@VERSION, NAME@latest, NAME@STAGE or NAME@sha256:HEX");
  };
  if (by_hash) {
    ref.kind = Ref::Kind::stage;
    ref.stage = std::string(what);
    validate_stage(ref.stage);
    return ref;
  }
  if (what.rfind("sha256:", 0) == 0) {
    std::string hex(what.substr(7));
    for (char& c : hex) {
      if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
      if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
        throw bad_ref("a digest is hexadecimal");
      }
    }
    if (hex.size() < 12 || hex.size() > 64) {
      throw bad_ref("a digest needs 12 to 64 hex digits");
    }
    ref.kind = Ref::Kind::digest;
    ref.digest_hex = hex;
    return ref;
  }
  if (what == "latest") {
    ref.kind = Ref::Kind::latest;
    return ref;
  }
  if (auto v = try_parse_semver(what)) {
    ref.kind = Ref::Kind::version;
    ref.version = *v;
    return ref;
  }
  if (!what.empty() && what[0] >= 'a' && what[0] <= 'z' && !(what[0] == 'v' && what.size() > 1 &&
                                                             what[1] >= '0' && what[1] <= '9')) {
    validate_stage(what);
    ref.kind = Ref::Kind::stage;
    ref.stage = std::string(what);
    return ref;
  }
  throw bad_ref(quote(what) + " is not a SemVer version, 'latest', a stage or a digest");
}

}  // namespace lm
