#include "registry/diff.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>

#include "registry/core/error.hpp"
#include "registry/core/units.hpp"
#include "registry/lineage.hpp"
#include "registry/metadata.hpp"

namespace lm {

namespace {

template <class Map, class Change>
std::vector<Change> changed_entries(const Map& before, const Map& after, bool keep_equal) {
  std::set<std::string> keys;
  for (const auto& [k, v] : before) keys.insert(k);
  for (const auto& [k, v] : after) keys.insert(k);
  std::vector<Change> out;
  for (const auto& key : keys) {
    Change c;
    c.key = key;
    if (auto it = before.find(key); it != before.end()) c.before = it->second;
    if (auto it = after.find(key); it != after.end()) c.after = it->second;
    if (keep_equal || c.before != c.after) out.push_back(std::move(c));
  }
  return out;
}

std::vector<FileChange> file_changes(const Manifest& before, const Manifest& after,
                                     std::size_t& unchanged) {
  std::map<std::string, const ManifestEntry*> a, b;
  for (const auto& e : before) a[e.path] = &e;
  for (const auto& e : after) b[e.path] = &e;
  std::set<std::string> paths;
  for (const auto& [p, e] : a) paths.insert(p);
  for (const auto& [p, e] : b) paths.insert(p);
  std::vector<FileChange> out;
  for (const auto& path : paths) {
    FileChange c;
    c.path = path;
    if (a.count(path)) c.before = *a[path];
    if (b.count(path)) c.after = *b[path];
    if (!c.before) {
      c.status = "added";
    } else if (!c.after) {
      c.status = "removed";
    } else if (c.before->sha256 != c.after->sha256 || c.before->link != c.after->link ||
               c.before->executable != c.after->executable) {
      c.status = "changed";
    } else {
      ++unchanged;
      continue;
    }
    out.push_back(std::move(c));
  }
  return out;
}

// Sorted inputs: what only `a` has, and what only `b` has.
void set_difference(const std::vector<std::string>& a, const std::vector<std::string>& b,
                    std::vector<std::string>& only_a, std::vector<std::string>& only_b) {
  std::set_difference(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(only_a));
  std::set_difference(b.begin(), b.end(), a.begin(), a.end(), std::back_inserter(only_b));
}

// A difference of two doubles carries their representation error
// (0.4 - 0.5 = -0.09999999999999998); ten significant digits drop it.
std::string signed_number(double value) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%+.10g", value);
  return buf;
}

std::string percent(double fraction) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%+.1f%%", fraction * 100);
  return buf;
}

std::string optional_metric(const std::optional<double>& v) {
  return v ? format_metric(*v) : "-";
}

std::string optional_text(const std::optional<std::string>& v) { return v ? printable(*v) : "-"; }

std::string md_optional(const std::optional<std::string>& v) { return v ? markdown_cell(*v) : "-"; }

std::string size_text(std::uint64_t bytes) { return human_size(bytes); }

// Whether two versions came from the same code: the same commit and a clean
// work tree for both (a dirty tree could hold anything).
bool same_code(const VersionDiff& d) {
  const auto& a = d.before.git;
  const auto& b = d.after.git;
  return a && b && !a->commit.empty() && a->commit == b->commit && !a->dirty && !b->dirty;
}

std::string short_commit(const std::optional<GitInfo>& git) {
  if (!git) return "not recorded";
  std::string text = git->commit.empty() ? "(no commit)" : git->commit.substr(0, 12);
  if (git->dirty) text += " (dirty)";
  return text;
}

std::string pad(const std::string& text, std::size_t width) {
  return text.size() >= width ? text : text + std::string(width - text.size(), ' ');
}

std::size_t key_width(const auto& list) {
  std::size_t width = 0;
  for (const auto& c : list) width = std::max(width, c.key.size());
  return width;
}

std::string file_detail(const FileChange& c) {
  if (c.status == "added") return c.after->is_link() ? "-> " + c.after->link : size_text(c.after->size);
  if (c.status == "removed") return c.before->is_link() ? "-> " + c.before->link : size_text(c.before->size);
  if (c.before->is_link() || c.after->is_link()) {
    return (c.before->is_link() ? "-> " + c.before->link : size_text(c.before->size)) + " → " +
           (c.after->is_link() ? "-> " + c.after->link : size_text(c.after->size));
  }
  const auto delta = static_cast<std::int64_t>(c.after->size) - static_cast<std::int64_t>(c.before->size);
  std::string text = size_text(c.before->size) + " → " + size_text(c.after->size);
  if (delta != 0) {
    text += " (" + std::string(delta > 0 ? "+" : "-") +
            human_size(static_cast<std::uint64_t>(delta > 0 ? delta : -delta)) + ")";
  }
  if (c.before->executable != c.after->executable) text += c.after->executable ? ", now executable" : ", no longer executable";
  return text;
}

std::string files_summary(const VersionDiff& d) {
  std::size_t added = 0, removed = 0, changed = 0;
  for (const auto& f : d.files) {
    (f.status == "added" ? added : f.status == "removed" ? removed : changed)++;
  }
  return std::to_string(changed) + " changed, " + std::to_string(added) + " added, " +
         std::to_string(removed) + " removed, " + std::to_string(d.files_unchanged) + " unchanged";
}

Json optional_json(const auto& v) { return v ? Json(*v) : Json(nullptr); }

Json entry_json(const std::optional<ManifestEntry>& e) {
  if (!e) return nullptr;
  if (e->is_link()) return {{"link", e->link}};
  return {{"size", e->size}, {"sha256", e->sha256}, {"executable", e->executable}};
}

Json git_json(const std::optional<GitInfo>& g) {
  if (!g) return nullptr;
  return {{"commit", g->commit}, {"branch", g->branch}, {"dirty", g->dirty}};
}

}  // namespace

VersionDiff diff_versions(sql::Db& db, const VersionRecord& before, const VersionRecord& after,
                          const std::map<std::string, Better>& directions) {
  VersionDiff d;
  d.before = before;
  d.after = after;
  const VersionMetadata a = load_metadata(db, before.id);
  const VersionMetadata b = load_metadata(db, after.id);
  d.metrics = changed_entries<Metrics, MetricChange>(a.metrics, b.metrics, true);
  for (auto& m : d.metrics) {
    if (m.before && m.after) {
      m.delta = *m.after - *m.before;
      if (*m.before != 0) m.relative = *m.delta / std::fabs(*m.before);
    }
    if (const auto it = directions.find(m.key); it != directions.end()) {
      m.better = it->second;
      if (m.delta && *m.delta != 0) m.improved = (*m.delta > 0) == (it->second == Better::higher);
    }
  }
  d.params = changed_entries<StringMap, TextChange>(a.params, b.params, false);
  d.labels = changed_entries<StringMap, TextChange>(a.labels, b.labels, false);
  d.files = file_changes(load_manifest(db, before.id), load_manifest(db, after.id), d.files_unchanged);
  const auto la = linked_refs(db, before.id);
  const auto lb = linked_refs(db, after.id);
  set_difference(la.at("input"), lb.at("input"), d.inputs_removed, d.inputs_added);
  set_difference(la.at("parent"), lb.at("parent"), d.parents_removed, d.parents_added);
  return d;
}

std::string diff_text(const VersionDiff& d) {
  std::string out = "diff " + d.before.ref() + " → " + d.after.ref() + "\n";
  out += d.before.digest == d.after.digest
             ? "digest   the same bytes (" + d.before.digest.substr(0, 19) + ")\n"
             : "digest   " + d.before.digest.substr(0, 19) + " → " + d.after.digest.substr(0, 19) + "\n";
  if (!d.metrics.empty()) {
    out += "metrics\n";
    const std::size_t w = key_width(d.metrics);
    for (const auto& m : d.metrics) {
      out += "  " + pad(m.key, w) + "  " + optional_metric(m.before) + " → " + optional_metric(m.after);
      if (m.delta) {
        out += "  " + signed_number(*m.delta) + (m.relative ? " (" + percent(*m.relative) + ")" : "");
        if (m.improved) out += *m.improved ? "  better" : "  worse";
      } else {
        out += m.before ? "  (gone)" : "  (new)";
      }
      out += "\n";
    }
  }
  for (const auto& [title, list] : {std::pair{"params", &d.params}, std::pair{"labels", &d.labels}}) {
    if (list->empty()) continue;
    out += std::string(title) + "\n";
    const std::size_t w = key_width(*list);
    for (const auto& c : *list) {
      out += "  " + pad(c.key, w) + "  " + optional_text(c.before) + " → " + optional_text(c.after) + "\n";
    }
  }
  out += "files    " + files_summary(d) + "\n";
  for (const auto& f : d.files) {
    const char mark = f.status == "added" ? '+' : f.status == "removed" ? '-' : '~';
    out += std::string("  ") + mark + " " + printable(f.path) + "  " + printable(file_detail(f)) + "\n";
  }
  for (const auto& [title, removed, added] :
       {std::tuple{"inputs", &d.inputs_removed, &d.inputs_added},
        std::tuple{"parents", &d.parents_removed, &d.parents_added}}) {
    if (removed->empty() && added->empty()) continue;
    out += std::string(title) + "\n";
    for (const auto& r : *removed) out += "  - " + r + "\n";
    for (const auto& a : *added) out += "  + " + a + "\n";
  }
  out += "code     " + (same_code(d) ? "the same commit (" + short_commit(d.before.git) + ")"
                                    : short_commit(d.before.git) + " → " + short_commit(d.after.git));
  return out;
}

Json diff_json(const VersionDiff& d) {
  Json metrics = Json::array();
  for (const auto& m : d.metrics) {
    metrics.push_back({{"key", m.key},
                       {"before", optional_json(m.before)},
                       {"after", optional_json(m.after)},
                       {"delta", optional_json(m.delta)},
                       {"relative", optional_json(m.relative)},
                       {"better", m.better ? Json(*m.better == Better::higher ? "higher" : "lower")
                                           : Json(nullptr)},
                       {"improved", optional_json(m.improved)}});
  }
  const auto text_changes = [](const std::vector<TextChange>& list) {
    Json out = Json::array();
    for (const auto& c : list) {
      out.push_back({{"key", c.key}, {"before", optional_json(c.before)}, {"after", optional_json(c.after)}});
    }
    return out;
  };
  Json files = Json::array();
  for (const auto& f : d.files) {
    files.push_back({{"path", f.path}, {"status", f.status}, {"before", entry_json(f.before)},
                     {"after", entry_json(f.after)}});
  }
  return {{"before", d.before.ref()},
          {"after", d.after.ref()},
          {"same_digest", d.before.digest == d.after.digest},
          {"digest", {{"before", d.before.digest}, {"after", d.after.digest}}},
          {"metrics", metrics},
          {"params", text_changes(d.params)},
          {"labels", text_changes(d.labels)},
          {"files", files},
          {"files_unchanged", d.files_unchanged},
          {"inputs", {{"removed", d.inputs_removed}, {"added", d.inputs_added}}},
          {"parents", {{"removed", d.parents_removed}, {"added", d.parents_added}}},
          {"code", {{"before", git_json(d.before.git)}, {"after", git_json(d.after.git)}}}};
}

std::string diff_markdown(const VersionDiff& d) {
  const std::string a = d.before.ref();
  const std::string b = d.after.ref();
  std::string out = "### `" + a + "` → `" + b + "`\n\n";
  if (!d.metrics.empty()) {
    out += "| metric | `" + a + "` | `" + b + "` | Δ | Δ % |\n|---|---:|---:|---:|---:|\n";
    for (const auto& m : d.metrics) {
      out += "| " + m.key + " | " + optional_metric(m.before) + " | " + optional_metric(m.after) +
             " | " + (m.delta ? signed_number(*m.delta) : "") + " | " +
             (m.relative ? percent(*m.relative) : "") +
             (m.improved ? (*m.improved ? " ✅" : " ❌") : "") + " |\n";
    }
    out += "\n";
  }
  for (const auto& [title, list] : {std::pair{"param", &d.params}, std::pair{"label", &d.labels}}) {
    if (list->empty()) continue;
    out += std::string("| ") + title + " | `" + a + "` | `" + b + "` |\n|---|---|---|\n";
    for (const auto& c : *list) {
      out += "| " + markdown_cell(c.key) + " | " + md_optional(c.before) + " | " + md_optional(c.after) + " |\n";
    }
    out += "\n";
  }
  out += "**Files:** " + files_summary(d) + "\n";
  if (!d.files.empty()) {
    out += "\n| | file | change |\n|---|---|---|\n";
    for (const auto& f : d.files) {
      out += "| " + f.status + " | " + markdown_cell(f.path) + " | " + markdown_cell(file_detail(f)) + " |\n";
    }
  }
  const auto list = [](const std::vector<std::string>& refs, const char* mark) {
    std::string text;
    for (const auto& r : refs) text += std::string(text.empty() ? "" : ", ") + mark + "`" + r + "`";
    return text;
  };
  if (!d.inputs_removed.empty() || !d.inputs_added.empty()) {
    out += "\n**Inputs:** " + list(d.inputs_removed, "−") + (d.inputs_removed.empty() || d.inputs_added.empty() ? "" : ", ") +
           list(d.inputs_added, "+") + "\n";
  }
  if (!d.parents_removed.empty() || !d.parents_added.empty()) {
    out += "\n**Parents:** " + list(d.parents_removed, "−") + (d.parents_removed.empty() || d.parents_added.empty() ? "" : ", ") +
           list(d.parents_added, "+") + "\n";
  }
  out += "\n**Code:** " + (same_code(d) ? "the same commit, `" + short_commit(d.before.git) + "`"
                                       : "`" + short_commit(d.before.git) + "` → `" +
                                             short_commit(d.after.git) + "`");
  return out;
}

}  // namespace lm
