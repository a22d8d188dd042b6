#include "registry/remotes.hpp"

#include <algorithm>

#include "registry/core/error.hpp"
#include "registry/core/git.hpp"
#include "registry/core/git_sync.hpp"
#include "registry/core/oci.hpp"
#include "registry/core/settings_file.hpp"

namespace lm {

namespace fs = std::filesystem;

namespace {

fs::path settings_path(const fs::path& registry_dir) { return registry_dir / "config"; }

bool starts_with(const std::string& text, const char* prefix) { return text.rfind(prefix, 0) == 0; }

// The directory a file:// URL names; only file:///absolute is accepted
// (file://host/path names another machine).
fs::path directory_of(const std::string& url) {
  const std::string path = url.substr(7);
  if (path.empty() || path[0] != '/') {
    throw Error(ExitCode::usage, "invalid blob remote URL " + quote(url) + ": a file URL names an absolute path",
                "write file:///srv/models (three slashes)");
  }
  return path;
}

bool looks_like_git_repository(const fs::path& dir) {
  std::error_code ec;
  return fs::exists(dir / "HEAD", ec) && fs::exists(dir / "objects", ec) && fs::exists(dir / "refs", ec);
}

void check_url(const std::string& url, RemoteKind kind) {
  if (url.empty() || url.find_first_of("\n\r\t") != std::string::npos) {
    throw Error(ExitCode::usage, "invalid remote URL " + quote(url));
  }
  if (kind == RemoteKind::directory) {
    const fs::path dir = directory_of(url);
    if (looks_like_git_repository(dir) || looks_like_git_repository(dir / ".git")) {
      throw Error(ExitCode::usage,
                  quote(url) + " is a git repository, and a file:// remote holds artifact bytes",
                  "to share the log through it, give its path: lastmile remote add NAME " + dir.string());
    }
  }
  if (kind == RemoteKind::oci) oci::parse_url(url);
}

std::vector<Remote> configured(const fs::path& registry_dir) {
  std::vector<Remote> remotes;
  for (const auto& [key, value] : read_settings(settings_path(registry_dir), "remote.")) {
    const auto dot = key.rfind('.');
    const std::string name = key.substr(7, dot - 7);
    const std::string field = key.substr(dot + 1);
    auto it = std::find_if(remotes.begin(), remotes.end(), [&](const Remote& r) { return r.name == name; });
    if (it == remotes.end()) {
      remotes.push_back(Remote{name, "", RemoteKind::log, false, false});
      it = remotes.end() - 1;
    }
    if (field == "url") {
      it->url = value;
      it->kind = remote_kind_of(value);
    } else if (field == "insecure") {
      it->insecure = value == "true";
    }
  }
  remotes.erase(std::remove_if(remotes.begin(), remotes.end(), [](const Remote& r) { return r.url.empty(); }),
                remotes.end());
  return remotes;
}

std::optional<Remote> git_origin(const fs::path& cwd) {
  const auto url = git::configured_remote_url(cwd, "origin");
  if (!url) return std::nullopt;
  Remote r{"origin", *url, RemoteKind::log, false, true};
  // An origin that is not a git URL cannot carry the log.
  if (remote_kind_of(*url) != RemoteKind::log) return std::nullopt;
  return r;
}

std::string names_of(const std::vector<Remote>& remotes) {
  std::string names;
  for (const auto& r : remotes) names += (names.empty() ? "" : ", ") + quote(r.name);
  return names.empty() ? "none" : names;
}

}  // namespace

const char* remote_kind_name(RemoteKind kind) {
  switch (kind) {
    case RemoteKind::log:
      return "log";
    case RemoteKind::directory:
      return "directory";
    case RemoteKind::oci:
      return "oci";
  }
  return "log";
}

RemoteKind remote_kind_of(const std::string& url) {
  if (starts_with(url, "oci://")) return RemoteKind::oci;
  if (starts_with(url, "file://")) return RemoteKind::directory;
  return RemoteKind::log;
}

void validate_remote_name(const std::string& name) {
  const auto ok_char = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
  };
  const bool ok = !name.empty() && name.size() <= 64 && ok_char(name[0]) && name[0] != '.' &&
                  name[0] != '_' && name[0] != '-' && std::all_of(name.begin(), name.end(), ok_char);
  if (!ok) {
    throw Error(ExitCode::usage, "invalid remote name " + quote(name) +
                                     ": use lowercase letters, digits, '.', '_' and '-', starting with a "
                                     "letter or digit");
  }
}

Remote add_remote(const RemoteAddRequest& request) {
  validate_remote_name(request.name);
  Remote remote{request.name, request.url, remote_kind_of(request.url), request.insecure, false};
  if (remote.kind == RemoteKind::log && git::is_local_path_url(remote.url) && !remote.url.empty() &&
      remote.url[0] != '/' && remote.url[0] != '~') {
    remote.url = (request.cwd / remote.url).lexically_normal().string();
  }
  check_url(remote.url, remote.kind);
  if (request.insecure && remote.kind != RemoteKind::oci) {
    throw Error(ExitCode::usage, "--insecure applies to oci:// remotes only");
  }
  if (request.insecure && !oci::is_loopback_host(oci::parse_url(remote.url).host)) {
    throw Error(ExitCode::usage,
                "--insecure (plain http) is only for a registry on this machine, not " + quote(remote.url),
                "use https; for a registry on this machine give its host as 127.0.0.1 or localhost");
  }
  const auto existing = configured(request.registry_dir);
  if (std::any_of(existing.begin(), existing.end(), [&](const Remote& r) { return r.name == remote.name; })) {
    throw Error(ExitCode::check_failed, "remote " + quote(remote.name) + " already exists",
                "'lastmile remote remove " + remote.name + "' first to change its URL");
  }
  const fs::path file = settings_path(request.registry_dir);
  write_setting(file, "remote." + remote.name + ".url", remote.url);
  if (remote.insecure) write_setting(file, "remote." + remote.name + ".insecure", "true");
  return remote;
}

void remove_remote(const fs::path& registry_dir, const fs::path& cwd, const std::string& name) {
  validate_remote_name(name);
  if (remove_settings_section(settings_path(registry_dir), "remote." + name)) return;
  // git's own origin shows in 'remote list' but lives in .git/config, not here.
  if (name == "origin" && git_origin(cwd)) {
    throw Error(ExitCode::check_failed,
                "'origin' is the git repository's own remote, which lastmile uses for the log when none of its "
                "remotes is called origin; lastmile has no remote of that name to remove",
                "to share the log elsewhere, 'lastmile remote add origin URL'; to stop, 'git remote remove origin'");
  }
  throw Error(ExitCode::not_found, "no remote " + quote(name), "remotes configured: " + names_of(configured(registry_dir)));
}

std::vector<Remote> list_remotes(const fs::path& registry_dir, const fs::path& cwd) {
  std::vector<Remote> remotes = configured(registry_dir);
  const bool has_origin =
      std::any_of(remotes.begin(), remotes.end(), [](const Remote& r) { return r.name == "origin"; });
  if (!has_origin) {
    if (auto origin = git_origin(cwd)) remotes.push_back(*origin);
  }
  return remotes;
}

Remote find_remote(const fs::path& registry_dir, const fs::path& cwd, const std::string& name) {
  validate_remote_name(name);
  const auto remotes = list_remotes(registry_dir, cwd);
  for (const auto& r : remotes) {
    if (r.name == name) return r;
  }
  throw Error(ExitCode::not_found, "no remote " + quote(name), "remotes: " + names_of(remotes) +
                                                                   "; add one with 'lastmile remote add NAME URL'");
}

Remote default_log_remote(const fs::path& registry_dir, const fs::path& cwd) {
  std::vector<Remote> logs;
  for (const auto& r : list_remotes(registry_dir, cwd)) {
    if (r.holds_log()) logs.push_back(r);
  }
  for (const auto& r : logs) {
    if (r.name == "origin") return r;
  }
  if (logs.size() == 1) return logs.front();
  if (logs.empty()) {
    throw Error(ExitCode::config, "no remote to share the log through",
                "add one: lastmile remote add origin URL (any git URL; the git repository's own "
                "origin is used when there is one)");
  }
  throw Error(ExitCode::usage, "several log remotes and none is called 'origin': " + names_of(logs),
              "name the one to use: lastmile push NAME");
}

std::vector<Remote> blob_remotes(const fs::path& registry_dir) {
  std::vector<Remote> blobs;
  for (const auto& r : configured(registry_dir)) {
    if (!r.holds_log()) blobs.push_back(r);
  }
  return blobs;
}

}  // namespace lm
