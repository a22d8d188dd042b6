#include "registry/annotate.hpp"

#include <algorithm>

#include "registry/core/error.hpp"
#include "registry/events.hpp"
#include "registry/projection.hpp"

namespace lm {

namespace {

void check_request(const AnnotateRequest& r) {
  if (r.labels.empty() && r.remove_labels.empty() && !r.description && !r.owner) {
    throw Error(ExitCode::usage, "nothing to annotate",
                "give --label K=V, --remove-label K, --description TEXT or --owner WHO");
  }
  for (const auto& key : r.remove_labels) {
    validate_key(key, "--remove-label");
    if (r.labels.count(key)) {
      throw Error(ExitCode::usage, "label " + quote(key) + " is both set and removed",
                  "give it with --label or with --remove-label, not both");
    }
  }
}

// What the request changes on `v`, as the event's payload; empty when the
// version already reads that way.
Json changes(const AnnotateRequest& r, const VersionRecord& v, const StringMap& labels,
             AnnotateResult& result) {
  Json set = Json::object();
  for (const auto& [key, value] : r.labels) {
    const auto it = labels.find(key);
    if (it != labels.end() && it->second == value) continue;
    set[key] = value;
    result.labels_set[key] = value;
  }
  Json removed = Json::array();
  for (const auto& key : r.remove_labels) {
    if (!labels.count(key)) {
      throw Error(ExitCode::not_found, quote(v.ref()) + " has no label " + quote(key),
                  "'lastmile show " + v.ref() + "' lists its labels");
    }
    if (std::find(result.labels_removed.begin(), result.labels_removed.end(), key) != result.labels_removed.end()) {
      continue;
    }
    removed.push_back(key);
    result.labels_removed.push_back(key);
  }
  Json payload = {{"name", v.name}, {"version", v.version}, {"digest", v.digest}};
  bool any = !set.empty() || !removed.empty();
  if (!set.empty()) payload["labels"] = set;
  if (!removed.empty()) payload["remove_labels"] = removed;
  if (r.description && *r.description != v.description) {
    payload["description"] = *r.description;
    result.description = r.description;
    any = true;
  }
  if (r.owner && *r.owner != v.owner) {
    payload["owner"] = *r.owner;
    result.owner = r.owner;
    any = true;
  }
  return any ? payload : Json();
}

void apply_to(Annotations& a, const Json& p) {
  const Json labels_set = p.value("labels", Json::object());  // items() must not outlive it
  for (const auto& [key, value] : labels_set.items()) a.labels[key] = value.get<std::string>();
  for (const auto& key : p.value("remove_labels", Json::array())) a.labels.erase(key.get<std::string>());
  if (p.contains("owner")) a.owner = p.at("owner").get<std::string>();
  if (p.contains("description")) a.description = p.at("description").get<std::string>();
}

}  // namespace

Annotations annotations_as_of(sql::Db& db, const VersionRecord& v, const AsOf& at) {
  auto stmt = db.prepare(
      "SELECT payload FROM events WHERE name = ? AND seq <= ? AND subject = ? "
      "AND kind IN ('version.registered', 'version.annotated') ORDER BY seq");
  stmt.bind_all(v.name, at.seq, v.ref());
  Annotations a;
  while (stmt.step()) {
    // The payloads were checked when written; one that does not read now
    // is a damaged registry.
    try {
      apply_to(a, parse_json(stmt.text(0), "the event log"));
    } catch (const Json::exception& e) {
      throw Error(ExitCode::data, "registry corrupt: an event of " + quote(v.ref()) +
                                      " has a malformed payload: " + e.what());
    }
  }
  return a;
}

AnnotateResult annotate(Registry& registry, const AnnotateRequest& request) {
  check_request(request);
  registry.require_writable();
  sql::Db& db = registry.db();
  sql::Transaction txn(db);  // read what is there and change it under one lock
  AnnotateResult result;
  result.version = resolve(db, request.ref);
  const VersionRecord& v = result.version;
  result.labels = load_metadata(db, v.id).labels;
  Json payload = changes(request, v, result.labels, result);
  if (!payload.is_null()) {
    const Event event = append_event(db, "version.annotated", v.ref(), v.name, std::move(payload), request.actor);
    apply_event(db, event);
    result.labels = load_metadata(db, v.id).labels;
    result.recorded = true;
  }
  txn.commit();
  return result;
}

}  // namespace lm
