#include "registry/register.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <numeric>

#include "registry/artifact.hpp"
#include "registry/core/clock.hpp"
#include "registry/core/error.hpp"
#include "registry/core/files.hpp"
#include "registry/core/git.hpp"
#include "registry/core/parallel.hpp"
#include "registry/events.hpp"
#include "registry/format.hpp"
#include "registry/lineage.hpp"
#include "registry/projection.hpp"
#include "registry/stat_cache.hpp"

namespace lm {

namespace {

// The bytes of every regular file, hashed (and staged) on all cores.
struct Ingested {
  Manifest manifest;
  std::vector<StagedObject> staged;  // StoreMode::copy only
};

Ingested ingest(const Registry& registry, const Scan& scan, StoreMode mode, Progress* progress) {
  Ingested out;
  out.manifest.resize(scan.entries.size());
  out.staged.resize(scan.entries.size());
  // Largest files first, so one big file does not start last on one core.
  std::vector<std::size_t> order(scan.entries.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return scan.entries[a].size > scan.entries[b].size;
  });
  try {
    parallel_for(order.size(), worker_count(), [&](std::size_t k) {
      const std::size_t i = order[k];
      const ScannedEntry& entry = scan.entries[i];
      ManifestEntry& m = out.manifest[i];
      m.path = entry.path;
      m.link = entry.link;
      m.executable = entry.executable;
      if (!entry.link.empty()) return;
      if (mode == StoreMode::copy) {
        out.staged[i] = registry.store().stage(entry.source, entry.size, progress);
        m.sha256 = out.staged[i].sha256;
        m.size = out.staged[i].size;
      } else {
        const HashedFile hashed = hash_file(entry.source, progress);
        if (hashed.size != entry.size) {
          throw Error(ExitCode::error,
                      "cannot register " + quote(entry.source.string()) +
                          ": it changed while being read",
                      "register again once the file is completely written");
        }
        m.sha256 = hashed.sha256;
        m.size = hashed.size;
      }
      file_done(progress);
    });
  } catch (...) {
    ObjectStore::discard(out.staged);
    throw;
  }
  return out;
}

Json git_json(const std::optional<git::Provenance>& p) {
  if (!p) return nullptr;
  return Json{{"commit", p->commit}, {"branch", p->branch}, {"dirty", p->dirty},
              {"remote", p->remote_url}};
}

Json metadata_json(const RegisterRequest& r) {
  Json metrics = Json::object();
  for (const auto& [k, v] : r.metrics) metrics[k] = v;
  return Json{{"metrics", metrics},         {"params", r.params},
              {"labels", r.labels},         {"owner", r.owner},
              {"description", r.description}};
}

// The versions a registration links to, resolved under the write lock.
struct Links {
  std::vector<VersionRecord> inputs;
  std::vector<VersionRecord> parents;
};

std::vector<VersionRecord> resolve_links(sql::Db& db, const std::vector<Ref>& refs,
                                         const std::string& want_kind, const char* flag) {
  std::map<std::int64_t, VersionRecord> found;  // by id: sorted, no duplicates
  for (const Ref& ref : refs) {
    VersionRecord v = resolve(db, ref);
    if (v.kind != want_kind) {
      throw Error(ExitCode::usage, std::string(flag) + " " + quote(ref.text) + " is a " + v.kind +
                                       ", not a " + want_kind);
    }
    found.emplace(v.id, std::move(v));
  }
  std::vector<VersionRecord> out;
  for (auto& [id, v] : found) out.push_back(std::move(v));
  return out;
}

Links resolve_links(sql::Db& db, const RegisterRequest& r) {
  return {resolve_links(db, r.inputs, "dataset", "--input"),
          resolve_links(db, r.parents, r.kind, "--parent")};
}

Json links_json(const std::vector<VersionRecord>& versions) {
  Json list = Json::array();
  for (const auto& v : versions) {
    list.push_back({{"name", v.name}, {"version", v.version}, {"digest", v.digest}});
  }
  return list;
}

std::set<std::pair<std::string, std::int64_t>> link_set(const Links& links) {
  std::set<std::pair<std::string, std::int64_t>> out;
  for (const auto& v : links.inputs) out.emplace("input", v.id);
  for (const auto& v : links.parents) out.emplace("parent", v.id);
  return out;
}

// A version cannot come from itself or from anything made from it.
void refuse_cycles(sql::Db& db, const VersionRecord& version, const Links& links) {
  for (const auto* list : {&links.inputs, &links.parents}) {
    for (const auto& v : *list) {
      if (is_downstream_of(db, v.id, version.id)) {
        throw Error(ExitCode::check_failed,
                    "refusing lineage cycle: " + quote(v.ref()) +
                        (v.id == version.id ? " is " : " was made from ") + quote(version.ref()),
                    "a version can only come from versions registered before it");
      }
    }
  }
}

Json registration_payload(const RegisterRequest& r, const Semver& version, const Scan& scan,
                          const Manifest& manifest, const std::string& digest,
                          const std::optional<git::Provenance>& provenance, const Links& links,
                          const std::string& format) {
  Json p = metadata_json(r);
  p["inputs"] = links_json(links.inputs);
  p["parents"] = links_json(links.parents);
  p["name"] = r.name;
  p["kind"] = r.kind;
  p["version"] = version.str();
  p["digest"] = digest;
  p["size"] = scan.total_bytes;
  p["file_count"] = scan.file_count;
  p["single_file"] = scan.single_file;
  p["format"] = format;
  p["store"] = r.store == StoreMode::copy ? "copy" : "reference";
  p["source"] = scan.root.string();
  p["files"] = manifest_to_json(manifest);
  p["git"] = git_json(provenance);
  if (r.kind == "model" && !r.stage.empty()) p["stage"] = r.stage;
  return p;
}

bool has_metadata(const RegisterRequest& r) {
  return !r.metrics.empty() || !r.params.empty() || !r.labels.empty() || !r.owner.empty() ||
         !r.description.empty() || !r.inputs.empty() || !r.parents.empty() || r.format;
}

bool same_metadata(sql::Db& db, const VersionRecord& existing, const RegisterRequest& r,
                   const Links& links) {
  const VersionMetadata meta = load_metadata(db, existing.id);
  std::set<std::pair<std::string, std::int64_t>> recorded;
  for (const auto& e : edges_from(db, existing.id)) recorded.emplace(e.relation, e.to);
  return meta.metrics == r.metrics && meta.params == r.params && meta.labels == r.labels &&
         existing.owner == r.owner && existing.description == r.description &&
         recorded == link_set(links) && (!r.format || *r.format == existing.format);
}

// The version of `name` that already holds `digest`, the highest if several.
std::optional<VersionRecord> version_with_digest(sql::Db& db, const std::string& name,
                                                 const std::string& digest) {
  Ref ref;
  ref.name = name;
  ref.kind = Ref::Kind::digest;
  ref.digest_hex = digest.substr(7);
  ref.text = name + "@" + digest;
  try {
    return resolve(db, ref);
  } catch (const Error& e) {
    if (e.code() == ExitCode::not_found) return std::nullopt;
    throw;
  }
}

void check_kind(sql::Db& db, const RegisterRequest& r) {
  const auto kind = model_kind(db, r.name);
  if (kind && *kind != r.kind) {
    throw Error(ExitCode::usage,
                quote(r.name) + " is a " + *kind + ", not a " + r.kind,
                "models and datasets share one namespace; choose another name");
  }
}

Semver next_version(sql::Db& db, const RegisterRequest& r) {
  const auto highest = highest_version(db, r.name);
  if (!highest) return Semver{0, 1, 0, {}, {}};
  return bump(*highest, r.bump);
}

// An object already in the store is kept when its stat shows it unchanged
// since its hash was last confirmed; otherwise the fresh copy replaces it,
// which also repairs an object damaged on disk.
void drop_copies_of_trusted_objects(Registry& registry, std::vector<StagedObject>& staged) {
  for (auto& s : staged) {
    if (!s.existing || s.temp.empty()) continue;
    const fs::path object = registry.store().object_path(s.sha256);
    const auto cached = lookup_stat(registry.db(), object);
    const auto st = lstat_path(object);
    if (cached && st && cached->sha256 == s.sha256 && stat_matches(*cached, *st)) {
      ObjectStore::discard({s});
      s.temp.clear();
    }
  }
}

// Records the stat of each file whose hash this registration confirmed:
// objects it wrote, and referenced files that did not change between the
// scan and now.
void record_stats(Registry& registry, const Scan& scan, const Manifest& manifest,
                  const std::vector<StagedObject>& published, StoreMode mode) {
  const std::int64_t now = now_ns();
  for (std::size_t i = 0; i < manifest.size(); ++i) {
    if (manifest[i].is_link()) continue;
    if (mode == StoreMode::copy) {
      if (published[i].temp.empty()) continue;
      // This process wrote the object from the bytes it hashed, under a
      // temporary name, and renamed it read-only into place just now: its
      // stat is trusted at once, so the next verify need not read it.
      const fs::path object = registry.store().object_path(manifest[i].sha256);
      if (auto st = lstat_path(object)) {
        StatEntry entry = make_stat_entry(*st, manifest[i].sha256, now);
        entry.racy = false;
        record_stat(registry.db(), object, entry);
      }
      continue;
    }
    const ScannedEntry& entry = scan.entries[i];
    const auto st = lstat_path(entry.source);
    if (st && same_stat(entry.st, *st)) {
      record_stat(registry.db(), entry.source,
                  make_stat_entry(*st, manifest[i].sha256, entry.scanned_at));
    }
  }
}

bool is_within(const fs::path& child, const fs::path& root) {
  const fs::path rel = child.lexically_relative(root);
  return !rel.empty() && *rel.begin() != "..";
}

// A path named inside the repository must not lead out of it through a
// symlink on the way: a committed link to ~/.ssh, registered by a CI job,
// would ship its files to a blob remote (DVC #11101 wrote through such a
// link). A path named outside the repository is the user's own choice.
void refuse_path_leaving_repository(const fs::path& given, const fs::path& cwd) {
  const auto top = git::work_tree_top(cwd);
  if (!top) return;
  std::error_code ec;
  const fs::path root = fs::weakly_canonical(*top, ec);
  if (ec) return;
  const fs::path named = (given.is_absolute() ? given : cwd / given).lexically_normal();
  if (!is_within(named, *top) && !is_within(named, root)) return;
  const fs::path resolved = fs::weakly_canonical(cwd / given, ec);
  if (ec || is_within(resolved, root)) return;
  throw Error(ExitCode::data,
              "refusing " + quote(given.string()) + ": it resolves to " + quote(resolved.string()) +
                  ", outside the repository " + quote(root.string()),
              "a symlink on the way leads out of the repository; name the resolved path if that is what you mean");
}

}  // namespace

StoreMode parse_store_mode(std::string_view text) {
  if (text == "copy") return StoreMode::copy;
  if (text == "reference") return StoreMode::reference;
  throw Error(ExitCode::usage, "invalid store mode " + quote(text) + ": use copy or reference");
}

RegisterResult register_version(Registry& registry, const RegisterRequest& r,
                                Progress* progress) {
  validate_name(r.name, r.kind);
  registry.require_writable();
  refuse_path_leaving_repository(r.path, r.cwd);
  const Scan scan = scan_artifact(r.path, registry.dir());
  if (progress) {  // each registration counts from zero (inputs come first)
    progress->total_bytes = scan.total_bytes;
    progress->total_files = scan.file_count;
    progress->done_bytes = 0;
    progress->done_files = 0;
  }
  registry.store().remove_stale_temps();
  registry.store().begin_session();
  Ingested ingested = ingest(registry, scan, r.store, progress);
  try {
    drop_copies_of_trusted_objects(registry, ingested.staged);
    ObjectStore::sync_staged(ingested.staged);  // before the lock: it may take a while
    const std::string digest = manifest_digest(ingested.manifest);
    const auto provenance = git::read_provenance(r.cwd);
    // Read outside the write lock: it looks at the files' first bytes.
    const std::string format =
        r.format ? *r.format : r.kind == "model" ? detect_format(scan) : std::string();
    sql::Db& db = registry.db();
    RegisterResult result;
    sql::Transaction txn(db);  // versions are decided under the write lock
    check_kind(db, r);
    const Links links = resolve_links(db, r);
    std::optional<VersionRecord> same_bytes;
    if (r.reuse_same_digest && !r.version) same_bytes = version_with_digest(db, r.name, digest);
    const Semver version =
        same_bytes ? parse_semver(same_bytes->version) : r.version ? *r.version : next_version(db, r);
    if (auto existing = find_version(db, r.name, version.key())) {
      if (r.before_write && existing->digest == digest) {
        r.before_write(existing->version, existing->git ? existing->git->commit : std::string());
      }
      if (existing->digest != digest) {
        throw Error(ExitCode::check_failed,
                    "version " + quote(existing->ref()) + " already exists with other content (" +
                        existing->digest + ")",
                    "versions never change; register the new bytes under a new version, "
                    "e.g. --bump patch");
      }
      refuse_cycles(db, *existing, links);
      ObjectStore::discard(ingested.staged);
      result.version = *existing;
      result.metadata_differs = has_metadata(r) && !same_metadata(db, *existing, r, links);
      return result;
    }
    if (r.before_write) r.before_write(version.str(), provenance ? provenance->commit : std::string());
    const Json payload =
        registration_payload(r, version, scan, ingested.manifest, digest, provenance, links, format);
    const Event event =
        append_event(db, "version.registered", r.name + "@" + version.str(), r.name, payload,
                     r.actor);
    apply_event(db, event);
    registry.store().publish(ingested.staged);
    record_stats(registry, scan, ingested.manifest, ingested.staged, r.store);
    txn.commit();
    for (const auto& s : ingested.staged) {
      if (!s.temp.empty() && !s.existing) {
        ++result.new_objects;
        result.new_bytes += s.size;
      }
    }
    result.version = *find_version(db, r.name, version.key());
    result.created = true;
    if (provenance) result.clone = provenance->depth;
    return result;
  } catch (...) {
    ObjectStore::discard(ingested.staged);
    throw;
  }
}

}  // namespace lm
