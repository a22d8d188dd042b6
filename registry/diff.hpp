#pragma once
// How two versions differ: metrics (with deltas), params, labels, files,
// lineage and code. Renders as text, JSON, or Markdown for a pull request.

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "registry/core/json.hpp"
#include "registry/core/sqlite.hpp"
#include "registry/policy.hpp"
#include "registry/query.hpp"

namespace lm {

struct MetricChange {
  std::string key;
  std::optional<double> before;
  std::optional<double> after;
  // after - before, and that relative to |before|; set when both exist
  // (relative only when before != 0).
  std::optional<double> delta;
  std::optional<double> relative;
  std::optional<Better> better;   // which way the policy says this metric improves
  std::optional<bool> improved;   // with `better` and a non-zero delta
};

struct TextChange {
  std::string key;
  std::optional<std::string> before;
  std::optional<std::string> after;
};

struct FileChange {
  std::string path;
  std::string status;  // added, removed, changed
  std::optional<ManifestEntry> before;
  std::optional<ManifestEntry> after;
};

struct VersionDiff {
  VersionRecord before;
  VersionRecord after;
  std::vector<MetricChange> metrics;  // every metric of either version
  std::vector<TextChange> params;     // only those that differ
  std::vector<TextChange> labels;     // only those that differ
  std::vector<FileChange> files;      // only those that differ
  std::size_t files_unchanged = 0;
  std::vector<std::string> inputs_removed, inputs_added;
  std::vector<std::string> parents_removed, parents_added;
};

// `directions`: which way each metric improves (Policy::metric_directions).
VersionDiff diff_versions(sql::Db& db, const VersionRecord& before, const VersionRecord& after,
                          const std::map<std::string, Better>& directions = {});

std::string diff_text(const VersionDiff& d);
Json diff_json(const VersionDiff& d);
std::string diff_markdown(const VersionDiff& d);

}  // namespace lm
