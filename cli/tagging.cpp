#include "cli/tagging.hpp"

#include "cli/context.hpp"
#include "registry/stages.hpp"

namespace lm::cli {

void add_tag_flags(CLI::App& sub, TagFlags& flags, const std::string& what) {
  auto* on = sub.add_flag("--tag", flags.tag,
                          "mirror the " + what + " as an annotated git tag, as GTO names them "
                          "(default: git.tags in lastmile.yaml)");
  sub.add_flag("--no-tag", flags.no_tag, "do not create a git tag, whatever lastmile.yaml says")
      ->excludes(on);
}

bool tags_wanted(Context& ctx, const TagFlags& flags) {
  if (flags.tag) return true;
  if (flags.no_tag) return false;
  const PolicyLoad& load = ctx.policy();
  return load.ok() && load.policy.git_tags;
}

std::function<bool()> stage_still_holds(Registry& registry, const VersionRecord& v, const std::string& stage) {
  return [&registry, id = v.id, name = v.name, stage] {
    const auto holder = stage_holder(registry.db(), name, stage);
    return holder && holder->version_id == id;
  };
}

Json tag_json(const TagOutcome& tag) {
  if (tag.superseded) return {{"name", nullptr}, {"commit", tag.commit}, {"created", false}, {"superseded", true}};
  return {{"name", tag.tag}, {"commit", tag.commit}, {"created", tag.created}};
}

void print_tag(const Context& ctx, const TagOutcome& tag) {
  const Output& out = ctx.out();
  if (tag.superseded) {
    out.warn("not tagged: the stage moved on before the tag could be made, and a tag now would make "
             "GTO read this older move as the newer");
    return;
  }
  if (!out.json()) {
    out.line((tag.created ? "tagged " : "tag ") + tag.tag + (tag.created ? " at " : " is already at ") +
             tag.commit.substr(0, 12));
  }
  if (!tag.gto_readable) {
    out.warn("GTO reads no '.' or '_' in names and no stage ending in '-', so it will not see " +
             quote(tag.tag) + "; 'lastmile check-ref' will");
  }
}

Error tag_failed_after(const Error& e, const std::string& done) {
  return Error(e.code(), done + ", but " + e.what(), e.hint());
}

}  // namespace lm::cli
