#pragma once
// The mixed workload of the concurrency suite: what one process does, one
// lastmile run after another, and what each run's answer says the log must
// now hold. Runs on worker threads, so nothing here uses Catch.

#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "tests/e2e/sandbox.hpp"

namespace lm::stress::workload {

inline const char* k_policy = R"(stages:
  - name: sandbox
  - name: staging
    from: [sandbox]
  - name: production
    from: [staging]
)";

// Registered without --version: register picks the next one under the lock.
inline const std::vector<std::string> k_models{"churn", "fraud/scorer", "ranker"};
// Registered with --version 1.0.K, K from a small range: processes collide.
inline const std::string k_pinned = "pinned";
constexpr int k_pinned_range = 12;

enum class OpKind { register_auto, register_pinned, annotate, promote, read };

struct Op {
  OpKind kind = OpKind::read;
  std::string actor;
  std::vector<std::string> args;
  std::string model;  // register: the model; later the ref it was given
  std::string ref;    // the version it acted on, once known
  std::string label;  // annotate: key=value
  std::string stage;  // promote: the target
  lm::test::RunResult result;
  // What the answer says happened, e.g. "registered", "refused at entry".
  std::string outcome;
  std::vector<std::string> expected_events;  // keys as event_key() builds them
  std::string problem;                       // an answer that should not happen
  bool lock_error = false;                   // exit 75 or "database is locked"
};

// The versions acknowledged so far, shared by every process: what they
// annotate, promote and read.
class Shared {
 public:
  void add(const std::string& ref) {
    std::lock_guard lock(m_mutex);
    m_refs.push_back(ref);
  }
  std::optional<std::string> pick(std::mt19937_64& rng) {
    std::lock_guard lock(m_mutex);
    if (m_refs.empty()) return std::nullopt;
    return m_refs[rng() % m_refs.size()];
  }

 private:
  std::mutex m_mutex;
  std::vector<std::string> m_refs;
};

inline std::string name_of(const std::string& ref) { return ref.substr(0, ref.find('@')); }

// A file no other operation registers.
inline std::string write_artifact(const lm::test::Sandbox& sb, const std::string& actor, long i,
                                  std::mt19937_64& rng) {
  const std::string rel = "art/" + actor + "-" + std::to_string(i) + ".bin";
  std::ofstream out(sb.repo() / rel, std::ios::binary);
  out << actor << " operation " << i << "\n";
  const std::size_t words = 16 + rng() % 1024;
  for (std::size_t k = 0; k < words; ++k) {
    const std::uint64_t word = rng();
    out.write(reinterpret_cast<const char*>(&word), sizeof word);
  }
  if (!out) throw std::runtime_error("cannot write " + rel);
  return rel;
}

inline Op plan(const lm::test::Sandbox& sb, std::mt19937_64& rng, const std::string& actor, long i,
               Shared& shared) {
  Op op;
  op.actor = actor;
  const unsigned roll = rng() % 100;
  const std::optional<std::string> target = shared.pick(rng);
  if (roll < 30 || !target) {
    op.kind = OpKind::register_auto;
    op.model = k_models[rng() % k_models.size()];
    op.args = {"register", op.model, write_artifact(sb, actor, i, rng), "--label", "origin=" + actor,
               "--metric", "auc=0." + std::to_string(500 + rng() % 500), "--json"};
  } else if (roll < 38) {
    op.kind = OpKind::register_pinned;
    op.model = k_pinned;
    op.args = {"register", k_pinned, write_artifact(sb, actor, i, rng), "--version",
               "1.0." + std::to_string(rng() % k_pinned_range), "--json"};
  } else if (roll < 60) {
    static const char* keys[] = {"eval", "team", "note"};
    op.kind = OpKind::annotate;
    op.ref = *target;
    op.label = std::string(keys[rng() % 3]) + "=" + actor + "." + std::to_string(i);
    op.args = {"annotate", op.ref, "--label", op.label, "--json"};
  } else if (roll < 82) {
    op.kind = OpKind::promote;
    op.ref = *target;
    op.stage = rng() % 2 ? "staging" : "production";
    op.args = {"promote", op.ref, "--to", op.stage, "--json"};
  } else {
    op.kind = OpKind::read;
    op.ref = *target;
    switch (rng() % 4) {
      case 0: op.args = {"show", op.ref, "--json"}; break;
      case 1: op.args = {"list", "--json"}; break;
      case 2: op.args = {"status", "--json"}; break;
      default: op.args = {"history", name_of(op.ref), "--json"}; break;
    }
  }
  return op;
}

inline nlohmann::json parse(const std::string& text) {
  return nlohmann::json::parse(text, nullptr, false);
}

// Reads the answer: what happened, and so which events the log must hold.
inline void classify(Op& op) {
  const auto& r = op.result;
  op.lock_error = r.rc == 75 || r.err.find("database is locked") != std::string::npos ||
                  r.err.find("registry busy") != std::string::npos;
  const nlohmann::json doc = parse(r.out);
  const bool json = !doc.is_discarded() && doc.is_object();
  const std::string unexpected = op.actor + " '" + op.args[0] + " " + op.args[1] + "' exited " +
                                 std::to_string(r.rc) + ": " + r.err.substr(0, 300);
  switch (op.kind) {
    case OpKind::register_auto:
    case OpKind::register_pinned:
      if (r.rc == 0 && json && doc.value("created", false)) {
        op.outcome = "registered";
        op.ref = doc.value("ref", "");
        op.expected_events.push_back("version.registered " + op.actor + " " + op.ref + " seq=" +
                                     std::to_string(doc.value("event", 0L)) + " " + doc.value("digest", ""));
      } else if (op.kind == OpKind::register_pinned && r.rc == 1 &&
                 r.err.find("already exists with other content") != std::string::npos) {
        op.outcome = "pinned version taken";
      } else {
        op.problem = unexpected;
      }
      break;
    case OpKind::annotate:
      if (r.rc == 0 && json && doc.value("recorded", false)) {
        op.outcome = "annotated";
        const auto eq = op.label.find('=');
        const nlohmann::json labels = {{op.label.substr(0, eq), op.label.substr(eq + 1)}};
        op.expected_events.push_back("version.annotated " + op.actor + " " + doc.value("name", "") + "@" +
                                     doc.value("version", "") + " labels=" + labels.dump());
      } else {
        op.problem = unexpected;
      }
      break;
    case OpKind::promote: {
      const std::string subject = json ? doc.value("name", "") + "@" + doc.value("version", "") : "";
      const std::string verdict = "gate.evaluated " + op.actor + " " + subject + " " + op.stage + " passed";
      if (r.rc == 0 && json && doc.value("promoted", false)) {
        op.outcome = "promoted";
        op.expected_events = {verdict, "stage.assigned " + op.actor + " " + subject + " " + op.stage};
      } else if (r.rc == 0 && json && doc.value("already_there", false)) {
        op.outcome = "already there";
      } else if (r.rc == 1 && json && doc.value("stage_moved", false)) {
        op.outcome = "stage moved while its gates ran";
        op.expected_events = {verdict};
      } else if (r.rc == 1 && r.out.empty() && r.err.find("' first") != std::string::npos) {
        op.outcome = "refused at entry";
      } else {
        op.problem = unexpected;
      }
      break;
    }
    case OpKind::read:
      if (r.rc == 0 && json) {
        op.outcome = "read";
        if (op.args[0] == "show" && doc.value("ref", "") != op.ref) {
          op.problem = op.actor + " showed " + op.ref + " and got " + doc.value("ref", "?");
        }
      } else {
        // The version was acknowledged before this read started.
        op.problem = unexpected;
      }
      break;
  }
  if (op.outcome.empty()) op.outcome = "unexpected";
}

// One process's share: `count` lastmile runs, one after another.
inline std::vector<Op> run_worker(const lm::test::Sandbox& sb, int w, long count, std::uint64_t seed,
                                  Shared& shared) {
  std::mt19937_64 rng(seed * 1000003u + static_cast<std::uint64_t>(w));
  const std::string actor = "worker-" + std::to_string(w);
  const lm::test::RunOptions opts{.env = {{"LASTMILE_ACTOR", actor}}};
  std::vector<Op> done;
  for (long i = 0; i < count; ++i) {
    Op op = plan(sb, rng, actor, i, shared);
    op.result = sb.run(op.args, opts);
    classify(op);
    if (op.outcome == "registered") shared.add(op.ref);
    done.push_back(std::move(op));
  }
  return done;
}

}  // namespace lm::stress::workload
