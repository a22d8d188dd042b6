#pragma once
// Git tags that mirror registrations and promotions, in the names GTO uses
// (name@v1.4.0, name#production#3), so tag-triggered CI and GTO's own tools
// read lastmile's history; and what such a tag means when CI gets one.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "registry/core/git_tags.hpp"
#include "registry/query.hpp"

namespace lm {

namespace sql {
class Db;
}

struct ModelTag {
  // GTO's actions; lastmile writes registration and promotion tags and
  // reads all five.
  enum class Event { registration, deregistration, promotion, unassignment, deprecation };
  Event event = Event::registration;
  std::string name;
  std::string version;  // registration, deregistration: without the 'v'
  std::string stage;    // promotion, unassignment
  std::optional<std::int64_t> counter;  // the "#N" at the end
};

// "registration", "promotion", ...
const char* event_name(ModelTag::Event event);

// Reads a tag name in GTO's grammar with lastmile's name, version and
// stage rules: NAME@vVERSION[!][#N], NAME#STAGE[!][#N], NAME@deprecated[#N].
// nullopt when it is not a model tag.
std::optional<ModelTag> parse_model_tag(std::string_view tag);

// "churn@v1.4.0"
std::string registration_tag_name(const std::string& name, const std::string& version);
// "churn#production#3"
std::string promotion_tag_name(const std::string& name, const std::string& stage, std::int64_t counter);

// One more than the highest "#N" among the model's tags, as GTO counts:
// the counter runs across every stage of the model.
std::int64_t next_tag_counter(const std::vector<std::string>& tags, const std::string& name);

// The annotation: GTO's first line, then trailers lastmile reads back
// (Lastmile-Version, Lastmile-Digest). Only checked values go in, so no
// user text can forge a trailer.
std::string registration_tag_message(const VersionRecord& v);
std::string promotion_tag_message(const VersionRecord& v, const std::string& stage);

// "Key: value" lines of the message's last paragraph.
std::map<std::string, std::string> tag_trailers(std::string_view message);

// Throws Error(config) outside a git repository.
void require_tag_repository(const std::filesystem::path& cwd, const std::string& what);

// Throws unless a tag can be put on `commit` here: Error(config) when
// there is no commit (not a git repository, or nothing committed yet),
// Error(not_found) when this clone lacks it (with the fix for a shallow
// clone). `what` names the tag for the message.
// Error(usage) when git would refuse the name `tag`.
void require_taggable(const std::filesystem::path& cwd, const std::string& commit,
                      const std::string& what, const std::string& tag);

struct TagOutcome {
  std::string tag;
  std::string commit;
  bool created = false;  // false: it was there already, on the same commit
  bool gto_readable = true;  // GTO's stricter names ('.' and '_' are not in them)
  bool superseded = false;   // a promotion not tagged: the stage moved on before it could be
};

// Throws Error(check_failed) when the registration tag of name@version
// exists on another commit than `commit`.
void require_registration_tag_free(const std::filesystem::path& cwd, const std::string& name,
                                   const std::string& version, const std::string& commit);

// Tags the registration of `v` at the commit it was registered from. An
// existing tag on the same commit is left as it is; on another commit it is
// Error(check_failed).
TagOutcome tag_registration(const std::filesystem::path& cwd, const VersionRecord& v,
                            const std::string& actor);

// Tags the move of `v` into `stage` with the model's next counter. lastmile
// processes take numbers one at a time (git::TagLock); a tag made meanwhile
// by another tool makes it try the next number.
// `still_holds`, asked under that lock, says whether the stage still holds
// `v`: when another move came after this one and tagged first, tagging this
// one now would make GTO read the older move as the newer (superseded).
TagOutcome tag_promotion(const std::filesystem::path& cwd, const VersionRecord& v,
                         const std::string& stage, const std::string& actor,
                         const std::function<bool()>& still_holds);

// What a pushed tag means.
struct RefMeaning {
  ModelTag tag;
  git::TagRecord record;
  std::string version;       // for promotions too, when it can be told
  std::string version_from;  // "tag", "annotation", "registration tag" or "" (unknown)
  std::string digest;        // "sha256:<hex>" from the annotation or the registry
  bool in_registry = false;  // the registry here holds the version
};

// Reads `tag` ("refs/tags/" is allowed in front) in the repository around
// `cwd`. Error(usage) for a name git forbids or that is not a model tag,
// Error(not_found) when the tag is not here (with the fix for a shallow
// clone), Error(check_failed) when the registry `db` (may be null) holds
// the version with other bytes than the tag names.
RefMeaning check_ref(const std::filesystem::path& cwd, std::string_view tag, sql::Db* db);

}  // namespace lm
