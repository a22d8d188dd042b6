#include "registry/lineage.hpp"

#include <algorithm>
#include <deque>
#include <map>
#include <set>

#include "registry/core/error.hpp"

namespace lm {

namespace {

// The edges whose `column` (version_id or target_id) is `id`.
std::vector<LineageEdge> query_edges(sql::Db& db, const char* column, std::int64_t id) {
  auto stmt = db.prepare(std::string("SELECT version_id, target_id, relation FROM edges WHERE ") +
                         column + " = ? ORDER BY relation, version_id, target_id");
  stmt.bind(1, id);
  std::vector<LineageEdge> out;
  while (stmt.step()) out.push_back({stmt.int64(0), stmt.int64(1), stmt.text(2)});
  return out;
}

std::vector<LineageEdge> edges_to(sql::Db& db, std::int64_t version_id) {
  return query_edges(db, "target_id", version_id);
}

std::string kind_suffix(const VersionRecord& v) { return v.kind == "dataset" ? "  (dataset)" : ""; }

// Escapes a string for a double-quoted DOT id or label.
std::string dot_quote(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

// Mermaid labels are quoted; a quote inside becomes an entity.
std::string mermaid_label(const std::string& text) {
  std::string out;
  for (char c : text) out += c == '"' ? std::string("#quot;") : std::string(1, c);
  return out;
}

}  // namespace

const VersionRecord& LineageGraph::node(std::int64_t id) const {
  for (const auto& n : nodes) {
    if (n.id == id) return n;
  }
  throw Error(ExitCode::internal, "lineage node " + std::to_string(id) + " not walked");
}

std::vector<LineageEdge> edges_from(sql::Db& db, std::int64_t version_id) {
  return query_edges(db, "version_id", version_id);
}

std::map<std::string, std::vector<std::string>> linked_refs(sql::Db& db, std::int64_t version_id) {
  std::map<std::string, std::vector<std::string>> links{{"input", {}}, {"parent", {}}};
  for (const auto& e : edges_from(db, version_id)) {
    for (const auto& target : versions_by_ids(db, {e.to})) links[e.relation].push_back(target.ref());
  }
  for (auto& [relation, refs] : links) std::sort(refs.begin(), refs.end());
  return links;
}

LineageGraph walk_lineage(sql::Db& db, const VersionRecord& root, Direction direction, int depth) {
  LineageGraph g;
  g.root = root.id;
  g.direction = direction;
  g.depth = depth;
  g.nodes.push_back(root);
  std::set<std::int64_t> seen{root.id};
  std::deque<std::pair<std::int64_t, int>> queue{{root.id, 0}};
  std::vector<std::int64_t> to_load;
  while (!queue.empty()) {
    const auto [id, level] = queue.front();
    queue.pop_front();
    const auto edges = direction == Direction::upstream ? edges_from(db, id) : edges_to(db, id);
    if (level == depth) {
      g.truncated = g.truncated || !edges.empty();
      continue;
    }
    for (const auto& e : edges) {
      g.edges.push_back(e);
      const std::int64_t next = direction == Direction::upstream ? e.to : e.from;
      if (seen.insert(next).second) {
        to_load.push_back(next);
        queue.emplace_back(next, level + 1);
      }
    }
  }
  for (auto& v : versions_by_ids(db, to_load)) g.nodes.push_back(std::move(v));
  return g;
}

bool is_downstream_of(sql::Db& db, std::int64_t target, std::int64_t from) {
  std::set<std::int64_t> seen{from};
  std::deque<std::int64_t> queue{from};
  while (!queue.empty()) {
    const std::int64_t id = queue.front();
    queue.pop_front();
    if (id == target) return true;
    for (const auto& e : edges_to(db, id)) {
      if (seen.insert(e.from).second) queue.push_back(e.from);
    }
  }
  return false;
}

std::string lineage_text(const LineageGraph& g) {
  std::map<std::int64_t, std::vector<const LineageEdge*>> children;
  for (const auto& e : g.edges) {
    children[g.direction == Direction::upstream ? e.from : e.to].push_back(&e);
  }
  const VersionRecord& root = g.node(g.root);
  std::string out = root.ref() + kind_suffix(root) + "  " + root.digest.substr(0, 19) + "\n";
  std::set<std::int64_t> printed{g.root};
  // Depth-first, each version expanded once; later mentions say so.
  const auto walk = [&](auto&& self, std::int64_t id, const std::string& indent) -> void {
    const auto& list = children[id];
    for (std::size_t i = 0; i < list.size(); ++i) {
      const LineageEdge& e = *list[i];
      const bool last = i + 1 == list.size();
      const std::int64_t next = g.direction == Direction::upstream ? e.to : e.from;
      const VersionRecord& v = g.node(next);
      const bool again = !printed.insert(next).second;
      // Downstream, the relation reads from the other side: "input to".
      const std::string relation =
          g.direction == Direction::upstream ? e.relation
                                             : e.relation + (e.relation == "input" ? " to" : " of");
      out += indent + (last ? "└── " : "├── ") + relation + "  " + v.ref() + kind_suffix(v) +
             (again ? "  (shown above)" : "") + "\n";
      if (!again) self(self, next, indent + (last ? "    " : "│   "));
    }
  };
  walk(walk, g.root, "");
  if (g.truncated) out += "(more beyond depth " + std::to_string(g.depth) + ")\n";
  out.pop_back();
  return out;
}

Json lineage_json(const LineageGraph& g) {
  Json nodes = Json::array();
  for (const auto& v : g.nodes) {
    nodes.push_back({{"ref", v.ref()}, {"name", v.name}, {"version", v.version},
                     {"kind", v.kind}, {"digest", v.digest}});
  }
  Json edges = Json::array();
  for (const auto& e : g.edges) {
    edges.push_back({{"from", g.node(e.from).ref()},
                     {"to", g.node(e.to).ref()},
                     {"relation", e.relation}});
  }
  return {{"root", g.node(g.root).ref()},
          {"direction", g.direction == Direction::upstream ? "upstream" : "downstream"},
          {"depth", g.depth},
          {"truncated", g.truncated},
          {"nodes", nodes},
          {"edges", edges}};
}

std::string lineage_dot(const LineageGraph& g) {
  std::string out = "digraph lineage {\n  rankdir=LR;\n  node [shape=box, fontname=\"Helvetica\"];\n";
  for (const auto& v : g.nodes) {
    out += "  " + dot_quote(v.ref()) + " [label=" + dot_quote(v.ref() + "\n" + v.digest.substr(0, 19)) +
           (v.kind == "dataset" ? ", shape=cylinder" : "") + (v.id == g.root ? ", penwidth=2" : "") +
           "];\n";
  }
  // Arrows run from what was used to what was made.
  for (const auto& e : g.edges) {
    out += "  " + dot_quote(g.node(e.to).ref()) + " -> " + dot_quote(g.node(e.from).ref()) +
           " [label=" + dot_quote(e.relation) + "];\n";
  }
  return out + "}";
}

std::string lineage_mermaid(const LineageGraph& g) {
  std::map<std::int64_t, std::string> ids;
  std::string out = "flowchart LR\n";
  for (const auto& v : g.nodes) {
    const std::string id = "n" + std::to_string(ids.size());
    ids[v.id] = id;
    const std::string label = "\"" + mermaid_label(v.ref()) + "\"";
    out += "  " + id + (v.kind == "dataset" ? "[(" + label + ")]" : "[" + label + "]") + "\n";
  }
  for (const auto& e : g.edges) {
    out += "  " + ids[e.to] + " -->|" + e.relation + "| " + ids[e.from] + "\n";
  }
  out.pop_back();
  return out;
}

}  // namespace lm
