#include "registry/core/git_tags.hpp"

#include <fcntl.h>
#include <git2.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>

#include <algorithm>
#include <chrono>
#include <memory>
#include <thread>

#include "registry/core/error.hpp"
#include "registry/core/git_repo.hpp"

namespace lm::git {

namespace {

constexpr int k_lock_attempts = 200;  // 10 ms apart
constexpr std::chrono::seconds k_lock_wait{10};

using detail::open_repository;
using detail::RepoPtr;

using detail::RefFree;
using detail::ObjectFree;
struct SignatureFree {
  void operator()(git_signature* p) const noexcept { git_signature_free(p); }
};
using RefPtr = std::unique_ptr<git_reference, RefFree>;
using ObjectPtr = std::unique_ptr<git_object, ObjectFree>;
using SignaturePtr = std::unique_ptr<git_signature, SignatureFree>;

std::string last_error() {
  const git_error* e = git_error_last();
  return e && e->message ? e->message : "unknown libgit2 error";
}

std::string hex(const git_oid* oid) {
  char text[GIT_OID_HEXSZ + 1];
  git_oid_tostr(text, sizeof text, oid);
  return text;
}

RepoPtr require_repository(const std::filesystem::path& start) {
  RepoPtr repo = open_repository(start);
  if (!repo) {
    throw Error(ExitCode::not_found, "not in a git repository: " + quote(start.string()),
                "run it inside the git work tree the models were registered from");
  }
  return repo;
}

ObjectPtr lookup_commit(git_repository* repo, const std::string& commit) {
  git_oid oid;
  git_object* raw = nullptr;
  if (commit.size() != GIT_OID_HEXSZ || git_oid_fromstr(&oid, commit.c_str()) != 0) return nullptr;
  if (git_object_lookup(&raw, repo, &oid, GIT_OBJECT_COMMIT) != 0) return nullptr;
  return ObjectPtr(raw);
}

// "Ada Lovelace <ada@example.com>" -> name and email; a bare name gets an
// empty email, as git allows.
std::pair<std::string, std::string> split_identity(const std::string& identity) {
  const auto open = identity.rfind('<');
  const auto close = identity.rfind('>');
  if (open == std::string::npos || close == std::string::npos || close < open) return {identity, ""};
  std::string name = identity.substr(0, open);
  while (!name.empty() && name.back() == ' ') name.pop_back();
  return {name.empty() ? identity.substr(open + 1, close - open - 1) : name,
          identity.substr(open + 1, close - open - 1)};
}

SignaturePtr tagger_signature(git_repository* repo, const std::string& fallback) {
  git_signature* raw = nullptr;
  if (git_signature_default(&raw, repo) == 0) return SignaturePtr(raw);
  auto [name, email] = split_identity(fallback.empty() ? std::string("lastmile") : fallback);
  if (git_signature_now(&raw, name.c_str(), email.c_str()) != 0) {
    throw Error(ExitCode::config, "cannot make a tagger identity from " + quote(fallback) + ": " +
                                      last_error(),
                "set git's user.name and user.email");
  }
  return SignaturePtr(raw);
}

}  // namespace

std::string tag_name_problem(std::string_view name) {
  if (name.empty()) return "it is empty";
  if (name.front() == '-') return "it starts with '-'";
  if (name.front() == '/' || name.back() == '/') return "it starts or ends with '/'";
  if (name.back() == '.') return "it ends with '.'";
  if (name.find("..") != std::string_view::npos) return "it contains '..'";
  if (name.find("//") != std::string_view::npos) return "it contains '//'";
  if (name.find("@{") != std::string_view::npos) return "it contains '@{'";
  for (const unsigned char c : name) {
    if (c < 0x20 || c == 0x7f) return "it contains a control character";
    if (c == ' ') return "it contains a space";
    if (std::string_view("~^:?*[\\").find(static_cast<char>(c)) != std::string_view::npos) {
      return std::string("it contains '") + static_cast<char>(c) + "'";
    }
  }
  std::size_t start = 0;
  while (start <= name.size()) {
    const auto slash = std::min(name.find('/', start), name.size());
    const std::string_view part = name.substr(start, slash - start);
    if (!part.empty() && part.front() == '.') return "a part of it starts with '.'";
    if (part.size() >= 5 && part.substr(part.size() - 5) == ".lock") return "a part of it ends with '.lock'";
    start = slash + 1;
  }
  // libgit2 has the last word: what it refuses, git would refuse too.
  detail::ensure_libgit2();
  int valid = 0;
  const std::string ref = "refs/tags/" + std::string(name);
  if (git_reference_name_is_valid(&valid, ref.c_str()) != 0 || !valid) {
    return "git's ref rules forbid it";
  }
  return {};
}

bool valid_tag_name(std::string_view name) { return tag_name_problem(name).empty(); }

std::optional<TagRecord> find_tag(const std::filesystem::path& start, std::string_view name) {
  RepoPtr repo = require_repository(start);
  if (!valid_tag_name(name)) return std::nullopt;
  git_reference* raw_ref = nullptr;
  const std::string ref_name = "refs/tags/" + std::string(name);
  const int found = git_reference_lookup(&raw_ref, repo.get(), ref_name.c_str());
  if (found == GIT_ENOTFOUND) return std::nullopt;
  if (found != 0) throw Error(ExitCode::io, "cannot read git tag " + quote(name) + ": " + last_error());
  RefPtr ref(raw_ref);
  TagRecord record;
  record.name = std::string(name);
  git_object* raw_target = nullptr;
  if (git_reference_peel(&raw_target, ref.get(), GIT_OBJECT_COMMIT) != 0) {
    throw Error(ExitCode::data, "git tag " + quote(name) + " does not point at a commit");
  }
  record.commit = hex(git_object_id(raw_target));
  git_object_free(raw_target);
  git_object* raw_tag = nullptr;
  const git_oid* direct = git_reference_target(ref.get());
  if (direct && git_object_lookup(&raw_tag, repo.get(), direct, GIT_OBJECT_TAG) == 0) {
    ObjectPtr tag_object(raw_tag);
    const auto* tag = reinterpret_cast<const git_tag*>(tag_object.get());
    record.annotated = true;
    const char* message = git_tag_message(tag);
    record.message = message ? message : "";
    if (const git_signature* who = git_tag_tagger(tag)) {
      record.tagger = std::string(who->name ? who->name : "") + " <" + (who->email ? who->email : "") + ">";
      record.time = static_cast<std::int64_t>(who->when.time);
    }
  }
  return record;
}

std::vector<std::string> tag_names(const std::filesystem::path& start, std::string_view prefix) {
  RepoPtr repo = require_repository(start);
  std::vector<std::string> out;
  git_strarray names{};
  if (git_tag_list(&names, repo.get()) != 0) {
    throw Error(ExitCode::io, "cannot list the git tags: " + last_error());
  }
  for (std::size_t i = 0; i < names.count; ++i) {
    const std::string_view tag(names.strings[i]);
    if (tag.substr(0, prefix.size()) == prefix) out.emplace_back(tag);
  }
  git_strarray_dispose(&names);
  std::sort(out.begin(), out.end());
  return out;
}

namespace {

std::filesystem::path tag_lock_path(const std::filesystem::path& start) {
  RepoPtr repo = require_repository(start);
  return std::filesystem::path(git_repository_commondir(repo.get())) / "lastmile-tags.lock";
}

}  // namespace

TagLock::TagLock(const std::filesystem::path& start) : m_lock(tag_lock_path(start), k_lock_wait) {}

bool commit_exists(const std::filesystem::path& start, const std::string& commit) {
  RepoPtr repo = require_repository(start);
  return lookup_commit(repo.get(), commit) != nullptr;
}

TagCreated create_annotated_tag(const std::filesystem::path& start, const std::string& name,
                                const std::string& commit, const std::string& message,
                                const std::string& fallback_tagger) {
  const std::string problem = tag_name_problem(name);
  if (!problem.empty()) {
    throw Error(ExitCode::usage, "cannot create git tag " + quote(name) + ": " + problem);
  }
  RepoPtr repo = require_repository(start);
  ObjectPtr target = lookup_commit(repo.get(), commit);
  if (!target) {
    throw Error(ExitCode::not_found,
                "cannot create git tag " + quote(name) + ": commit " + quote(commit.substr(0, 12)) +
                    " is not in this repository");
  }
  SignaturePtr tagger = tagger_signature(repo.get(), fallback_tagger);
  git_oid created;
  int rc = 0;
  // Another process writing the same ref holds its lock for moments: wait
  // for it to finish, then see the tag it made.
  for (int attempt = 0; attempt < k_lock_attempts; ++attempt) {
    rc = git_tag_create(&created, repo.get(), name.c_str(), target.get(), tagger.get(), message.c_str(),
                        /*force=*/0);
    if (rc != GIT_ELOCKED) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (rc == GIT_EEXISTS) return TagCreated::exists;
  if (rc == GIT_ELOCKED) {
    throw Error(ExitCode::temp_fail, "cannot create git tag " + quote(name) + ": its ref stayed locked",
                "run it again; it is safe to retry");
  }
  if (rc != 0) throw Error(ExitCode::io, "cannot create git tag " + quote(name) + ": " + last_error());
  return TagCreated::created;
}

}  // namespace lm::git
