// The policy loader (registry/policy.hpp): parse_policy never throws for
// text it was given; it reports each problem with a line, a column and a
// one-line message. A policy it accepts is a stage graph DESIGN.md §7
// allows: valid, unique stage names, the first entered by registration,
// every other entered from stages that exist.

#include <set>

#include "registry/names.hpp"
#include "registry/policy.hpp"
#include "tests/fuzz/fuzz.hpp"

namespace {

using lm::ExitCode;
using lm::fuzz::attempt;
using lm::fuzz::expect;

void check_problems(const lm::PolicyLoad& load) {
  for (const auto& p : load.problems) {
    expect(p.line >= 1 && p.column >= 1, "policy problem without a position");
    expect(!p.message.empty(), "policy problem without a message");
    for (const char c : p.message) {
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
        lm::fuzz::fail("policy problem with a control character: " + p.message);
      }
    }
  }
}

void check_accepted(const lm::Policy& policy) {
  expect(!policy.stages.empty(), "policy accepted without stages");
  expect(policy.stages.front().from.empty(), "first stage accepted with 'from'");
  std::set<std::string> names;
  for (const auto& stage : policy.stages) {
    expect(attempt([&] { lm::validate_stage(stage.name); }, {ExitCode::usage}),
           "policy accepted with an invalid stage name");
    expect(names.insert(stage.name).second, "policy accepted with a stage twice");
    expect(policy.stage(stage.name) == &stage, "stage() does not find a stage");
    for (const auto& gate : stage.gates) {
      expect(!gate.name().empty(), "gate without a name");
      expect(gate.line >= 1, "gate without a line");
    }
  }
  for (std::size_t i = 1; i < policy.stages.size(); ++i) {
    const auto& from = policy.stages[i].from;
    expect(!from.empty(), "later stage accepted without 'from'");
    for (const auto& f : from) {
      expect(f != policy.stages[i].name && names.count(f), "stage entered from an unknown stage");
    }
  }
  (void)policy.metric_directions();
  expect(policy.deploy.is_object(), "deploy settings that are not an object");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const unsigned char* data, std::size_t size) {
  lm::PolicyLoad load;
  // No exception of any kind: problems are collected, never thrown.
  attempt([&] { load = lm::parse_policy(lm::fuzz::as_text(data, size), "lastmile.yaml"); }, {});
  check_problems(load);
  if (load.ok()) check_accepted(load.policy);
  return 0;
}
