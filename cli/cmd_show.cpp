// lastmile show REF: everything recorded about one version.

#include "cli/command.hpp"
#include "cli/context.hpp"
#include "cli/views.hpp"
#include <map>

#include "registry/annotate.hpp"
#include "registry/lineage.hpp"
#include "registry/metadata.hpp"
#include "registry/names.hpp"
#include "registry/query.hpp"
#include "registry/stages.hpp"

namespace lm::cli {

namespace {

std::string joined_metrics(const Metrics& metrics) {
  std::string text;
  for (const auto& [k, v] : metrics) text += (text.empty() ? "" : "  ") + k + "=" + format_metric(v);
  return text;
}

std::string joined(const StringMap& map) {
  std::string text;
  for (const auto& [k, v] : map) text += (text.empty() ? "" : "  ") + k + "=" + v;
  return text;
}

std::string git_line(const GitInfo& g) {
  std::string text = g.commit.empty() ? "(no commit yet)" : g.commit;
  if (!g.branch.empty()) text += " on " + g.branch;
  if (g.dirty) text += " (dirty)";
  if (!g.remote.empty()) text += "  " + g.remote;
  return text;
}

std::string joined(const std::vector<std::string>& list) {
  std::string text;
  for (const auto& item : list) text += (text.empty() ? "" : "  ") + item;
  return text;
}

// The stages that held the version at `at`.
std::vector<std::string> stages_holding(sql::Db& db, const VersionRecord& v, const AsOf& at) {
  std::vector<std::string> stages;
  if (v.kind != "model") return stages;
  for (const auto& move : stage_holders(db, v.name, at)) {
    if (move.version_id == v.id) stages.push_back(move.stage);
  }
  return stages;
}

void print_text(const Output& out, const VersionRecord& v, const VersionMetadata& meta,
                const Manifest& manifest, std::map<std::string, std::vector<std::string>>& links,
                const std::vector<std::string>& stages) {
  std::vector<std::vector<std::string>> rows;
  const auto add = [&](std::string key, std::string value) {
    if (!value.empty()) rows.push_back({std::move(key), std::move(value)});
  };
  add("digest", v.digest);
  add("size", size_summary(v.size, v.file_count));
  add("format", v.format);
  add("store", v.store == "copy" ? "copy" : "reference to " + v.source);
  add("registered", v.registered_at + " by " + v.registered_by);
  add("stages", joined(stages));
  add("owner", v.owner);
  add("description", v.description);
  add("git", v.git ? git_line(*v.git) : "not recorded (registered outside git)");
  add("metrics", joined_metrics(meta.metrics));
  add("params", joined(meta.params));
  add("labels", joined(meta.labels));
  add("inputs", joined(links["input"]));
  add("parents", joined(links["parent"]));
  std::string text = out.bold(v.ref()) + "  (" + v.kind + ")\n";
  for (const auto& row : rows) {
    text += row[0] + std::string(13 - std::min<std::size_t>(row[0].size(), 12), ' ') +
            printable(row[1]) + "\n";
  }
  text += "files\n";
  std::vector<std::vector<std::string>> files{{"  PATH", "SIZE", "SHA256"}};
  for (const auto& e : manifest) {
    if (e.is_link()) {
      files.push_back({"  " + e.path, "-", "-> " + e.link});
    } else {
      files.push_back({"  " + e.path, human_size(e.size), e.sha256});
    }
  }
  text += format_table(files, out);
  out.line(text);
}

struct ShowOptions {
  std::string ref;
  std::string at;
};

int run_show(Context& ctx, const ShowOptions& o) {
  const Ref ref = parse_ref(o.ref);
  sql::Db& db = ctx.registry().db();
  const AsOf at = o.at.empty() ? AsOf{} : as_of(db, o.at);
  VersionRecord v = resolve(db, ref, at);
  VersionMetadata meta = load_metadata(db, v.id);
  if (at.past()) {  // labels, owner and description may have changed since
    Annotations then = annotations_as_of(db, v, at);
    meta.labels = std::move(then.labels);
    v.owner = std::move(then.owner);
    v.description = std::move(then.description);
  }
  const Manifest manifest = load_manifest(db, v.id);
  auto links = linked_refs(db, v.id);
  const auto stages = stages_holding(db, v, at);
  if (ctx.out().json()) {
    Json doc = version_json(v);
    doc.update(metadata_json(meta));
    doc["as_of"] = at.past() ? Json(at.time) : Json(nullptr);
    doc["inputs"] = links["input"];
    doc["parents"] = links["parent"];
    doc["stages"] = stages;
    doc["manifest"] = manifest_to_json(manifest);
    ctx.out().json_document(doc);
    return 0;
  }
  if (at.past()) ctx.out().note("as of " + at.time + ", " + ref.text + " was " + v.ref());
  print_text(ctx.out(), v, meta, manifest, links, stages);
  return 0;
}

}  // namespace

Command show_command() {
  auto o = std::make_shared<ShowOptions>();
  return {"show", "show one version: digest, metadata, provenance, lineage and files",
          [o](CLI::App& sub) {
            sub.add_option("REF", o->ref,
                           "NAME@VERSION, NAME@latest, NAME@STAGE, NAME@sha256:HEX, or NAME for the latest")
                ->required();
            sub.add_option("--at", o->at,
                           "answer as the registry stood at TIME (RFC 3339, or a date)")
                ->type_name("TIME");
          },
          [o](Context& ctx) { return run_show(ctx, *o); }};
}

}  // namespace lm::cli
