// The OCI distribution client: the registry's authentication dance (a
// token per scope, or basic credentials) and the distribution API's upload
// protocol, over the HTTP session of oci_http.hpp.

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <map>

#include "registry/core/error.hpp"
#include "registry/core/files.hpp"
#include "registry/core/json.hpp"
#include "registry/core/oci.hpp"
#include "registry/core/oci_auth.hpp"
#include "registry/core/oci_http.hpp"
#include "registry/core/sha256.hpp"

namespace lm::oci {

namespace {

namespace fs = std::filesystem;
using http::Download;
using http::host_of;
using http::http_error;
using http::origin;
using http::registry_errors;
using http::Request;
using http::Response;
using http::split_url;
using http::Upload;
using http::url_encode;

constexpr std::size_t k_manifest_limit = 4 << 20;
constexpr std::size_t k_token_limit = 1 << 20;

void check_digest(const std::string& digest) {
  if (digest.rfind("sha256:", 0) != 0 || !is_sha256_hex(std::string_view(digest).substr(7))) {
    throw Error(ExitCode::data,
                "unsupported digest " + quote(digest) + ": lastmile reads sha256:<64 hex digits>");
  }
}

void check_repository(const std::string& repo) {
  if (!valid_repository(repo)) {
    throw Error(ExitCode::usage, "invalid OCI repository path " + quote(repo) +
                                     ": each '/'-separated component must match "
                                     "[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*");
  }
}

void check_reference(const std::string& reference) {
  if (!valid_tag(reference) && reference.rfind("sha256:", 0) != 0) {
    throw Error(ExitCode::usage, "invalid OCI manifest reference " + quote(reference) +
                                     ": a tag is [A-Za-z0-9_][A-Za-z0-9._-]{0,127}");
  }
  if (reference.rfind("sha256:", 0) == 0) check_digest(reference);
}

// Where a registry's API is: Docker Hub's names lead to its API host.
std::string api_base(const Endpoint& e) {
  if (e.host == "docker.io" || e.host == "index.docker.io") return "https://registry-1.docker.io";
  return (e.insecure ? "http://" : "https://") + e.host;
}

enum class Access { pull, push };

struct Scope {
  std::string repo;
  Access access;

  std::string text() const {
    return "repository:" + repo + (access == Access::push ? ":pull,push" : ":pull");
  }
  std::string action() const { return access == Access::push ? "push to " : "pull from "; }
};

}  // namespace

struct Client::Impl {
  explicit Impl(Endpoint e)
      : endpoint(std::move(e)), base(api_base(endpoint)), http(host_of(base), endpoint.insecure) {}

  Endpoint endpoint;
  std::string base;  // "https://host[:port]"
  http::Session http;
  std::uint64_t chunk_size = k_default_chunk_size;

  // What the registry asked for, learnt from its first 401.
  bool credentials_looked_up = false;
  std::optional<Credentials> credentials;
  bool use_basic = false;
  std::optional<Challenge> token_service;
  std::map<std::string, std::string> tokens;  // scope -> bearer token

  std::string where(const std::string& repo) const { return quote(endpoint.host + "/" + repo); }

  Response send(Request request, const Scope& scope);
  std::string authorization(const std::string& url, const Scope& scope);
  void authenticate(const Response& response, const Scope& scope);
  const std::optional<Credentials>& find_credentials_once();
  std::string fetch_token(const Scope& scope);
  Request token_request(const Scope& scope) const;
  Error refused(const Response& response, const Scope& scope) const;

  std::string resolve_location(const Response& response, const std::string& what) const;
  std::string start_upload(const std::string& repo, const std::string& what);
  std::string send_chunk(const std::string& location, const Upload& chunk, const std::string& repo,
                         const ByteCounter& sent, const std::string& what);
  void finish_upload(const std::string& location, const std::string& digest, const Upload& body,
                     const std::string& repo, const ByteCounter& sent, const std::string& what);
  bool upload_file(const std::string& repo, const std::string& digest, int fd, const fs::path& file,
                   std::uint64_t size, const ByteCounter& sent);
};

// Sends `request` with what the registry is known to want; on a 401, learns
// what it wants and sends once more. A 401 or 403 then is final.
Response Client::Impl::send(Request request, const Scope& scope) {
  request.authorization = authorization(request.url, scope);
  Response response = http.perform(request);
  if (response.status == 401) {
    authenticate(response, scope);
    request.authorization = authorization(request.url, scope);
    response = http.perform(request);
  }
  if (response.status == 401 || response.status == 403) throw refused(response, scope);
  return response;
}

// The Authorization value for `url`: only the registry's own URLs get one.
std::string Client::Impl::authorization(const std::string& url, const Scope& scope) {
  if (origin(url) != origin(base)) return {};
  if (use_basic)
    return "Basic " + base64_encode(credentials->username + ":" + credentials->password);
  if (!token_service) return {};
  if (credentials && !credentials->bearer.empty()) return "Bearer " + credentials->bearer;
  auto it = tokens.find(scope.text());
  if (it == tokens.end() && scope.access == Access::pull) {
    it = tokens.find(Scope{scope.repo, Access::push}.text());  // push includes pull
  }
  if (it == tokens.end()) it = tokens.emplace(scope.text(), fetch_token(scope)).first;
  return "Bearer " + it->second;
}

const std::optional<Credentials>& Client::Impl::find_credentials_once() {
  if (!credentials_looked_up) {
    credentials = find_credentials(endpoint.host);
    credentials_looked_up = true;
  }
  return credentials;
}

void Client::Impl::authenticate(const Response& response, const Scope& scope) {
  const auto challenges = parse_challenges(response.all("www-authenticate"));
  const auto bearer = std::find_if(challenges.begin(), challenges.end(),
                                   [](const Challenge& c) { return c.scheme == "bearer"; });
  const auto basic = std::find_if(challenges.begin(), challenges.end(),
                                  [](const Challenge& c) { return c.scheme == "basic"; });
  const auto& creds = find_credentials_once();
  if (bearer != challenges.end() && bearer->params.count("realm") != 0) {
    token_service = *bearer;
    tokens.clear();  // the one sent has expired or lacks the scope
    return;
  }
  if (basic == challenges.end()) {
    throw Error(ExitCode::permission,
                "the OCI registry " + endpoint.host +
                    " asks for authentication lastmile does not speak" +
                    (challenges.empty() ? "" : " (" + quote(challenges.front().scheme) + ")"));
  }
  if (!creds) throw refused(response, scope);
  if (creds->username.empty()) {
    throw Error(ExitCode::permission,
                "the OCI registry " + endpoint.host + " asks for a user name and password, and " +
                    creds->source + " holds a token",
                "set LASTMILE_OCI_USERNAME and LASTMILE_OCI_PASSWORD");
  }
  use_basic = true;
}

Request Client::Impl::token_request(const Scope& scope) const {
  const std::map<std::string, std::string>& params = token_service->params;
  const std::string realm = params.at("realm");
  const auto parts = split_url(realm);
  if (!parts || (parts->scheme != "https" && parts->scheme != "http") ||
      parts->authority.find('@') != std::string::npos) {
    throw Error(ExitCode::data, "the OCI registry " + endpoint.host +
                                    " names a token service that is not an http(s) URL");
  }
  if (parts->scheme == "http" && !is_loopback_host(parts->host)) {
    throw Error(ExitCode::permission, "refusing to send credentials for " + endpoint.host +
                                          " to its token service " + parts->host +
                                          " over plain http");
  }
  const auto service = params.find("service");
  std::string query = "scope=" + url_encode(scope.text());
  if (service != params.end()) query = "service=" + url_encode(service->second) + "&" + query;
  Request request;
  request.body_limit = k_token_limit;
  const Credentials* creds = credentials ? &*credentials : nullptr;
  if (creds && !creds->identity_token.empty()) {
    // docker's identity token is an OAuth2 refresh token, swapped by POST
    request.method = "POST";
    request.url = realm;
    request.form = query + "&grant_type=refresh_token&client_id=lastmile&refresh_token=" +
                   url_encode(creds->identity_token);
    request.headers = {"Content-Type: application/x-www-form-urlencoded"};
  } else {
    request.method = "GET";
    request.url = realm + (realm.find('?') == std::string::npos ? "?" : "&") + query;
    if (creds && !creds->username.empty()) {
      request.authorization = "Basic " + base64_encode(creds->username + ":" + creds->password);
    }
  }
  return request;
}

std::string Client::Impl::fetch_token(const Scope& scope) {
  const Request request = token_request(scope);
  const Response response = http.perform(request);
  if (response.status == 401 || response.status == 403) throw refused(response, scope);
  if (!response.ok()) {
    throw http_error(
        response, "cannot get a token for " + where(scope.repo) + " from " + host_of(request.url));
  }
  const Json reply = Json::parse(response.body, nullptr, false);
  for (const char* key : {"token", "access_token"}) {
    if (reply.is_object() && reply.contains(key) && reply[key].is_string() &&
        !reply[key].get<std::string>().empty()) {
      return reply[key].get<std::string>();
    }
  }
  throw Error(ExitCode::data, "the token service " + host_of(request.url) +
                                  " of the OCI registry " + endpoint.host +
                                  " answered without a token");
}

Error Client::Impl::refused(const Response& response, const Scope& scope) const {
  const std::string errors = registry_errors(response.body);
  const std::string detail = errors.empty() ? "" : " (" + errors + ")";
  if (!credentials) {
    return Error(ExitCode::permission,
                 "the OCI registry " + endpoint.host + " requires credentials to " +
                     scope.action() + quote(scope.repo) + " and lastmile found none" + detail,
                 "lastmile looks in " + credential_sources() + "; 'docker login " + endpoint.host +
                     "' writes the last");
  }
  return Error(ExitCode::permission,
               "the OCI registry " + endpoint.host + " refused the credentials from " +
                   credentials->source + " to " + scope.action() + quote(scope.repo) + detail,
               "check them, e.g. with 'docker login " + endpoint.host + "'; they need " +
                   (scope.access == Access::push ? "push" : "pull") + " access to " +
                   quote(scope.repo));
}

std::string Client::Impl::resolve_location(const Response& response,
                                           const std::string& what) const {
  const std::string location = response.header("location");
  if (location.rfind("/", 0) == 0) return base + location;
  if (location.rfind("https://", 0) == 0 || location.rfind("http://", 0) == 0) return location;
  throw Error(ExitCode::data, what + ": the registry did not say where to send the bytes" +
                                  (location.empty() ? " (no Location header)" : ""));
}

std::string Client::Impl::start_upload(const std::string& repo, const std::string& what) {
  Request request{"POST", base + "/v2/" + repo + "/blobs/uploads/"};
  const Response response = send(request, {repo, Access::push});
  if (response.status != 202) throw http_error(response, what);
  return resolve_location(response, what);
}

// PATCHes one chunk; returns where the next request goes.
std::string Client::Impl::send_chunk(const std::string& location, const Upload& chunk,
                                     const std::string& repo, const ByteCounter& sent,
                                     const std::string& what) {
  Request request{"PATCH", location};
  request.headers = {"Content-Type: application/octet-stream",
                     "Content-Range: " + std::to_string(chunk.offset) + "-" +
                         std::to_string(chunk.offset + chunk.length - 1)};
  request.upload = &chunk;
  request.counter = &sent;
  const Response response = send(request, {repo, Access::push});
  if (response.status != 202) throw http_error(response, what);
  return resolve_location(response, what);
}

void Client::Impl::finish_upload(const std::string& location, const std::string& digest,
                                 const Upload& body, const std::string& repo,
                                 const ByteCounter& sent, const std::string& what) {
  Request request{"PUT", location + (location.find('?') == std::string::npos ? "?" : "&") +
                             "digest=" + url_encode(digest)};
  request.headers = {"Content-Type: application/octet-stream"};
  request.upload = &body;
  request.counter = &sent;
  const Response response = send(request, {repo, Access::push});
  if (response.status != 201) throw http_error(response, what);
}

bool Client::Impl::upload_file(const std::string& repo, const std::string& digest, int fd,
                               const fs::path& file, std::uint64_t size, const ByteCounter& sent) {
  const std::string what =
      "cannot upload " + quote(file.string()) + " (" + digest + ") to " + where(repo);
  std::string location = start_upload(repo, what);
  std::uint64_t offset = 0;
  // One request when it fits in a chunk; else chunks, then an empty PUT.
  if (size > chunk_size) {
    while (offset < size) {
      const Upload chunk{{}, fd, &file, offset, std::min(chunk_size, size - offset)};
      location = send_chunk(location, chunk, repo, sent, what);
      offset += chunk.length;
    }
  }
  const Upload rest{{}, fd, &file, offset, size - offset};
  finish_upload(location, digest, rest, repo, sent, what);
  return true;
}

Client::Client(Endpoint endpoint) {
  if (!valid_host(endpoint.host)) {
    throw Error(ExitCode::usage, "invalid OCI registry host " + quote(endpoint.host) +
                                     ": expected HOST or HOST:PORT");
  }
  if (endpoint.insecure && !is_loopback_host(endpoint.host)) {
    throw Error(ExitCode::usage,
                "refusing plain http to the OCI registry " + endpoint.host +
                    ": only a registry on this machine (localhost, 127.0.0.1, ::1) may be reached "
                    "without TLS",
                "serve the registry over https, or reach it through a tunnel to localhost");
  }
  m_impl = std::make_unique<Impl>(std::move(endpoint));
}

Client::~Client() = default;
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;

const Endpoint& Client::endpoint() const { return m_impl->endpoint; }

void Client::set_chunk_size(std::uint64_t bytes) {
  m_impl->chunk_size = std::max<std::uint64_t>(bytes, 1);
}

bool Client::has_blob(const std::string& repo, const std::string& digest) {
  check_repository(repo);
  check_digest(digest);
  Request request{"HEAD", m_impl->base + "/v2/" + repo + "/blobs/" + digest};
  const Response response = m_impl->send(request, {repo, Access::pull});
  if (response.status == 404) return false;
  if (response.ok()) return true;
  throw http_error(response, "cannot look for blob " + digest + " in " + m_impl->where(repo));
}

bool Client::put_blob_file(const std::string& repo, const std::string& digest, const fs::path& file,
                           std::uint64_t size, const ByteCounter& sent) {
  if (has_blob(repo, digest)) return false;
  UniqueFd fd = open_file(file, O_RDONLY);
  return m_impl->upload_file(repo, digest, fd.get(), file, size, sent);
}

bool Client::put_blob_bytes(const std::string& repo, const std::string& digest,
                            std::string_view bytes) {
  if (has_blob(repo, digest)) return false;
  const std::string what = "cannot upload blob " + digest + " to " + m_impl->where(repo);
  const std::string location = m_impl->start_upload(repo, what);
  m_impl->finish_upload(location, digest, Upload::of(bytes), repo, nullptr, what);
  return true;
}

std::string Client::put_manifest(const std::string& repo, const std::string& reference,
                                 const std::string& media_type, const std::string& bytes) {
  check_repository(repo);
  check_reference(reference);
  const std::string what =
      "cannot store manifest " + quote(reference) + " in " + m_impl->where(repo);
  const Upload body = Upload::of(bytes);
  Request request{"PUT", m_impl->base + "/v2/" + repo + "/manifests/" + reference};
  request.headers = {"Content-Type: " + media_type};
  request.upload = &body;
  const Response response = m_impl->send(request, {repo, Access::push});
  if (response.status != 201) throw http_error(response, what);
  const std::string digest = "sha256:" + Sha256::hex_of(bytes);
  const std::string stored = response.header("docker-content-digest");
  if (!stored.empty() && stored != digest) {
    throw Error(ExitCode::check_failed,
                what + ": the registry stored it as " + printable(stored) + ", not " + digest);
  }
  return digest;
}

std::optional<std::string> Client::get_manifest(const std::string& repo,
                                                const std::string& reference,
                                                const std::string& accept) {
  check_repository(repo);
  check_reference(reference);
  Request request{"GET", m_impl->base + "/v2/" + repo + "/manifests/" + reference};
  request.headers = {"Accept: " + accept};
  request.body_limit = k_manifest_limit;
  Response response = m_impl->send(request, {repo, Access::pull});
  if (response.status == 404) return std::nullopt;
  const std::string what =
      "cannot read manifest " + quote(reference) + " of " + m_impl->where(repo);
  if (response.status != 200) throw http_error(response, what);
  const std::string digest = "sha256:" + Sha256::hex_of(response.body);
  const std::string named =
      reference.rfind("sha256:", 0) == 0 ? reference : response.header("docker-content-digest");
  if (!named.empty() && named != digest) {
    throw Error(ExitCode::check_failed,
                what + ": its bytes hash to " + digest + ", not " + printable(named));
  }
  return std::move(response.body);
}

void Client::get_blob(const std::string& repo, const std::string& digest, const fs::path& dest,
                      const ByteCounter& received) {
  check_repository(repo);
  check_digest(digest);
  UniqueFd fd = open_file(dest, O_WRONLY | O_CREAT | O_EXCL, 0644);
  try {
    Download download{fd.get(), dest, Sha256(), &received};
    Request request{"GET", m_impl->base + "/v2/" + repo + "/blobs/" + digest};
    request.download = &download;
    request.follow_redirects = true;
    const Response response = m_impl->send(request, {repo, Access::pull});
    const std::string what = "cannot download blob " + digest + " from " + m_impl->where(repo);
    if (response.status != 200) throw http_error(response, what);
    const std::string got = "sha256:" + download.hash.hex_final();
    if (got != digest) {
      throw Error(
          ExitCode::check_failed,
          what + ": the bytes the registry sent hash to " + got + ", not " + digest,
          "the registry's copy is damaged; push it again from a registry that has it whole");
    }
    fd.close_checked(dest);
  } catch (...) {
    ::unlink(dest.c_str());
    throw;
  }
}

}  // namespace lm::oci
