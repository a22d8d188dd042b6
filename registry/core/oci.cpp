// The OCI distribution client over libcurl. This is the only file that sees
// curl.h: an Http class that runs one request on a kept-alive handle, and
// the Client, which adds the registry's authentication dance and the
// distribution API's upload protocol on top.

#include "registry/core/oci.hpp"

#include <curl/curl.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <map>
#include <vector>

#include "registry/core/error.hpp"
#include "registry/core/files.hpp"
#include "registry/core/json.hpp"
#include "registry/core/oci_auth.hpp"
#include "registry/core/sha256.hpp"

namespace lm::oci {

namespace {

namespace fs = std::filesystem;

constexpr long k_connect_timeout_s = 10;
// A stalled transfer is given up on; a slow but moving one never is, so a
// large model on a slow link has no total time limit.
constexpr long k_low_speed_bytes = 1024;
constexpr long k_low_speed_seconds = 60;
constexpr std::size_t k_error_body_limit = 64 << 10;
constexpr std::size_t k_manifest_limit = 4 << 20;
constexpr std::size_t k_token_limit = 1 << 20;
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

struct UrlParts {
  std::string scheme;     // lowercase
  std::string authority;  // as written: may hold "user:pass@"
  std::string host;       // lowercase, without a default port
};

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

// What one request sends: bytes in memory, or a range of an open file.
struct Upload {
  std::string_view bytes;
  int fd = -1;
  const fs::path* path = nullptr;
  std::uint64_t offset = 0;
  std::uint64_t length = 0;

  static Upload of(std::string_view bytes) { return {bytes, -1, nullptr, 0, bytes.size()}; }

  // Reads `want` bytes at `pos` of the range into `buffer`.
  std::size_t read(std::uint64_t pos, char* buffer, std::size_t want) const {
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
};

// Where a successful response's body goes when it is a blob: a file,
// hashed as it is written.
struct Download {
  int fd;
  const fs::path& path;
  Sha256 hash;
  const ByteCounter* counter;

  void write(const char* data, std::size_t size) {
    write_all(fd, data, size, path);
    hash.update(data, size);
    if (counter && *counter) (*counter)(size);
  }
};

struct Request {
  std::string method;  // GET HEAD PUT POST PATCH DELETE
  std::string url;
  std::vector<std::string> headers;  // "Name: value", not Authorization
  std::string authorization;         // the Authorization value, or empty
  const Upload* upload = nullptr;
  std::string form;                  // a POST body of form fields
  Download* download = nullptr;
  const ByteCounter* counter = nullptr;  // bytes sent
  bool follow_redirects = false;
  std::size_t body_limit = k_error_body_limit;
};

struct Response {
  long status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // lowercase names
  std::string body;

  std::string header(std::string_view name) const {
    for (const auto& [key, value] : headers) {
      if (key == name) return value;
    }
    return {};
  }
  std::vector<std::string> all(std::string_view name) const {
    std::vector<std::string> out;
    for (const auto& [key, value] : headers) {
      if (key == name) out.push_back(value);
    }
    return out;
  }
  bool ok() const { return status >= 200 && status < 300; }
};

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
  if (origin_ != SEEK_SET || offset < 0 ||
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

std::string first_lower(std::string text) {
  if (!text.empty()) text[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(text[0])));
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
      if (connected <= 0) return "no connection within " + std::to_string(k_connect_timeout_s) + " s";
      return "the transfer stalled (under " + std::to_string(k_low_speed_bytes) + " bytes/s for " +
             std::to_string(k_low_speed_seconds) + " s)";
    }
    case CURLE_UNSUPPORTED_PROTOCOL:
      return "it redirected to a URL lastmile does not follow (plain http is only for this machine)";
    default:
      break;
  }
  return first_lower(*detail ? detail : curl_easy_strerror(rc));
}

template <class T>
void set(CURL* curl, CURLoption option, T value) {
  if (const CURLcode rc = curl_easy_setopt(curl, option, value); rc != CURLE_OK) {
    throw Error(ExitCode::internal, "libcurl refused option " + std::to_string(option) + ": " +
                                        curl_easy_strerror(rc));
  }
}

// One kept-alive curl handle: requests run one after another reuse its
// connections.
class Http {
 public:
  Http(std::string registry_host, bool allow_http)
      : m_registry_host(std::move(registry_host)),
        m_protocols(allow_http ? "http,https" : "https"),
        m_no_proxy(no_proxy_list()) {
    ensure_curl();
    m_curl.reset(curl_easy_init());
    if (!m_curl) throw Error(ExitCode::internal, "cannot create a libcurl handle");
  }

  // Runs `request`; throws Error(unavailable) when no HTTP answer came.
  Response perform(const Request& request) {
    CURL* curl = m_curl.get();
    curl_easy_reset(curl);  // options only: connections stay open
    Response response;
    Transfer transfer{request, response, curl};
    char detail[CURL_ERROR_SIZE] = "";
    set_common(curl, detail, transfer);
    set_method(curl, request);
    SlistPtr headers = header_list(request);
    set(curl, CURLOPT_HTTPHEADER, headers.get());
    const CURLcode rc = curl_easy_perform(curl);
    if (transfer.error) std::rethrow_exception(transfer.error);
    if (rc != CURLE_OK) throw transport_error(rc, curl, detail, request.url);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
    return response;
  }

 private:
  void set_common(CURL* curl, char* detail, Transfer& transfer) {
    set(curl, CURLOPT_URL, transfer.request.url.c_str());
    set(curl, CURLOPT_PROTOCOLS_STR, m_protocols);
    set(curl, CURLOPT_REDIR_PROTOCOLS_STR, m_protocols);
    set(curl, CURLOPT_NOPROXY, m_no_proxy.c_str());
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
    if (transfer.request.upload) {
      set(curl, CURLOPT_READFUNCTION, on_read);
      set(curl, CURLOPT_READDATA, &transfer);
      set(curl, CURLOPT_SEEKFUNCTION, on_seek);
      set(curl, CURLOPT_SEEKDATA, &transfer);
    }
  }

  static void set_method(CURL* curl, const Request& request) {
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
      if (!request.upload) set(curl, CURLOPT_READFUNCTION, +[](char*, std::size_t, std::size_t, void*) -> std::size_t { return 0; });
      if (method == "PATCH") set(curl, CURLOPT_CUSTOMREQUEST, "PATCH");
    } else if (method != "GET") {
      set(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
    }
  }

  static SlistPtr header_list(const Request& request) {
    SlistPtr list;
    const auto add = [&](const std::string& line) {
      curl_slist* grown = curl_slist_append(list.get(), line.c_str());
      if (!grown) throw Error(ExitCode::internal, "out of memory building HTTP headers");
      (void)list.release();
      list.reset(grown);
    };
    for (const auto& line : request.headers) add(line);
    if (!request.authorization.empty()) add("Authorization: " + request.authorization);
    return list;
  }

  Error transport_error(CURLcode rc, CURL* curl, const char* detail, const std::string& url) const {
    const std::string host = host_of(url);
    const std::string what = host == m_registry_host
                                 ? "the OCI registry " + host
                                 : host + " (where the OCI registry " + m_registry_host + " sent lastmile)";
    return Error(ExitCode::unavailable, "cannot reach " + what + ": " + transport_reason(rc, curl, detail),
                 rc == CURLE_SSL_CONNECT_ERROR
                     ? "if it speaks plain http, that is allowed for a registry on this machine only"
                     : "check the address and that the registry is up; then try again");
  }

  std::string m_registry_host;
  const char* m_protocols;
  std::string m_no_proxy;
  CurlPtr m_curl;
};

// The registry's own explanation: "CODE: message" for each entry of the
// OCI error body {"errors": [{"code", "message", "detail"}]}.
std::string registry_errors(const std::string& body) {
  const Json json = Json::parse(body, nullptr, false);
  if (!json.is_object() || !json.contains("errors") || !json["errors"].is_array()) return {};
  std::string out;
  for (const auto& e : json["errors"]) {
    if (!e.is_object()) continue;
    const std::string code = e.value("code", "");
    const std::string message = e.contains("message") && e["message"].is_string()
                                    ? e["message"].get<std::string>()
                                    : "";
    out += (out.empty() ? "" : "; ") + code + (message.empty() ? "" : ": " + message);
  }
  return printable(out.substr(0, 300));
}

std::string status_text(long status) {
  static const std::map<long, const char*> k_names = {
      {400, "Bad Request"},        {401, "Unauthorized"},     {403, "Forbidden"},
      {404, "Not Found"},          {405, "Method Not Allowed"}, {409, "Conflict"},
      {413, "Payload Too Large"},  {416, "Range Not Satisfiable"}, {429, "Too Many Requests"},
      {500, "Internal Server Error"}, {502, "Bad Gateway"},   {503, "Service Unavailable"},
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

void check_digest(const std::string& digest) {
  if (digest.rfind("sha256:", 0) != 0 || !is_sha256_hex(std::string_view(digest).substr(7))) {
    throw Error(ExitCode::data, "unsupported digest " + quote(digest) + ": lastmile reads sha256:<64 hex digits>");
  }
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
  Impl(Endpoint e)
      : endpoint(std::move(e)),
        base((endpoint.insecure ? "http://" : "https://") + endpoint.host),
        http(host_of(base), endpoint.insecure) {}

  Endpoint endpoint;
  std::string base;  // "https://host[:port]"
  Http http;
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
  bool upload_file(const std::string& repo, const std::string& digest, int fd,
                   const fs::path& file, std::uint64_t size, const ByteCounter& sent);
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
  if (use_basic) return "Basic " + base64_encode(credentials->username + ":" + credentials->password);
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
                "the OCI registry " + endpoint.host + " asks for authentication lastmile does not speak" +
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
    throw Error(ExitCode::permission,
                "refusing to send credentials for " + endpoint.host + " to its token service " +
                    parts->host + " over plain http");
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
    throw http_error(response, "cannot get a token for " + where(scope.repo) + " from " +
                                   host_of(request.url));
  }
  const Json reply = Json::parse(response.body, nullptr, false);
  for (const char* key : {"token", "access_token"}) {
    if (reply.is_object() && reply.contains(key) && reply[key].is_string() &&
        !reply[key].get<std::string>().empty()) {
      return reply[key].get<std::string>();
    }
  }
  throw Error(ExitCode::data, "the token service " + host_of(request.url) + " of the OCI registry " +
                                  endpoint.host + " answered without a token");
}

Error Client::Impl::refused(const Response& response, const Scope& scope) const {
  const std::string errors = registry_errors(response.body);
  const std::string detail = errors.empty() ? "" : " (" + errors + ")";
  if (!credentials) {
    return Error(ExitCode::permission,
                 "the OCI registry " + endpoint.host + " requires credentials to " + scope.action() +
                     quote(scope.repo) + " and lastmile found none" + detail,
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

std::string Client::Impl::resolve_location(const Response& response, const std::string& what) const {
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
  const std::string what = "cannot upload " + quote(file.string()) + " (" + digest + ") to " + where(repo);
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

void Client::set_chunk_size(std::uint64_t bytes) { m_impl->chunk_size = std::max<std::uint64_t>(bytes, 1); }

bool Client::has_blob(const std::string& repo, const std::string& digest) {
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

bool Client::put_blob_bytes(const std::string& repo, const std::string& digest, std::string_view bytes) {
  if (has_blob(repo, digest)) return false;
  const std::string what = "cannot upload blob " + digest + " to " + m_impl->where(repo);
  const std::string location = m_impl->start_upload(repo, what);
  m_impl->finish_upload(location, digest, Upload::of(bytes), repo, nullptr, what);
  return true;
}

std::string Client::put_manifest(const std::string& repo, const std::string& reference,
                                 const std::string& media_type, const std::string& bytes) {
  const std::string what = "cannot store manifest " + quote(reference) + " in " + m_impl->where(repo);
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

std::optional<std::string> Client::get_manifest(const std::string& repo, const std::string& reference,
                                                const std::string& accept) {
  Request request{"GET", m_impl->base + "/v2/" + repo + "/manifests/" + reference};
  request.headers = {"Accept: " + accept};
  request.body_limit = k_manifest_limit;
  Response response = m_impl->send(request, {repo, Access::pull});
  if (response.status == 404) return std::nullopt;
  const std::string what = "cannot read manifest " + quote(reference) + " of " + m_impl->where(repo);
  if (response.status != 200) throw http_error(response, what);
  const std::string digest = "sha256:" + Sha256::hex_of(response.body);
  const std::string named = reference.rfind("sha256:", 0) == 0 ? reference
                                                               : response.header("docker-content-digest");
  if (!named.empty() && named != digest) {
    throw Error(ExitCode::check_failed,
                what + ": its bytes hash to " + digest + ", not " + printable(named));
  }
  return std::move(response.body);
}

void Client::get_blob(const std::string& repo, const std::string& digest, const fs::path& dest,
                      const ByteCounter& received) {
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
      throw Error(ExitCode::check_failed,
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
