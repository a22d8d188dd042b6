#include "registry/tags.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <limits>

#include "registry/core/error.hpp"
#include "registry/core/git.hpp"
#include "registry/names.hpp"

namespace lm {

namespace {

constexpr int k_counter_attempts = 8;

// Whether a validator from names.hpp (which throws) accepts `text`.
template <class Validate>
bool accepted(Validate validate, std::string_view text) {
  try {
    validate(text);
    return true;
  } catch (const Error&) {
    return false;
  }
}

std::optional<std::int64_t> parse_counter(std::string_view digits) {
  std::int64_t value = 0;
  if (digits.empty() || digits.front() == '+' || digits.front() == '-') return std::nullopt;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
  return value;
}

// "<body>[!][#N]" after the '@' or '#': the body, the cancel mark and the
// counter. nullopt when what follows the body is not "#<digits>".
struct Suffix {
  std::string_view body;
  bool cancel = false;
  std::optional<std::int64_t> counter;
};

std::optional<Suffix> split_suffix(std::string_view rest) {
  Suffix s;
  const auto hash = rest.find('#');
  s.body = rest.substr(0, hash);
  if (hash != std::string_view::npos) {
    s.counter = parse_counter(rest.substr(hash + 1));
    if (!s.counter) return std::nullopt;
  }
  if (!s.body.empty() && s.body.back() == '!') {
    s.cancel = true;
    s.body.remove_suffix(1);
  }
  return s;
}

// GTO's names: segments of [a-z0-9-] joined by '/'; lastmile's also allow
// '.' and '_'. GTO's stages end in a letter or digit; lastmile's may end in '-'.
bool gto_readable(const std::string& name, const std::string& stage = "") {
  return name.find_first_of("._") == std::string::npos && (stage.empty() || stage.back() != '-');
}

// A tag's annotation is anyone's text: only a digest of the right shape
// is passed on to CI.
bool well_formed_digest(const std::string& text) {
  constexpr std::string_view prefix = "sha256:";
  if (text.size() != prefix.size() + 64 || text.compare(0, prefix.size(), prefix) != 0) return false;
  return text.find_first_not_of("0123456789abcdef", prefix.size()) == std::string::npos;
}

std::string short_commit(const std::string& commit) { return commit.substr(0, 12); }


std::string missing_commit_hint(const std::filesystem::path& cwd) {
  const auto depth = git::read_clone_depth(cwd);
  if (depth && depth->shallow) return "this is a shallow clone; " + git::shallow_clone_fix();
  return "fetch the commit the model was registered from ('git fetch'), or register it from this "
         "repository";
}

}  // namespace

const char* event_name(ModelTag::Event event) {
  switch (event) {
    case ModelTag::Event::registration:
      return "registration";
    case ModelTag::Event::deregistration:
      return "deregistration";
    case ModelTag::Event::promotion:
      return "promotion";
    case ModelTag::Event::unassignment:
      return "unassignment";
    case ModelTag::Event::deprecation:
      return "deprecation";
  }
  return "unknown";
}

std::optional<ModelTag> parse_model_tag(std::string_view tag) {
  const auto at = tag.find_first_of("@#");
  if (at == std::string_view::npos || at == 0) return std::nullopt;
  ModelTag out;
  out.name = std::string(tag.substr(0, at));
  if (!accepted([](std::string_view t) { validate_name(t); }, out.name)) return std::nullopt;
  const auto suffix = split_suffix(tag.substr(at + 1));
  if (!suffix) return std::nullopt;
  out.counter = suffix->counter;
  if (tag[at] == '#') {
    if (!accepted(validate_stage, suffix->body)) return std::nullopt;
    out.stage = std::string(suffix->body);
    out.event = suffix->cancel ? ModelTag::Event::unassignment : ModelTag::Event::promotion;
    return out;
  }
  if (suffix->body == "deprecated" && !suffix->cancel) {
    out.event = ModelTag::Event::deprecation;
    return out;
  }
  // GTO writes the version with a 'v'; without one it is not a GTO tag.
  if (suffix->body.size() < 2 || suffix->body[0] != 'v' || !std::isdigit(static_cast<unsigned char>(suffix->body[1]))) {
    return std::nullopt;
  }
  const auto version = try_parse_semver(suffix->body.substr(1));
  if (!version) return std::nullopt;
  out.version = version->str();
  out.event = suffix->cancel ? ModelTag::Event::deregistration : ModelTag::Event::registration;
  return out;
}

std::string registration_tag_name(const std::string& name, const std::string& version) {
  return name + "@v" + version;
}

std::string promotion_tag_name(const std::string& name, const std::string& stage, std::int64_t counter) {
  return name + "#" + stage + "#" + std::to_string(counter);
}

std::int64_t next_tag_counter(const std::vector<std::string>& tags, const std::string& name) {
  // Every tag of the model that ends in "#<digits>", also those whose
  // stage lastmile's rules would not allow (GTO's allow '/' and a leading
  // digit): GTO counts them all.
  std::int64_t highest = 0;
  for (const auto& tag : tags) {
    if (tag.size() <= name.size() || tag.compare(0, name.size(), name) != 0) continue;
    if (tag[name.size()] != '@' && tag[name.size()] != '#') continue;
    const auto hash = tag.rfind('#');
    if (hash <= name.size()) continue;
    if (const auto counter = parse_counter(std::string_view(tag).substr(hash + 1))) {
      highest = std::max(highest, *counter);
    }
  }
  if (highest == std::numeric_limits<std::int64_t>::max()) {
    throw Error(ExitCode::data, "the tags of " + quote(name) + " have used up their numbers (a tag ends in #" +
                                    std::to_string(highest) + ")",
                "find it with 'git tag --list \'" + name + "#*\''");
  }
  return highest + 1;
}

std::string registration_tag_message(const VersionRecord& v) {
  return "Registering artifact " + v.name + " version v" + v.version +
         "\n\nLastmile-Version: " + v.version + "\nLastmile-Digest: " + v.digest + "\n";
}

std::string promotion_tag_message(const VersionRecord& v, const std::string& stage) {
  return "Assigning stage '" + stage + "' to artifact '" + v.name + "' version 'v" + v.version +
         "'\n\nLastmile-Version: " + v.version + "\nLastmile-Digest: " + v.digest +
         "\nLastmile-Stage: " + stage + "\n";
}

std::map<std::string, std::string> tag_trailers(std::string_view message) {
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.remove_suffix(1);
  const auto blank = message.rfind("\n\n");
  const std::string_view last = blank == std::string_view::npos ? std::string_view() : message.substr(blank + 2);
  std::map<std::string, std::string> out;
  std::size_t start = 0;
  while (start < last.size()) {
    const auto end = std::min(last.find('\n', start), last.size());
    const std::string_view line = last.substr(start, end - start);
    const auto colon = line.find(": ");
    if (colon != std::string_view::npos && colon > 0 &&
        line.substr(0, colon).find(' ') == std::string_view::npos) {
      out.emplace(std::string(line.substr(0, colon)), std::string(line.substr(colon + 2)));
    }
    start = end + 1;
  }
  return out;
}

void require_tag_repository(const std::filesystem::path& cwd, const std::string& what) {
  if (!git::read_clone_depth(cwd)) {
    throw Error(ExitCode::config, "cannot tag " + what + ": not in a git repository",
                "run it inside the repository, or without tags (--no-tag)");
  }
}

void require_taggable(const std::filesystem::path& cwd, const std::string& commit,
                      const std::string& what, const std::string& tag) {
  if (const std::string problem = git::tag_name_problem(tag); !problem.empty()) {
    throw Error(ExitCode::usage, "cannot tag " + what + ": git refuses the tag name " + quote(tag) + ": " + problem,
                "run without tags (--no-tag), or choose a version git can name");
  }
  if (commit.empty()) {
    throw Error(ExitCode::config,
                "cannot tag " + what + ": it has no git commit to point at (not registered in a "
                                       "git repository with a commit)",
                "commit first, or run without tags (--no-tag)");
  }
  require_tag_repository(cwd, what);
  if (!git::commit_exists(cwd, commit)) {
    throw Error(ExitCode::not_found,
                "cannot tag " + what + ": commit " + quote(short_commit(commit)) +
                    " it was registered from is not in this repository",
                missing_commit_hint(cwd));
  }
}

void require_registration_tag_free(const std::filesystem::path& cwd, const std::string& name,
                                   const std::string& version, const std::string& commit) {
  const std::string tag = registration_tag_name(name, version);
  const auto existing = git::find_tag(cwd, tag);
  if (existing && existing->commit != commit) {
    throw Error(ExitCode::check_failed,
                "git tag " + quote(tag) + " points at commit " + quote(short_commit(existing->commit)) +
                    ", not at " + quote(short_commit(commit)) + " that " + quote(name + "@" + version) +
                    " is registered from",
                "inspect it with 'git show " + tag + "'; tags are never moved");
  }
}

TagOutcome tag_registration(const std::filesystem::path& cwd, const VersionRecord& v,
                            const std::string& actor) {
  TagOutcome out;
  out.tag = registration_tag_name(v.name, v.version);
  out.commit = v.git ? v.git->commit : std::string();
  out.gto_readable = gto_readable(v.name);
  require_taggable(cwd, out.commit, quote(v.ref()), out.tag);
  require_registration_tag_free(cwd, v.name, v.version, out.commit);
  out.created = git::create_annotated_tag(cwd, out.tag, out.commit, registration_tag_message(v), actor) ==
                git::TagCreated::created;
  // Made by another process since the check: it must agree all the same.
  if (!out.created) require_registration_tag_free(cwd, v.name, v.version, out.commit);
  return out;
}

TagOutcome tag_promotion(const std::filesystem::path& cwd, const VersionRecord& v,
                         const std::string& stage, const std::string& actor,
                         const std::function<bool()>& still_holds) {
  TagOutcome out;
  out.commit = v.git ? v.git->commit : std::string();
  out.gto_readable = gto_readable(v.name, stage);
  require_taggable(cwd, out.commit, quote(v.ref()) + " in " + quote(stage), promotion_tag_name(v.name, stage, 1));
  const std::string message = promotion_tag_message(v, stage);
  const git::TagLock lock(cwd);  // one number, one tag
  if (still_holds && !still_holds()) {
    out.superseded = true;
    return out;
  }
  for (int attempt = 0; attempt < k_counter_attempts; ++attempt) {
    const std::int64_t counter = next_tag_counter(git::tag_names(cwd, v.name), v.name);
    out.tag = promotion_tag_name(v.name, stage, counter);
    if (git::create_annotated_tag(cwd, out.tag, out.commit, message, actor) == git::TagCreated::created) {
      out.created = true;
      return out;
    }
  }
  throw Error(ExitCode::temp_fail,
              "cannot tag " + quote(v.ref()) + " in " + quote(stage) + ": other processes took " +
                  std::to_string(k_counter_attempts) + " tag numbers in a row",
              "run it again");
}

namespace {

// The version a promotion tag points at: the annotation says it (tags
// lastmile wrote); else, as GTO reads it, the registration tag of the
// model on the same commit (the highest when there are several).
void find_promoted_version(const std::filesystem::path& cwd, RefMeaning& m,
                           const std::map<std::string, std::string>& trailers) {
  const auto from_annotation = trailers.find("Lastmile-Version");
  if (from_annotation != trailers.end() && !from_annotation->second.empty() &&
      std::isdigit(static_cast<unsigned char>(from_annotation->second[0]))) {
    if (const auto version = try_parse_semver(from_annotation->second)) {
      m.version = version->str();
      m.version_from = "annotation";
      return;
    }
  }
  std::optional<Semver> best;
  for (const auto& name : git::tag_names(cwd, m.tag.name + "@v")) {
    const auto parsed = parse_model_tag(name);
    if (!parsed || parsed->event != ModelTag::Event::registration || parsed->name != m.tag.name) continue;
    const auto record = git::find_tag(cwd, name);
    if (!record || record->commit != m.record.commit) continue;
    const Semver version = parse_semver(parsed->version);
    if (!best || *best < version) best = version;
  }
  if (best) {
    m.version = best->str();
    m.version_from = "registration tag";
  }
}

std::string not_a_model_tag_hint() {
  return "model tags are NAME@vVERSION (a registration, e.g. churn@v1.4.0) and NAME#STAGE#N (a "
         "promotion, e.g. churn#production#3)";
}

}  // namespace

RefMeaning check_ref(const std::filesystem::path& cwd, std::string_view text, sql::Db* db) {
  constexpr std::string_view prefix = "refs/tags/";
  if (text.substr(0, prefix.size()) == prefix) text.remove_prefix(prefix.size());
  const std::string problem = git::tag_name_problem(text);
  if (!problem.empty()) {
    throw Error(ExitCode::usage, "cannot check tag " + quote(text) + ": git's ref rules forbid the name: " + problem,
                "see 'git check-ref-format --help'; " + not_a_model_tag_hint());
  }
  const auto parsed = parse_model_tag(text);
  if (!parsed) {
    throw Error(ExitCode::usage, "cannot check tag " + quote(text) + ": it is not a model tag",
                not_a_model_tag_hint());
  }
  RefMeaning m;
  m.tag = *parsed;
  const auto depth = git::read_clone_depth(cwd);
  if (!depth) {
    throw Error(ExitCode::not_found, "cannot check tag " + quote(text) + ": not in a git repository",
                "run it in the clone the tag was pushed to");
  }
  const auto record = git::find_tag(cwd, text);
  if (!record) {
    std::string hint = "list the tags here with 'git tag --list'; fetch them with 'git fetch --tags'";
    if (depth->shallow) {
      hint = "this is a shallow clone; " + git::shallow_clone_fix();
    } else if (!depth->has_tags) {
      hint = "this clone has no tags: fetch them with 'git fetch --tags' (in CI: actions/checkout with "
             "'fetch-depth: 0'; GitLab: GIT_DEPTH: \"0\")";
    }
    throw Error(ExitCode::not_found, "cannot check tag " + quote(text) + ": it is not in this repository",
                hint);
  }
  m.record = *record;
  const auto trailers = tag_trailers(m.record.message);
  if (const auto digest = trailers.find("Lastmile-Digest");
      digest != trailers.end() && well_formed_digest(digest->second)) {
    m.digest = digest->second;
  }
  if (!m.tag.version.empty()) {
    m.version = m.tag.version;
    m.version_from = "tag";
  } else if (m.tag.event == ModelTag::Event::promotion || m.tag.event == ModelTag::Event::unassignment) {
    find_promoted_version(cwd, m, trailers);
  }
  if (db == nullptr || m.version.empty()) return m;
  const auto held = find_version(*db, m.tag.name, parse_semver(m.version).key());
  if (!held) return m;
  m.in_registry = true;
  if (!m.digest.empty() && m.digest != held->digest) {
    throw Error(ExitCode::check_failed,
                "tag " + quote(text) + " names " + m.digest + " but the registry holds " +
                    held->ref() + " as " + held->digest,
                "the tag was made by another registry, or the version was registered again "
                "elsewhere; compare with 'git show " + std::string(text) + "'");
  }
  const std::string held_commit = held->git ? held->git->commit : std::string();
  if (held_commit != m.record.commit) {
    throw Error(ExitCode::check_failed,
                "tag " + quote(text) + " points at commit " + quote(short_commit(m.record.commit)) +
                    " but the registry has " + held->ref() + " from " +
                    (held_commit.empty() ? std::string("no commit") : quote(short_commit(held_commit))),
                "the tag was made by another registry, or moved; compare with 'git show " +
                    std::string(text) + "'");
  }
  m.digest = held->digest;
  return m;
}

}  // namespace lm
