#include "registry/deployments.hpp"

#include "registry/core/error.hpp"

namespace lm {

std::vector<Deployment> current_deployments(sql::Db& db, const std::string& name, const AsOf& at) {
  auto stmt = db.prepare(
      "SELECT d.event_seq, d.environment, d.stage, d.version_id, v.version, v.digest, d.manifests, "
      "d.time, d.actor FROM deployments d JOIN versions v ON v.id = d.version_id "
      "WHERE d.event_seq IN (SELECT MAX(event_seq) FROM deployments "
      "WHERE model_id = (SELECT id FROM models WHERE name = ?) AND event_seq <= ? "
      "GROUP BY environment) ORDER BY d.environment");
  stmt.bind_all(name, at.seq);
  std::vector<Deployment> out;
  while (stmt.step()) {
    Deployment d;
    d.event_seq = stmt.int64(0);
    d.model = name;
    d.environment = stmt.text(1);
    if (!stmt.is_null(2)) d.stage = stmt.text(2);
    d.version_id = stmt.int64(3);
    d.version = stmt.text(4);
    d.digest = stmt.text(5);
    d.manifests = parse_json(stmt.text(6), "the registry's deployments table");
    d.time = stmt.text(7);
    d.actor = stmt.text(8);
    out.push_back(std::move(d));
  }
  return out;
}

void validate_environment(std::string_view name) {
  bool ok = !name.empty() && name.front() >= 'a' && name.front() <= 'z' && name.size() <= 63 &&
            name.back() != '-';
  for (const char c : name) ok = ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-');
  if (!ok) {
    throw Error(ExitCode::usage, "invalid environment name " + quote(name),
                "an environment is a lowercase letter followed by lowercase letters, digits and '-' "
                "(at most 63), e.g. prod-eu");
  }
}

}  // namespace lm
