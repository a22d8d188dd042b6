#include "registry/artifact.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "registry/core/clock.hpp"
#include "registry/core/error.hpp"
#include "registry/core/files.hpp"
#include "registry/core/sha256.hpp"

namespace lm {

namespace {

std::string kind_of(mode_t mode) {
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  return "not a regular file";
}

[[noreturn]] void refuse_kind(const fs::path& path, mode_t mode) {
  throw Error(ExitCode::data,
              "cannot register " + quote(path.string()) + ": it is " + kind_of(mode),
              "only regular files, directories and symlinks inside the artifact can be "
              "registered");
}

bool is_within(const fs::path& child, const fs::path& root) {
  const auto rel = child.lexically_relative(root);
  return !rel.empty() && *rel.begin() != "..";
}

std::string read_link(const fs::path& path) {
  std::error_code ec;
  const fs::path target = fs::read_symlink(path, ec);
  if (ec) throw system_error(ec.value(), "cannot read symlink " + quote(path.string()));
  if (!valid_utf8(target.string())) {
    throw Error(ExitCode::data, "cannot register " + quote(path.string()) +
                                    ": its symlink target is not valid UTF-8");
  }
  return target.string();
}

// A symlink stays inside the artifact when its target, resolved both
// lexically and through the file system, is under the root.
void check_link_stays_inside(const fs::path& link_path, const std::string& target,
                             const fs::path& root) {
  const auto refuse = [&](const std::string& why) {
    throw Error(ExitCode::data,
                "refusing symlink " + quote(link_path.string()) + " -> " + quote(target) + ": " + why,
                "make the link relative and inside the artifact, or copy the file into it");
  };
  const std::string outside = "it resolves outside the artifact " + quote(root.string());
  // Absolute links would point elsewhere once the files are checked out.
  if (fs::path(target).is_absolute()) refuse("it is absolute, and only relative links stay inside the artifact");
  const fs::path lexical = (link_path.parent_path() / target).lexically_normal();
  if (!is_within(lexical, root) && lexical != root) refuse(outside);
  std::error_code ec;
  const fs::path resolved = fs::weakly_canonical(link_path.parent_path() / target, ec);
  if (ec) refuse("it cannot be resolved (" + errno_text(ec.value()) + ")");
  if (!is_within(resolved, root) && resolved != root) refuse(outside);
}

std::string relative_name(const fs::path& path, const fs::path& root) {
  std::string rel = path.lexically_relative(root).generic_string();
  if (!valid_utf8(rel)) {
    throw Error(ExitCode::data, "cannot register " + quote(path.string()) +
                                    ": its name is not valid UTF-8");
  }
  return rel;
}

ScannedEntry scan_entry(const fs::path& path, const struct stat& st, const fs::path& root,
                        std::string rel) {
  ScannedEntry entry;
  entry.path = std::move(rel);
  entry.source = path;
  entry.scanned_at = now_ns();
  entry.st = st;
  if (S_ISLNK(st.st_mode)) {
    entry.link = read_link(path);
    check_link_stays_inside(path, entry.link, root);
    return entry;
  }
  if (!S_ISREG(st.st_mode)) refuse_kind(path, st.st_mode);
  entry.size = static_cast<std::uint64_t>(st.st_size);
  entry.executable = (st.st_mode & S_IXUSR) != 0;
  return entry;
}

void scan_directory(Scan& scan) {
  std::error_code ec;
  fs::recursive_directory_iterator it(scan.root, fs::directory_options::none, ec);
  if (ec) throw system_error(ec.value(), "cannot read directory " + quote(scan.root.string()));
  for (const fs::recursive_directory_iterator end; it != end; it.increment(ec)) {
    if (ec) throw system_error(ec.value(), "cannot read directory " + quote(scan.root.string()));
    const fs::path path = it->path();
    const auto st = lstat_path(path);
    if (!st) continue;  // removed while we looked
    if (S_ISDIR(st->st_mode)) continue;
    scan.entries.push_back(scan_entry(path, *st, scan.root, relative_name(path, scan.root)));
  }
  if (ec) throw system_error(ec.value(), "cannot read directory " + quote(scan.root.string()));
}

}  // namespace

Scan scan_artifact(const fs::path& path, const fs::path& registry_dir) {
  const auto st_link = lstat_path(path);
  if (!st_link) {
    throw Error(ExitCode::not_found, "cannot register " + quote(path.string()) +
                                         ": no such file or directory");
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    throw system_error(errno, "cannot register " + quote(path.string()));
  }
  Scan scan;
  std::error_code ec;
  scan.root = fs::canonical(path, ec);
  if (ec) throw system_error(ec.value(), "cannot resolve " + quote(path.string()));
  if (S_ISREG(st.st_mode)) {
    scan.single_file = true;
    scan.entries.push_back(scan_entry(scan.root, st, scan.root.parent_path(),
                                      relative_name(scan.root, scan.root.parent_path())));
  } else if (S_ISDIR(st.st_mode)) {
    const fs::path registry = fs::weakly_canonical(registry_dir, ec);
    if (!ec && (registry == scan.root || is_within(registry, scan.root))) {
      throw Error(ExitCode::data,
                  "cannot register " + quote(path.string()) +
                      ": it contains the registry " + quote(registry_dir.string()),
                  "register the model's own directory, not a directory above the registry");
    }
    scan_directory(scan);
  } else {
    refuse_kind(path, st.st_mode);
  }
  std::sort(scan.entries.begin(), scan.entries.end(),
            [](const ScannedEntry& a, const ScannedEntry& b) { return a.path < b.path; });
  for (const auto& entry : scan.entries) {
    if (entry.link.empty()) {
      scan.total_bytes += entry.size;
      ++scan.file_count;
    }
  }
  if (scan.file_count == 0) {
    throw Error(ExitCode::data, "cannot register " + quote(path.string()) +
                                    ": the directory holds no files");
  }
  return scan;
}

Json manifest_to_json(const Manifest& manifest) {
  Json list = Json::array();
  for (const auto& e : manifest) {
    if (e.is_link()) {
      list.push_back({{"path", e.path}, {"link", e.link}});
    } else {
      list.push_back(
          {{"path", e.path}, {"size", e.size}, {"sha256", e.sha256}, {"executable", e.executable}});
    }
  }
  return list;
}

Manifest manifest_from_json(const Json& json) {
  if (!json.is_array()) throw Error(ExitCode::data, "registry corrupt: a manifest is not a list");
  Manifest manifest;
  try {
    for (const auto& item : json) {
      ManifestEntry e;
      e.path = item.at("path").get<std::string>();
      if (item.contains("link")) {
        e.link = item.at("link").get<std::string>();
      } else {
        e.size = item.at("size").get<std::uint64_t>();
        e.sha256 = item.at("sha256").get<std::string>();
        e.executable = item.at("executable").get<bool>();
      }
      manifest.push_back(std::move(e));
    }
  } catch (const Json::exception& e) {
    throw Error(ExitCode::data, std::string("registry corrupt: malformed manifest: ") + e.what());
  }
  return manifest;
}

std::string manifest_digest(const Manifest& manifest) {
  return "sha256:" + Sha256::hex_of(canonical_json(manifest_to_json(manifest)));
}

void validate_manifest_path(std::string_view path) {
  bool ok = !path.empty() && path.front() != '/' && path.find('\0') == std::string_view::npos;
  std::size_t start = 0;
  while (ok) {
    const auto slash = path.find('/', start);
    const auto seg = path.substr(start, slash == std::string_view::npos ? slash : slash - start);
    ok = !seg.empty() && seg != "." && seg != "..";
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  if (!ok) {
    throw Error(ExitCode::data, "registry corrupt: unsafe path " + quote(path) + " in a manifest",
                "'lastmile verify' checks the whole registry");
  }
}

}  // namespace lm
