// HTTP over libcurl for the OCI client: the only file that sees curl.h.
// One request at a time on a kept-alive handle; curl's callbacks stream
// request bodies from files and response bodies into files.

#include <curl/curl.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <map>
#include <vector>

#include "registry/core/error.hpp"
#include "registry/core/files.hpp"
#include "registry/core/json.hpp"
#include "registry/core/oci_http.hpp"

namespace lm::oci::http {

namespace {

namespace fs = std::filesystem;

constexpr long k_connect_timeout_s = 10;
// A stalled transfer is given up on; a slow but moving one never is, so a
// large model on a slow link has no total time limit.
constexpr long k_low_speed_bytes = 1024;
constexpr long k_low_speed_seconds = 60;
constexpr long k_receive_buffer = 512 << 10;
constexpr long k_send_buffer = 2 << 20;

struct CurlFree {
  void operator()(CURL* p) const noexcept { curl_easy_cleanup(p); }
};
struct SlistFree {
  void operator()(curl_slist* p) const noexcept { curl_slist_free_all(p); }
};
using CurlPtr = std::unique_ptr<CURL, CurlFree>;
using SlistPtr = std::unique_ptr<curl_slist, SlistFree>;

void ensure_curl() {
  // A function-local static is initialised once, whichever thread gets
  // here first; curl_global_init itself is not thread-safe on every build.
  struct Library {
    Library() {
      if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        throw Error(ExitCode::internal, "cannot initialise libcurl");
      }
    }
    ~Library() { curl_global_cleanup(); }
  };
  static const Library library;
}

std::string lowercase(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// The state curl's callbacks share. An exception cannot cross curl's C
// frames: a callback keeps it here and makes curl stop.
struct Transfer {
  const Request& request;
  Response& response;
  CURL* curl;
  std::uint64_t upload_pos = 0;
  std::uint64_t counted = 0;  // bytes reported sent; a rewind does not count twice
  std::exception_ptr error;
};

std::size_t on_header(char* data, std::size_t size, std::size_t count, void* user) {
  auto& t = *static_cast<Transfer*>(user);
  const std::size_t n = size * count;
  const std::string_view line(data, n);
  if (line.substr(0, 5) == "HTTP/") {
    t.response.headers.clear();  // a new response: after 100 Continue or a redirect
    return n;
  }
  const auto colon = line.find(':');
  if (colon == std::string_view::npos) return n;
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' ')) {
    value.remove_suffix(1);
  }
  t.response.headers.emplace_back(lowercase(line.substr(0, colon)), std::string(value));
  return n;
}

std::size_t on_write(char* data, std::size_t size, std::size_t count, void* user) {
  auto& t = *static_cast<Transfer*>(user);
  const std::size_t n = size * count;
  try {
    long status = 0;
    curl_easy_getinfo(t.curl, CURLINFO_RESPONSE_CODE, &status);
    const bool success = status >= 200 && status < 300;
    if (success && t.request.download) {
      t.request.download->write(data, n);
    } else if (t.response.body.size() + n <= t.request.body_limit) {
      t.response.body.append(data, n);
    } else if (success) {
      throw Error(ExitCode::data, "the registry's answer to " + t.request.method + " " +
                                      host_of(t.request.url) + " is larger than " +
                                      std::to_string(t.request.body_limit >> 10) + " KiB");
    }  // else: an error body cut short is still an error body
    return n;
  } catch (...) {
    t.error = std::current_exception();
    return 0;
  }
}

std::size_t on_read(char* buffer, std::size_t size, std::size_t count, void* user) {
  auto& t = *static_cast<Transfer*>(user);
  try {
    if (!t.request.upload) return 0;
    const Upload& up = *t.request.upload;
    const std::size_t want =
        static_cast<std::size_t>(std::min<std::uint64_t>(size * count, up.length - t.upload_pos));
    if (want == 0) return 0;
    const std::size_t got = up.read(t.upload_pos, buffer, want);
    t.upload_pos += got;
    if (t.upload_pos > t.counted) {
      if (t.request.counter && *t.request.counter) (*t.request.counter)(t.upload_pos - t.counted);
      t.counted = t.upload_pos;
    }
    return got;
  } catch (...) {
    t.error = std::current_exception();
    return CURL_READFUNC_ABORT;
  }
}

// curl rewinds when it sends a body again: on a reused connection that
// turned out dead, or after a redirect.
int on_seek(void* user, curl_off_t offset, int origin_) {
  auto& t = *static_cast<Transfer*>(user);
  if (!t.request.upload || origin_ != SEEK_SET || offset < 0 ||
      static_cast<std::uint64_t>(offset) > t.request.upload->length) {
    return CURL_SEEKFUNC_CANTSEEK;
  }
  t.upload_pos = static_cast<std::uint64_t>(offset);
  return CURL_SEEKFUNC_OK;
}

// NO_PROXY as the user set it, plus this machine: a registry on loopback is
// never reached through a proxy.
std::string no_proxy_list() {
  const char* set = std::getenv("NO_PROXY");
  if (!set || !*set) set = std::getenv("no_proxy");
  std::string list = set ? set : "";
  if (list == "*") return list;
  return list + (list.empty() ? "" : ",") + "localhost,127.0.0.1,::1";
}

// "Failed to ..." -> "failed to ...", but "OpenSSL ..." stays as it is.
std::string first_lower(std::string text) {
  const std::string_view word = std::string_view(text).substr(0, text.find(' '));
  const auto upper = [](char c) { return std::isupper(static_cast<unsigned char>(c)) != 0; };
  if (!word.empty() && std::none_of(word.begin() + 1, word.end(), upper)) {
    text[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(text[0])));
  }
  return text;
}

// Why a request got no HTTP answer, in words.
std::string transport_reason(CURLcode rc, CURL* curl, const char* detail) {
  switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
      return "its host name does not resolve";
    case CURLE_COULDNT_CONNECT: {
      long err = 0;
      curl_easy_getinfo(curl, CURLINFO_OS_ERRNO, &err);
      if (err != 0) return errno_text(static_cast<int>(err));
      break;
    }
    case CURLE_OPERATION_TIMEDOUT: {
      curl_off_t connected = 0;
      curl_easy_getinfo(curl, CURLINFO_CONNECT_TIME_T, &connected);
      if (connected <= 0)
        return "no connection within " + std::to_string(k_connect_timeout_s) + " s";
      return "the transfer stalled (under " + std::to_string(k_low_speed_bytes) + " bytes/s for " +
             std::to_string(k_low_speed_seconds) + " s)";
    }
    case CURLE_SSL_CONNECT_ERROR:
      return "the TLS handshake failed (" + std::string(detail) + ")";
    case CURLE_PEER_FAILED_VERIFICATION:
      return "its TLS certificate is not trusted (" + std::string(detail) + ")";
    case CURLE_UNSUPPORTED_PROTOCOL:
      return "it redirected to a URL lastmile does not follow (plain http is only for this "
             "machine)";
    default:
      break;
  }
  return first_lower(*detail ? detail : curl_easy_strerror(rc));
}

template <class T>
void set(CURL* curl, CURLoption option, T value) {
  if (const CURLcode rc = curl_easy_setopt(curl, option, value); rc != CURLE_OK) {
    throw Error(ExitCode::internal,
                "libcurl refused option " + std::to_string(option) + ": " + curl_easy_strerror(rc));
  }
}

std::string status_text(long status) {
  static const std::map<long, const char*> k_names = {
      {400, "Bad Request"},        {401, "Unauthorized"},
      {403, "Forbidden"},          {404, "Not Found"},
      {405, "Method Not Allowed"}, {409, "Conflict"},
      {413, "Payload Too Large"},  {416, "Range Not Satisfiable"},
      {429, "Too Many Requests"},  {500, "Internal Server Error"},
      {502, "Bad Gateway"},        {503, "Service Unavailable"},
      {504, "Gateway Timeout"}};
  const auto it = k_names.find(status);
  return std::to_string(status) + (it == k_names.end() ? "" : std::string(" ") + it->second);
}

ExitCode code_for(long status, const std::string& errors) {
  if (errors.find("DIGEST_INVALID") != std::string::npos) return ExitCode::check_failed;
  if (status == 404) return ExitCode::not_found;
  if (status == 401 || status == 403) return ExitCode::permission;
  if (status == 429) return ExitCode::temp_fail;
  if (status >= 500) return ExitCode::unavailable;
  if (status == 400) return ExitCode::data;
  return ExitCode::error;
}

}  // namespace

std::string url_encode(std::string_view text) {
  static const char k_hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += k_hex[c >> 4];
      out += k_hex[c & 15];
    }
  }
  return out;
}

std::optional<UrlParts> split_url(std::string_view url) {
  const auto sep = url.find("://");
  if (sep == std::string_view::npos) return std::nullopt;
  UrlParts parts{lowercase(url.substr(0, sep)), "", ""};
  const std::string_view rest = url.substr(sep + 3);
  parts.authority = std::string(rest.substr(0, rest.find_first_of("/?#")));
  parts.host = lowercase(parts.authority.substr(parts.authority.rfind('@') + 1));
  const std::string default_port = parts.scheme == "https" ? ":443" : ":80";
  if (parts.host.size() > default_port.size() &&
      parts.host.compare(parts.host.size() - default_port.size(), default_port.size(),
                         default_port) == 0) {
    parts.host.resize(parts.host.size() - default_port.size());
  }
  return parts;
}

// "scheme://host", for telling whether a URL is the registry's own.
std::string origin(std::string_view url) {
  const auto parts = split_url(url);
  return parts ? parts->scheme + "://" + parts->host : std::string();
}

std::string host_of(std::string_view url) {
  const auto parts = split_url(url);
  return parts ? parts->host : std::string();
}

std::size_t Upload::read(std::uint64_t pos, char* buffer, std::size_t want) const {
  if (fd < 0) {
    std::memcpy(buffer, bytes.data() + pos, want);
    return want;
  }
  for (;;) {
    const ssize_t n = ::pread(fd, buffer, want, static_cast<off_t>(offset + pos));
    if (n > 0) return static_cast<std::size_t>(n);
    if (n == 0) {
      throw Error(ExitCode::io, quote(path->string()) + " became shorter while it was uploaded");
    }
    if (errno != EINTR) throw system_error(errno, "cannot read " + quote(path->string()));
  }
}

void Download::write(const char* data, std::size_t size) {
  write_all(fd, data, size, path);
  hash.update(data, size);
  if (counter && *counter) (*counter)(size);
}

std::string Response::header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (key == name) return value;
  }
  return {};
}

std::vector<std::string> Response::all(std::string_view name) const {
  std::vector<std::string> out;
  for (const auto& [key, value] : headers) {
    if (key == name) out.push_back(value);
  }
  return out;
}

// The registry's own explanation: "CODE: message" for each entry of the
// OCI error body {"errors": [{"code", "message", "detail"}]}.
std::string registry_errors(const std::string& body) {
  const Json json = Json::parse(body, nullptr, false);
  if (!json.is_object() || !json.contains("errors") || !json["errors"].is_array()) return {};
  std::string out;
  for (const auto& e : json["errors"]) {
    if (!e.is_object()) continue;
    const std::string code = e.value("code", "");
    const std::string message =
        e.contains("message") && e["message"].is_string() ? e["message"].get<std::string>() : "";
    out += (out.empty() ? "" : "; ") + code + (message.empty() ? "" : ": " + message);
  }
  return printable(out.substr(0, 300));
}

// "<what>: the registry answered 400 Bad Request (CODE: message)".
Error http_error(const Response& response, const std::string& what) {
  const std::string errors = registry_errors(response.body);
  const ExitCode code = code_for(response.status, errors);
  std::string hint;
  if (code == ExitCode::unavailable || code == ExitCode::temp_fail) hint = "try again later";
  if (code == ExitCode::check_failed) hint = "the bytes changed after their digest was computed";
  return Error(code,
               what + ": the registry answered " + status_text(response.status) +
                   (errors.empty() ? "" : " (" + errors + ")"),
               hint);
}

struct Session::Impl {
  std::string registry_host;
  const char* protocols;
  std::string no_proxy;
  CurlPtr curl;
  // The system's certificate authorities and the registry's own from a
  // certs.d directory, in PEM; empty when there are none of its own.
  std::string authorities;
};

namespace {

void set_common(CURL* curl, char* detail, Transfer& transfer, const char* protocols,
                const std::string& no_proxy) {
  set(curl, CURLOPT_URL, transfer.request.url.c_str());
  set(curl, CURLOPT_PROTOCOLS_STR, protocols);
  set(curl, CURLOPT_REDIR_PROTOCOLS_STR, protocols);
  set(curl, CURLOPT_NOPROXY, no_proxy.c_str());
  set(curl, CURLOPT_NOSIGNAL, 1L);
  set(curl, CURLOPT_ERRORBUFFER, detail);
  set(curl, CURLOPT_USERAGENT, "lastmile");
  set(curl, CURLOPT_CONNECTTIMEOUT, k_connect_timeout_s);
  set(curl, CURLOPT_LOW_SPEED_LIMIT, k_low_speed_bytes);
  set(curl, CURLOPT_LOW_SPEED_TIME, k_low_speed_seconds);
  set(curl, CURLOPT_TCP_KEEPALIVE, 1L);
  set(curl, CURLOPT_BUFFERSIZE, k_receive_buffer);
  set(curl, CURLOPT_UPLOAD_BUFFERSIZE, k_send_buffer);
  // Registries send blob downloads on to storage (S3, a CDN); curl drops
  // the Authorization header when a redirect leaves the host.
  set(curl, CURLOPT_FOLLOWLOCATION, transfer.request.follow_redirects ? 1L : 0L);
  set(curl, CURLOPT_MAXREDIRS, 10L);
  set(curl, CURLOPT_HEADERFUNCTION, on_header);
  set(curl, CURLOPT_HEADERDATA, &transfer);
  set(curl, CURLOPT_WRITEFUNCTION, on_write);
  set(curl, CURLOPT_WRITEDATA, &transfer);
  // Also without a body: curl's default reader would read lastmile's stdin.
  set(curl, CURLOPT_READFUNCTION, on_read);
  set(curl, CURLOPT_READDATA, &transfer);
  set(curl, CURLOPT_SEEKFUNCTION, on_seek);
  set(curl, CURLOPT_SEEKDATA, &transfer);
}

void set_method(CURL* curl, const Request& request) {
  const std::string& method = request.method;
  if (method == "HEAD") {
    set(curl, CURLOPT_NOBODY, 1L);
  } else if (method == "POST") {
    set(curl, CURLOPT_POST, 1L);
    set(curl, CURLOPT_POSTFIELDS, request.form.c_str());
    set(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.form.size()));
  } else if (method == "PUT" || method == "PATCH") {
    set(curl, CURLOPT_UPLOAD, 1L);
    const std::uint64_t length = request.upload ? request.upload->length : 0;
    set(curl, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(length));
    if (method == "PATCH") set(curl, CURLOPT_CUSTOMREQUEST, "PATCH");
  } else if (method != "GET") {
    set(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
  }
}

SlistPtr header_list(const Request& request) {
  SlistPtr list;
  const auto add = [&](const std::string& line) {
    // returns the head of the list, which is new only the first time
    curl_slist* head = curl_slist_append(list.get(), line.c_str());
    if (!head) throw Error(ExitCode::internal, "out of memory building HTTP headers");
    (void)list.release();
    list.reset(head);
  };
  for (const auto& line : request.headers) add(line);
  if (!request.authorization.empty()) add("Authorization: " + request.authorization);
  return list;
}

Error transport_error(CURLcode rc, CURL* curl, const char* detail, const std::string& url,
                      const std::string& registry_host) {
  const std::string host = host_of(url);
  const std::string what = host == registry_host ? "the OCI registry " + host
                                                 : host + " (where the OCI registry " +
                                                       registry_host + " sent lastmile)";
  std::string hint = "check the address and that the registry is up; then try again";
  if (rc == CURLE_SSL_CONNECT_ERROR) {
    hint = "a registry that speaks plain http can be used only on this machine (insecure)";
  } else if (rc == CURLE_PEER_FAILED_VERIFICATION) {
    // Not a network failure to retry: the server is not the one it claims.
    return Error(ExitCode::permission, "cannot trust " + what + ": " + transport_reason(rc, curl, detail),
                 "add the certificate authority that signed it to the system's (update-ca-certificates), or "
                 "put it in ~/.config/containers/certs.d/" + host + "/ca.crt");
  }
  return Error(ExitCode::unavailable,
               "cannot reach " + what + ": " + transport_reason(rc, curl, detail), hint);
}

}  // namespace

// The certificate authorities a registry's own certs.d directory adds to
// the system's, where podman, skopeo and Docker look for them:
// $XDG_CONFIG_HOME/containers/certs.d/HOST[:PORT]/*.crt (~/.config by
// default), then /etc/containers/certs.d and /etc/docker/certs.d. Empty when
// there are none; else the system's bundle followed by them, in PEM.
std::string registry_authorities(CURL* curl, const std::string& registry_host) {
  std::vector<std::filesystem::path> roots;
  if (const char* xdg = std::getenv("XDG_CONFIG_HOME"); xdg != nullptr && *xdg != '\0') {
    roots.emplace_back(std::filesystem::path(xdg) / "containers/certs.d");
  } else if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') {
    roots.emplace_back(std::filesystem::path(home) / ".config/containers/certs.d");
  }
  roots.emplace_back("/etc/containers/certs.d");
  roots.emplace_back("/etc/docker/certs.d");
  std::string own;
  for (const auto& root : roots) {
    std::error_code ec;
    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::directory_iterator(root / registry_host, ec)) {
      if (entry.path().extension() == ".crt") files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    for (const auto& file : files) own += read_file(file) + "\n";
  }
  if (own.empty()) return own;
  char* bundle = nullptr;
  std::string system;
  if (curl_easy_getinfo(curl, CURLINFO_CAINFO, &bundle) == CURLE_OK && bundle != nullptr &&
      lstat_path(bundle)) {
    system = read_file(bundle) + "\n";
  }
  return system + own;
}

Session::Session(std::string registry_host, bool allow_http) {
  ensure_curl();
  CurlPtr curl(curl_easy_init());
  if (!curl) throw Error(ExitCode::internal, "cannot create a libcurl handle");
  std::string authorities = registry_authorities(curl.get(), registry_host);
  m_impl.reset(new Impl{std::move(registry_host), allow_http ? "http,https" : "https", no_proxy_list(),
                        std::move(curl), std::move(authorities)});
}

Session::~Session() = default;
Session::Session(Session&&) noexcept = default;
Session& Session::operator=(Session&&) noexcept = default;

Response Session::perform(const Request& request) {
  CURL* curl = m_impl->curl.get();
  // Between requests the handle keeps no pointer to this one's buffers;
  // curl_easy_reset clears options only, and connections stay open.
  struct ResetAfter {
    CURL* curl;
    ~ResetAfter() { curl_easy_reset(curl); }
  } reset_after{curl};
  Response response;
  Transfer transfer{request, response, curl};
  char detail[CURL_ERROR_SIZE] = "";
  set_common(curl, detail, transfer, m_impl->protocols, m_impl->no_proxy);
  if (!m_impl->authorities.empty()) {
    curl_blob blob{m_impl->authorities.data(), m_impl->authorities.size(), CURL_BLOB_NOCOPY};
    set(curl, CURLOPT_CAINFO_BLOB, &blob);
  }
  set_method(curl, request);
  const SlistPtr headers = header_list(request);
  set(curl, CURLOPT_HTTPHEADER, headers.get());
  const CURLcode rc = curl_easy_perform(curl);
  if (transfer.error) std::rethrow_exception(transfer.error);
  if (rc != CURLE_OK) throw transport_error(rc, curl, detail, request.url, m_impl->registry_host);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
  return response;
}

}  // namespace lm::oci::http
