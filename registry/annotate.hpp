#pragma once
// Annotating a registered version: its labels, description and owner may
// change after registration (an evaluation finished, an owner moved teams);
// its bytes, metrics, params and lineage never do.

#include <optional>
#include <string>
#include <vector>

#include "registry/metadata.hpp"
#include "registry/names.hpp"
#include "registry/query.hpp"
#include "registry/registry.hpp"

namespace lm {

struct AnnotateRequest {
  Ref ref;
  StringMap labels;                        // set (added or replaced)
  std::vector<std::string> remove_labels;  // removed; naming one that is not there is an error
  std::optional<std::string> description;
  std::optional<std::string> owner;
  std::string actor;
};

struct AnnotateResult {
  VersionRecord version;
  bool recorded = false;  // false: the version already read that way, nothing was written
  StringMap labels_set;   // what changed: labels added or given a new value
  std::vector<std::string> labels_removed;
  std::optional<std::string> description;
  std::optional<std::string> owner;
  StringMap labels;  // the version's labels afterwards
};

// Records a version.annotated event with what actually changes, in one
// write transaction; asking for what is already there records nothing.
// Throws Error(usage) for a request that changes nothing at all or names a
// label both to set and to remove, Error(not_found) for a label to remove
// that the version does not have.
AnnotateResult annotate(Registry& registry, const AnnotateRequest& request);

// What `v` was said to be at `at`: its registration's labels, owner and
// description with the annotations recorded up to then (the tables hold
// only the present).
struct Annotations {
  StringMap labels;
  std::string owner;
  std::string description;
};
Annotations annotations_as_of(sql::Db& db, const VersionRecord& v, const AsOf& at);

}  // namespace lm
