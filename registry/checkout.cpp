#include "registry/checkout.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "registry/core/error.hpp"
#include "registry/core/files.hpp"
#include "registry/core/parallel.hpp"
#include "registry/store.hpp"

namespace lm {

namespace {

// Creates `dir`, or accepts it when it is an empty directory. Returns true
// when this call created it.
bool prepare_target(const fs::path& dir) {
  const auto st = lstat_path(dir);
  if (!st) {
    make_directories(dir);
    return true;
  }
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
  return false;
}

void write_file(const fs::path& source, const fs::path& target, const ManifestEntry& e,
                const VersionRecord& v, Progress* progress) {
  make_directories(target.parent_path());
  const fs::path temp = target.parent_path() / ("." + target.filename().string() + ".lastmile-tmp");
  UniqueFd out = open_file(temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW,
                           e.executable ? 0755 : 0644);
  try {
    const HashedFile got = copy_and_hash(source, out.get(), temp, progress);
    if (got.sha256 != e.sha256) {
      throw Error(ExitCode::check_failed,
                  "cannot check out " + quote(v.ref()) + ": " + quote(e.path) +
                      " does not match its registered hash (expected sha256 " + e.sha256 +
                      ", found " + got.sha256 + ")",
                  "'lastmile verify " + v.ref() + "' reports every damaged file");
    }
    out.close_checked(temp);
    if (::rename(temp.c_str(), target.c_str()) != 0) {
      throw system_error(errno, "cannot write " + quote(target.string()));
    }
  } catch (...) {
    ::unlink(temp.c_str());
    throw;
  }
}

}  // namespace

CheckoutResult checkout(Registry& registry, const Ref& ref, const fs::path& to,
                        Progress* progress) {
  CheckoutResult result;
  result.version = resolve(registry.db(), ref);
  const Manifest manifest = load_manifest(registry.db(), result.version.id);
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
  const bool created = prepare_target(to);
  try {
    // Regular files first; symlinks last, so that no write goes through one.
    parallel_for(manifest.size(), worker_count(), [&](std::size_t i) {
      const ManifestEntry& e = manifest[i];
      if (e.is_link()) return;
      write_file(bytes_location(registry.store(), result.version, e), to / e.path, e, result.version,
                 progress);
      file_done(progress);
    });
    for (const auto& e : manifest) {
      if (!e.is_link()) continue;
      make_directories((to / e.path).parent_path());
      if (::symlink(e.link.c_str(), (to / e.path).c_str()) != 0) {
        throw system_error(errno, "cannot create symlink " + quote((to / e.path).string()));
      }
    }
  } catch (...) {
    std::error_code ec;
    if (created) {
      fs::remove_all(to, ec);
    } else {
      for (const auto& entry : fs::directory_iterator(to, ec)) fs::remove_all(entry.path(), ec);
    }
    throw;
  }
  return result;
}

}  // namespace lm
