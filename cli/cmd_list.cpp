// lastmile list [NAME]: the models, or the versions of one model.

#include "cli/command.hpp"
#include "cli/context.hpp"
#include "cli/views.hpp"
#include "registry/names.hpp"
#include "registry/query.hpp"

namespace lm::cli {

namespace {

int list_models_of(Context& ctx) {
  const auto models = list_models(ctx.registry().db());
  const Output& out = ctx.out();
  if (out.json()) {
    Json list = Json::array();
    for (const auto& m : models) {
      list.push_back({{"name", m.name},
                      {"kind", m.kind},
                      {"latest", m.latest.empty() ? Json(nullptr) : Json(m.latest)},
                      {"versions", m.version_count},
                      {"updated_at", m.updated_at}});
    }
    out.json_document({{"models", list}});
    return 0;
  }
  if (models.empty()) {
    out.note("no models registered yet; 'lastmile register NAME PATH' adds one");
    return 0;
  }
  std::vector<std::vector<std::string>> rows{{"NAME", "KIND", "LATEST", "VERSIONS", "UPDATED"}};
  for (const auto& m : models) {
    rows.push_back({m.name, m.kind, m.latest.empty() ? "-" : m.latest,
                    std::to_string(m.version_count), short_time(m.updated_at)});
  }
  out.line(format_table(rows, out));
  return 0;
}

int list_versions_of(Context& ctx, const std::string& name) {
  validate_name(name);
  const auto versions = list_versions(ctx.registry().db(), name);
  const Output& out = ctx.out();
  if (out.json()) {
    Json list = Json::array();
    for (const auto& v : versions) list.push_back(version_json(v));
    out.json_document({{"name", name}, {"versions", list}});
    return 0;
  }
  std::vector<std::vector<std::string>> rows{
      {"VERSION", "DIGEST", "SIZE", "FILES", "REGISTERED", "BY"}};
  for (const auto& v : versions) {
    rows.push_back({v.version, short_digest(v.digest), human_size(v.size),
                    std::to_string(v.file_count), short_time(v.registered_at), v.registered_by});
  }
  out.line(format_table(rows, out));
  return 0;
}

}  // namespace

Command list_command() {
  auto name = std::make_shared<std::string>();
  return {"list", "list models, or the versions of one model",
          [name](CLI::App& sub) {
            sub.add_option("NAME", *name, "list the versions of this model");
          },
          [name](Context& ctx) {
            return name->empty() ? list_models_of(ctx) : list_versions_of(ctx, *name);
          }};
}

}  // namespace lm::cli
