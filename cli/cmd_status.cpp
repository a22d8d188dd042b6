// lastmile status [NAME] [--at TIME]: what each stage holds, since when,
// and who put it there.

#include <algorithm>

#include "cli/command.hpp"
#include "cli/context.hpp"
#include "cli/views.hpp"
#include "deploy/records.hpp"
#include "registry/core/error.hpp"
#include "registry/deployments.hpp"
#include "registry/names.hpp"
#include "registry/query.hpp"
#include "registry/promote.hpp"
#include "registry/stages.hpp"

namespace lm::cli {

namespace {

struct StatusOptions {
  std::string name;
  std::string at;
};

// What an environment runs, and whether its stage has moved on since.
struct EnvironmentStatus {
  Deployment deployment;
  bool stale = false;                  // its stage no longer holds the version
  std::optional<std::string> holds;    // what that stage holds now
};

struct ModelStatus {
  std::string name;
  // Stage name and its holder (nullopt: the stage holds nothing of it).
  std::vector<std::pair<std::string, std::optional<StageMove>>> stages;
  std::vector<EnvironmentStatus> environments;
};

// The models to report on, as they existed at `at`.
bool existed_at(sql::Db& db, const std::string& name, const AsOf& at) {
  auto created = db.prepare("SELECT created_seq FROM models WHERE name = ?");
  created.bind(1, name);
  return created.step() && created.int64(0) <= at.seq;
}

std::vector<std::string> models_to_show(sql::Db& db, const std::string& name, const AsOf& at) {
  if (!name.empty()) {
    validate_name(name);
    require_model_name(db, name);
    if (!existed_at(db, name, at)) {
      throw Error(ExitCode::not_found, quote(name) + " was not registered yet at " + at.time);
    }
    return {name};
  }
  std::vector<std::string> names;
  for (const auto& m : list_models(db)) {
    if (m.kind == "model" && existed_at(db, m.name, at)) names.push_back(m.name);
  }
  return names;
}

// The policy's stages in order, then any stage the log knows that the
// policy no longer names.
ModelStatus status_of(sql::Db& db, const std::string& name, const std::vector<std::string>& stages,
                      const AsOf& at) {
  ModelStatus status{name, {}};
  const auto held = stage_holders(db, name, at);
  for (const auto& stage : stages) {
    const auto it = std::find_if(held.begin(), held.end(), [&](const auto& m) { return m.stage == stage; });
    status.stages.emplace_back(stage, it == held.end() ? std::nullopt : std::optional(*it));
  }
  for (const auto& m : held) {
    if (std::find(stages.begin(), stages.end(), m.stage) == stages.end()) {
      status.stages.emplace_back(m.stage, m);
    }
  }
  for (auto& d : current_deployments(db, name, at)) {
    EnvironmentStatus env{std::move(d), false, std::nullopt};
    if (env.deployment.stage) {
      const auto it = std::find_if(held.begin(), held.end(),
                                   [&](const auto& m) { return m.stage == *env.deployment.stage; });
      if (it != held.end()) env.holds = it->version;
      env.stale = it == held.end() || it->version_id != env.deployment.version_id;
    }
    status.environments.push_back(std::move(env));
  }
  return status;
}

const char* action_text(const std::string& action) {
  if (action == "registered") return "registered";
  if (action == "rolled_back") return "rolled back";
  return "promoted";
}

Json status_json(const std::vector<ModelStatus>& models, const AsOf& at) {
  Json list = Json::array();
  for (const auto& m : models) {
    Json stages = Json::array();
    for (const auto& [stage, move] : m.stages) {
      if (!move) {
        stages.push_back({{"stage", stage}, {"version", nullptr}});
        continue;
      }
      stages.push_back({{"stage", stage},
                        {"version", move->version},
                        {"digest", move->digest},
                        {"since", move->time},
                        {"by", move->actor},
                        {"action", move->action},
                        {"reason", move->reason},
                        {"replaced", move->replaced ? Json(*move->replaced) : Json()},
                        {"event", move->event_seq}});
    }
    Json environments = Json::array();
    for (const auto& e : m.environments) {
      Json entry = deploy::deployment_json(e.deployment);
      entry["stale"] = e.stale;
      entry["stage_holds"] = e.holds ? Json(*e.holds) : Json();
      environments.push_back(std::move(entry));
    }
    list.push_back({{"name", m.name}, {"stages", stages}, {"environments", environments}});
  }
  return {{"at", at.past() ? Json(at.time) : Json()}, {"models", list}};
}

// "what runs where", with the environments a promotion or a rollback has
// left behind marked.
void print_environments(const Output& out, const std::vector<ModelStatus>& models) {
  std::vector<std::vector<std::string>> rows{{"MODEL", "ENVIRONMENT", "VERSION", "SINCE", "BY", "SERVES"}};
  for (const auto& m : models) {
    for (const auto& e : m.environments) {
      const Deployment& d = e.deployment;
      std::string serves = d.stage.value_or("-");
      if (e.stale) {
        serves += "  " + out.red("✘ " + *d.stage + (e.holds ? " now holds " + *e.holds : " holds nothing"));
      }
      rows.push_back({m.name, d.environment, d.version, short_time(d.time), d.actor, serves});
    }
  }
  if (rows.size() == 1) return;
  out.line("");
  out.line(format_table(rows, out));
}

int run_status(Context& ctx, const StatusOptions& o) {
  sql::Db& db = ctx.registry().db();
  const AsOf at = o.at.empty() ? AsOf{} : as_of(db, o.at);
  std::vector<std::string> stages;
  const PolicyLoad& policy = ctx.policy();
  if (policy.ok()) {
    stages = policy.policy.stage_names();
  } else {
    ctx.out().warn("lastmile.yaml has problems ('lastmile policy check'); showing the stages the log knows");
  }
  std::vector<ModelStatus> models;
  for (const auto& name : models_to_show(db, o.name, at)) models.push_back(status_of(db, name, stages, at));
  const Output& out = ctx.out();
  if (out.json()) {
    out.json_document(status_json(models, at));
    return 0;
  }
  if (models.empty()) {
    out.note(at.past() ? "no models were registered by " + at.time
                       : "no models registered yet; 'lastmile register NAME PATH' adds one");
    return 0;
  }
  if (at.past()) out.note("as of " + at.time);
  std::vector<std::vector<std::string>> rows{{"MODEL", "STAGE", "VERSION", "SINCE", "BY", "HOW"}};
  for (const auto& m : models) {
    for (const auto& [stage, move] : m.stages) {
      if (!move) {
        rows.push_back({m.name, stage, "-", "", "", ""});
        continue;
      }
      rows.push_back({m.name, stage, move->version, short_time(move->time), move->actor,
                      action_text(move->action)});
    }
  }
  out.line(format_table(rows, out));
  print_environments(out, models);
  return 0;
}

}  // namespace

Command status_command() {
  auto o = std::make_shared<StatusOptions>();
  return {"status", "show what each stage holds and what each environment runs",
          [o](CLI::App& sub) {
            sub.add_option("NAME", o->name, "only this model");
            sub.add_option("--at", o->at,
                           "as the registry stood at TIME (RFC 3339, or a date): what was in "
                           "production then")
                ->type_name("TIME");
          },
          [o](Context& ctx) { return run_status(ctx, *o); }};
}

}  // namespace lm::cli
