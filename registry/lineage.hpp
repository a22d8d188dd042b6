#pragma once
// Lineage: the graph of versions and what they were made from (inputs:
// datasets; parents: the version a model was fine-tuned or distilled from).
// Queries walk it from one version, upstream or downstream.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "registry/core/json.hpp"
#include "registry/core/sqlite.hpp"
#include "registry/query.hpp"

namespace lm {

enum class Direction { upstream, downstream };

struct LineageEdge {
  std::int64_t from = 0;  // the version that was made (the one with the edge)
  std::int64_t to = 0;    // what it was made from
  std::string relation;   // "input" or "parent"
};

struct LineageGraph {
  std::int64_t root = 0;
  Direction direction = Direction::upstream;
  int depth = 0;                      // the limit the walk used
  std::vector<VersionRecord> nodes;   // root first, then in the order reached
  std::vector<LineageEdge> edges;     // every edge between nodes that was walked
  bool truncated = false;             // nodes lie beyond the depth limit

  const VersionRecord& node(std::int64_t id) const;
};

// The edges recorded for one version (what it was made from).
std::vector<LineageEdge> edges_from(sql::Db& db, std::int64_t version_id);

// The refs of what a version was made from: "input" and "parent" (both
// present, perhaps empty), each sorted.
std::map<std::string, std::vector<std::string>> linked_refs(sql::Db& db, std::int64_t version_id);

// Walks the graph from `root` breadth-first, at most `depth` edges away.
LineageGraph walk_lineage(sql::Db& db, const VersionRecord& root, Direction direction, int depth);

// True when `target` can be reached from `from` going downstream (it was
// made, directly or not, from `from`), or is `from` itself.
bool is_downstream_of(sql::Db& db, std::int64_t target, std::int64_t from);

// Renderings of a walked graph. All are deterministic.
std::string lineage_text(const LineageGraph& g);     // an indented tree
Json lineage_json(const LineageGraph& g);
std::string lineage_dot(const LineageGraph& g);      // Graphviz, arrows from source to product
std::string lineage_mermaid(const LineageGraph& g);  // a mermaid flowchart

}  // namespace lm
