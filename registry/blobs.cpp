#include "registry/blobs.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <set>

#include "registry/core/clock.hpp"
#include "registry/core/error.hpp"
#include "registry/core/files.hpp"
#include "registry/core/git.hpp"
#include "registry/core/oci.hpp"
#include "registry/events.hpp"
#include "registry/projection.hpp"
#include "registry/store.hpp"

namespace lm {

namespace fs = std::filesystem;

namespace {

std::string remote_label(const Remote& remote) {
  const std::string url = git::strip_credentials(remote.url);
  if (remote.name == url) return "the blob remote at " + url;  // a location the log recorded
  return "the blob remote " + quote(remote.name) + " (" + url + ")";
}

[[noreturn]] void bytes_differ(const Remote& remote, const ManifestEntry& e, const std::string& found) {
  throw Error(ExitCode::check_failed,
              remote_label(remote) + " holds bytes for " + quote(e.path) + " that do not match its digest sha256:" +
                  e.sha256 + " (they hash to sha256:" + found + "); refused",
              "the copy there is damaged or was replaced; from a machine that has the version, "
              "'lastmile push --repair' puts it back");
}

// Reads the bytes of `entry` from `source` into `dest` (a new file) while
// hashing; a mismatch removes `dest` and is refused, naming the digest.
void copy_checked(const Remote& remote, const fs::path& source, const ManifestEntry& e, const fs::path& dest,
                  Progress* progress) {
  UniqueFd out = open_file(dest, O_WRONLY | O_CREAT | O_EXCL, 0644);
  try {
    const HashedFile got = copy_and_hash(source, out.get(), dest, progress);
    out.close_checked(dest);
    if (got.sha256 != e.sha256) bytes_differ(remote, e, got.sha256);
  } catch (...) {
    ::unlink(dest.c_str());
    throw;
  }
}

// --- A shared directory --------------------------------------------------

class DirectoryStore : public BlobStore {
 public:
  explicit DirectoryStore(Remote remote) : m_remote(std::move(remote)), m_root(m_remote.url.substr(7)) {}

  BlobUpload upload(const VersionRecord&, const Manifest& manifest, const BytesOf& bytes_of,
                    Progress* progress, bool repair) override {
    require_root();
    BlobUpload result;
    result.location = "file://" + m_root.string();
    std::set<std::string> done;
    for (const ManifestEntry& e : manifest) {
      if (e.is_link() || !done.insert(e.sha256).second) continue;
      const fs::path target = object(e.sha256);
      const auto st = lstat_path(target);
      const bool there = st && static_cast<std::uint64_t>(st->st_size) == e.size;
      if (there && (!repair || hash_file(target, nullptr).sha256 == e.sha256)) {
        ++result.files_present;
        advance(progress, e.size);
        continue;
      }
      put(e, bytes_of(e), target, progress);
      ++result.files_sent;
      result.bytes_sent += e.size;
      if (st) ++result.files_repaired;
    }
    return result;
  }

  bool download(const VersionRecord&, const ManifestEntry& e, const fs::path& dest, Progress* progress) override {
    require_root();
    const fs::path source = object(e.sha256);
    if (!lstat_path(source)) return false;
    copy_checked(m_remote, source, e, dest, progress);
    return true;
  }

 private:
  fs::path object(const std::string& hex) const { return m_root / "objects" / "sha256" / hex.substr(0, 2) / hex.substr(2); }

  void require_root() const {
    const auto st = lstat_path(m_root);
    if (!st || !S_ISDIR(st->st_mode)) {
      throw Error(ExitCode::unavailable, "cannot reach " + remote_label(m_remote) + ": " + quote(m_root.string()) +
                                             " is not a directory",
                  "mount the shared directory, or create it: mkdir -p " + m_root.string());
    }
  }

  // Copied under a temporary name, checked and synced, then renamed: a
  // reader never sees a partial object, and two pushers of the same bytes
  // both end with the same file.
  void put(const ManifestEntry& e, const fs::path& source, const fs::path& target, Progress* progress) const {
    const fs::path temp_dir = m_root / "tmp";
    make_directories(temp_dir);
    make_directories(target.parent_path());
    const fs::path temp = temp_dir / temp_name();
    UniqueFd out = open_file(temp, O_WRONLY | O_CREAT | O_EXCL, 0444);
    try {
      const HashedFile got = copy_and_hash(source, out.get(), temp, progress);
      if (got.sha256 != e.sha256) {
        throw Error(ExitCode::check_failed, "cannot push " + quote(source.string()) +
                                                ": it no longer matches its registered hash sha256:" + e.sha256,
                    "'lastmile verify' reports what changed");
      }
      fsync_fd(out.get(), temp);
      out.close_checked(temp);
      if (::rename(temp.c_str(), target.c_str()) != 0) throw system_error(errno, "cannot store " + quote(target.string()));
    } catch (...) {
      ::unlink(temp.c_str());
      throw;
    }
    fsync_dir(target.parent_path());
  }

  Remote m_remote;
  fs::path m_root;
};

// --- What the log says was pushed ---------------------------------------

std::vector<VersionRecord> versions_not_on(sql::Db& db, const std::string& remote_url) {
  auto stmt = db.prepare(
      "SELECT m.name, v.version FROM versions v JOIN models m ON m.id = v.model_id "
      "WHERE NOT EXISTS (SELECT 1 FROM artifact_locations a WHERE a.version_id = v.id AND a.remote = ?) "
      "ORDER BY v.event_seq");
  stmt.bind(1, remote_url);
  std::vector<std::pair<std::string, std::string>> refs;
  while (stmt.step()) refs.emplace_back(stmt.text(0), stmt.text(1));
  std::vector<VersionRecord> versions;
  for (const auto& [name, version] : refs) versions.push_back(resolve(db, parse_ref(name + "@" + version)));
  return versions;
}

// Every version: no remote's URL is a NUL byte.
std::vector<VersionRecord> every_version(sql::Db& db) { return versions_not_on(db, std::string(1, '\0')); }

bool recorded_on(sql::Db& db, const VersionRecord& v, const std::string& remote_url) {
  auto stmt = db.prepare("SELECT 1 FROM artifact_locations WHERE version_id = ? AND remote = ?");
  stmt.bind_all(v.id, remote_url);
  return stmt.step();
}

// Whether every file of `v` can be read here (the store, or its source
// when stored by reference).
bool bytes_here(const Registry& registry, const VersionRecord& v, const Manifest& manifest) {
  for (const ManifestEntry& e : manifest) {
    if (e.is_link()) continue;
    if (registry.store().contains(e.sha256)) continue;
    if (v.store == "reference" && lstat_path(bytes_location(registry.store(), v, e))) continue;
    return false;
  }
  return true;
}

void record_push(Registry& registry, const VersionRecord& v, const Remote& remote, const BlobUpload& upload,
                 const std::string& actor) {
  sql::Db& db = registry.db();
  sql::Transaction txn(db);
  const Json payload = {{"name", v.name},
                        {"version", v.version},
                        {"digest", v.digest},
                        {"remote", git::strip_credentials(remote.url)},
                        {"location", upload.location}};
  const Event event = append_event(db, "artifact.pushed", v.ref(), v.name, payload, actor);
  apply_event(db, event);
  txn.commit();
}

fs::path readable_bytes(const Registry& registry, const VersionRecord& v, const ManifestEntry& e) {
  if (registry.store().contains(e.sha256)) return registry.store().object_path(e.sha256);
  return bytes_location(registry.store(), v, e);
}

}  // namespace

std::unique_ptr<BlobStore> open_oci_store(const Remote& remote);

std::unique_ptr<BlobStore> open_blob_store(const Remote& remote) {
  switch (remote.kind) {
    case RemoteKind::directory:
      return std::make_unique<DirectoryStore>(remote);
    case RemoteKind::oci:
      return open_oci_store(remote);
    case RemoteKind::log:
      break;
  }
  throw Error(ExitCode::usage, "remote " + quote(remote.name) + " is a git remote for the log, not a blob remote");
}

std::vector<std::string> pushed_locations(sql::Db& db, std::int64_t version_id) {
  auto stmt = db.prepare("SELECT location FROM artifact_locations WHERE version_id = ? ORDER BY event_seq DESC");
  stmt.bind(1, version_id);
  std::vector<std::string> locations;
  while (stmt.step()) locations.push_back(stmt.text(0));
  return locations;
}

BlobPushResult push_blobs(Registry& registry, const Remote& remote, const std::string& actor,
                          Progress* progress, bool repair) {
  registry.require_writable();
  auto store = open_blob_store(remote);
  BlobPushResult result;
  result.remote = remote;
  std::vector<std::pair<VersionRecord, Manifest>> work;
  const std::string url = git::strip_credentials(remote.url);
  const std::vector<VersionRecord> versions = repair ? every_version(registry.db()) : versions_not_on(registry.db(), url);
  for (const VersionRecord& v : versions) {
    Manifest manifest = load_manifest(registry.db(), v.id);
    if (!bytes_here(registry, v, manifest)) {
      ++result.without_bytes;
      continue;
    }
    if (progress) {
      for (const auto& e : manifest) {
        if (!e.is_link()) progress->total_bytes += e.size;
      }
      ++progress->total_files;
    }
    work.emplace_back(v, std::move(manifest));
  }
  for (const auto& [v, manifest] : work) {
    const BytesOf bytes_of = [&, &v = v](const ManifestEntry& e) { return readable_bytes(registry, v, e); };
    const bool recorded = repair && recorded_on(registry.db(), v, url);
    BlobUpload upload = store->upload(v, manifest, bytes_of, progress, repair);
    file_done(progress);
    if (recorded) {
      result.repaired += upload.files_sent;
      continue;
    }
    record_push(registry, v, remote, upload, actor);
    result.pushed.push_back({v.ref(), std::move(upload)});
  }
  return result;
}

fs::path ensure_bytes(Registry& registry, const VersionRecord& v, const ManifestEntry& e,
                      const std::vector<Remote>& remotes, Progress* progress) {
  const fs::path here = readable_bytes(registry, v, e);
  if (lstat_path(here)) return here;
  std::vector<Remote> sources = remotes;
  for (const std::string& location : pushed_locations(registry.db(), v.id)) {
    Remote recorded{location, location, remote_kind_of(location), false, false};
    if (recorded.kind == RemoteKind::oci) {
      // "oci://host/repo/name@sha256:..." was pushed from REPO.
      const auto at = location.find('@');
      const std::string base = location.substr(0, at);
      recorded.url = base.substr(0, base.size() - v.name.size() - 1);
      recorded.name = recorded.url;
      // Plain http is only ever tried on this machine; a registry there
      // that speaks https is configured as a remote instead.
      recorded.insecure = oci::is_loopback_host(oci::parse_url(recorded.url).host);
    }
    const bool known = std::any_of(sources.begin(), sources.end(), [&](const Remote& r) { return r.url == recorded.url; });
    if (!known && recorded.kind != RemoteKind::log) sources.push_back(recorded);
  }
  ObjectStore& store = registry.store();
  store.begin_session();
  std::vector<std::string> tried;
  for (const Remote& remote : sources) {
    const fs::path temp = store.temp_path();
    bool found = false;
    try {
      found = open_blob_store(remote)->download(v, e, temp, progress);
    } catch (const Error& error) {
      ::unlink(temp.c_str());
      // An unreachable remote is one of several places to look.
      if (error.code() != ExitCode::unavailable || &remote == &sources.back()) throw;
      tried.push_back(remote.name + " (unreachable)");
      continue;
    }
    if (found) {
      store.adopt(temp, e.sha256);
      return store.object_path(e.sha256);
    }
    tried.push_back(remote.name);
  }
  std::string names;
  for (const auto& t : tried) names += (names.empty() ? "" : ", ") + t;
  throw Error(ExitCode::not_found,
              "the bytes of " + quote(e.path) + " of " + v.ref() + " (sha256:" + e.sha256 + ") are not on this machine" +
                  (names.empty() ? "" : " nor on " + names),
              sources.empty() ? "add the blob remote they were pushed to: lastmile remote add NAME oci://HOST/REPO "
                                "(or file:///PATH)"
                              : "from the machine that registered " + v.ref() + ", 'lastmile push' uploads them "
                                "('lastmile push --repair' when the log says they were pushed already)");
}

}  // namespace lm
