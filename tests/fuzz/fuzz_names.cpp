// Names, versions and references (registry/names.hpp): every parser either
// accepts or throws Error(usage), and what it accepts obeys DESIGN.md §3.
// The input is tried as a whole by each parser; split at its first newline
// it is also a pair of versions to compare.

#include <regex>

#include "registry/names.hpp"
#include "tests/fuzz/fuzz.hpp"

namespace {

using lm::ExitCode;
using lm::fuzz::attempt;
using lm::fuzz::expect;

// DESIGN.md §3 written as a regular expression, apart from the code.
bool name_follows_rule(const std::string& name) {
  static const std::regex segments(
      "[a-z0-9]([a-z0-9._-]*[a-z0-9])?(/[a-z0-9]([a-z0-9._-]*[a-z0-9])?)*");
  static const std::regex lock_suffix("(^|/)[^/]*\\.lock(/|$)");
  return name.size() <= 128 && name.find("..") == std::string::npos &&
         std::regex_match(name, segments) && !std::regex_search(name, lock_suffix);
}

void check_name(const std::string& text) {
  if (text.size() > 160) {  // the rule's length bound, without regex on long input
    expect(!attempt([&] { lm::validate_name(text); }, {ExitCode::usage}), "long name accepted");
    return;
  }
  const bool accepted = attempt([&] { lm::validate_name(text); }, {ExitCode::usage});
  expect(accepted == name_follows_rule(text), accepted ? "name breaking the rule accepted"
                                                       : "name following the rule refused");
}

void check_version(std::string_view text) {
  const auto v = lm::try_parse_semver(text);
  lm::Semver thrown;
  const bool accepted = attempt([&] { thrown = lm::parse_semver(text); }, {ExitCode::usage});
  expect(accepted == v.has_value(), "parse_semver and try_parse_semver disagree");
  if (!v) return;
  // What it prints parses back to the same version.
  const auto again = lm::try_parse_semver(v->str());
  expect(again && again->str() == v->str(), "version does not survive str()");
  expect(lm::compare(*v, *again) == 0, "version not equal to itself");
  for (const auto kind : {lm::BumpKind::major, lm::BumpKind::minor, lm::BumpKind::patch}) {
    lm::Semver next;
    if (attempt([&] { next = lm::bump(*v, kind); }, {ExitCode::usage})) {
      expect(lm::compare(*v, next) < 0, "bump did not move the version up");
      expect(!next.is_prerelease() && next.build.empty(), "bump kept a pre-release");
    }
  }
}

void check_order(std::string_view a_text, std::string_view b_text) {
  const auto a = lm::try_parse_semver(a_text);
  const auto b = lm::try_parse_semver(b_text);
  if (!a || !b) return;
  const auto ab = lm::compare(*a, *b);
  const auto ba = lm::compare(*b, *a);
  expect((ab < 0) == (ba > 0) && (ab == 0) == (ba == 0), "version order not antisymmetric");
  expect((ab == 0) == (a->key() == b->key()), "equal precedence but different keys");
}

void check_ref(std::string_view text) {
  lm::Ref ref;
  if (!attempt([&] { ref = lm::parse_ref(text); }, {ExitCode::usage})) return;
  expect(ref.text == text, "reference text changed");
  expect(attempt([&] { lm::validate_name(ref.name); }, {ExitCode::usage}),
         "reference accepted with an invalid name");
  switch (ref.kind) {
    case lm::Ref::Kind::stage:
      expect(attempt([&] { lm::validate_stage(ref.stage); }, {ExitCode::usage}),
             "reference accepted with an invalid stage");
      break;
    case lm::Ref::Kind::digest:
      expect(ref.digest_hex.size() >= 12 && ref.digest_hex.size() <= 64 &&
                 ref.digest_hex.find_first_not_of("0123456789abcdef") == std::string::npos,
             "reference accepted with a malformed digest");
      break;
    default:
      break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const unsigned char* data, std::size_t size) {
  const std::string_view text = lm::fuzz::as_text(data, size);
  check_name(std::string(text));
  attempt([&] { lm::validate_stage(text); }, {ExitCode::usage});
  attempt([&] { lm::parse_bump(text); }, {ExitCode::usage});
  check_version(text);
  check_ref(text);
  if (const auto nl = text.find('\n'); nl != std::string_view::npos) {
    check_order(text.substr(0, nl), text.substr(nl + 1));
  }
  return 0;
}
