#include "registry/checkout.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "registry/core/error.hpp"
#include "registry/core/files.hpp"
#include "registry/core/parallel.hpp"
#include "registry/blobs.hpp"
#include "registry/store.hpp"

namespace lm {

namespace {

// Checks that `dir` may receive a checkout: absent, or an empty directory.
void check_target(const fs::path& dir) {
  refuse_git_directory(dir, "the checkout into " + quote(dir.string()));
  const auto st = lstat_path(dir);
  if (!st) return;
  if (!S_ISDIR(st->st_mode)) {
    throw Error(ExitCode::check_failed,
                "refusing to check out into " + quote(dir.string()) + ": it is not a directory");
  }
  std::error_code ec;
  if (!fs::is_empty(dir, ec) || ec) {
    throw Error(ExitCode::check_failed,
                "refusing to check out into " + quote(dir.string()) + ": it is not empty",
                "name a new directory; checkout never overwrites files");
  }
}

// A private directory next to `target` where the files are written before
// one rename puts them in place: an interrupted or failed checkout leaves
// `target` as it was, and no name in the artifact can collide with a
// temporary file.
fs::path make_staging_dir(const fs::path& target) {
  make_directories(target.parent_path());
  std::string pattern =
      (target.parent_path() / ("." + target.filename().string() + ".lastmile-checkout-XXXXXX"))
          .string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    throw system_error(errno, "cannot create a directory next to " + quote(target.string()));
  }
  const mode_t mask = ::umask(0);
  ::umask(mask);
  ::chmod(pattern.c_str(), 0777 & ~mask);
  return pattern;
}

void write_file(const fs::path& source, const fs::path& target, const ManifestEntry& e,
                const VersionRecord& v, Progress* progress) {
  make_directories(target.parent_path());
  UniqueFd out = open_file(target, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW,
                           e.executable ? 0755 : 0644);
  const HashedFile got = copy_and_hash(source, out.get(), target, progress);
  if (got.sha256 != e.sha256) {
    throw Error(ExitCode::check_failed,
                "cannot check out " + quote(v.ref()) + ": " + quote(e.path) +
                    " does not match its registered hash (expected sha256 " + e.sha256 +
                    ", found " + got.sha256 + ")",
                "'lastmile verify " + v.ref() + "' reports every damaged file");
  }
  out.close_checked(target);
}

// Where each file's bytes are read from, downloading what is not here.
std::vector<fs::path> gather_bytes(Registry& registry, const VersionRecord& v, const Manifest& manifest,
                                   const std::vector<Remote>& remotes, Progress* progress) {
  std::vector<fs::path> sources(manifest.size());
  for (std::size_t i = 0; i < manifest.size(); ++i) {
    const ManifestEntry& e = manifest[i];
    if (e.is_link()) continue;
    const fs::path here = bytes_location(registry.store(), v, e);
    if (lstat_path(here)) {
      sources[i] = here;
      continue;
    }
    if (progress) progress->total_bytes += e.size;  // downloaded, then copied
    sources[i] = ensure_bytes(registry, v, e, remotes, progress);
  }
  return sources;
}

void write_all_files(const VersionRecord& v, const Manifest& manifest, const std::vector<fs::path>& sources,
                     const fs::path& dir, Progress* progress) {
  // Regular files first; symlinks last, so that no write goes through one.
  parallel_for(manifest.size(), worker_count(), [&](std::size_t i) {
    const ManifestEntry& e = manifest[i];
    if (e.is_link()) return;
    write_file(sources[i], dir / e.path, e, v, progress);
    file_done(progress);
  });
  for (const auto& e : manifest) {
    if (!e.is_link()) continue;
    make_directories((dir / e.path).parent_path());
    if (::symlink(e.link.c_str(), (dir / e.path).c_str()) != 0) {
      throw system_error(errno, "cannot create symlink " + quote((dir / e.path).string()));
    }
  }
}

}  // namespace

CheckoutResult checkout(Registry& registry, const Ref& ref, const fs::path& to,
                        Progress* progress, const std::vector<Remote>& blob_remotes) {
  CheckoutResult result;
  result.version = resolve(registry.db(), ref);
  const Manifest manifest = load_manifest(registry.db(), result.version.id);
  if (manifest_digest(manifest) != result.version.digest) {
    throw Error(ExitCode::check_failed,
                "cannot check out " + quote(result.version.ref()) +
                    ": its recorded files do not match its digest " + result.version.digest,
                "'lastmile verify " + result.version.ref() + "' reports what is damaged");
  }
  for (const auto& e : manifest) {
    validate_manifest_path(e.path);
    if (!e.is_link()) {
      if (progress) progress->total_bytes += e.size;
      ++result.files;
      result.bytes += e.size;
    }
  }
  if (progress) progress->total_files = result.files;
  result.dir = to;
  check_target(to);
  const std::vector<fs::path> sources = gather_bytes(registry, result.version, manifest, blob_remotes, progress);
  const fs::path staging = make_staging_dir(to);
  try {
    write_all_files(result.version, manifest, sources, staging, progress);
    // rename(2) replaces an empty directory, and fails if files appeared.
    if (::rename(staging.c_str(), to.c_str()) != 0) {
      throw system_error(errno, "cannot check out into " + quote(to.string()));
    }
  } catch (...) {
    std::error_code ec;
    fs::remove_all(staging, ec);
    throw;
  }
  return result;
}

}  // namespace lm
