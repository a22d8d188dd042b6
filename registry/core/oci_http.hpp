#pragma once
// HTTP for the OCI client, internal to registry/core: one request at a time
// on a kept-alive libcurl handle (oci.cpp, the only file that sees curl.h),
// for the Client in oci_client.cpp.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "registry/core/error.hpp"
#include "registry/core/oci.hpp"
#include "registry/core/sha256.hpp"

namespace lm::oci::http {

inline constexpr std::size_t k_error_body_limit = 64 << 10;

// What one request sends: bytes in memory, or a range of an open file.
struct Upload {
  std::string_view bytes;
  int fd = -1;
  const std::filesystem::path* path = nullptr;
  std::uint64_t offset = 0;
  std::uint64_t length = 0;

  static Upload of(std::string_view bytes) { return {bytes, -1, nullptr, 0, bytes.size()}; }

  // Reads up to `want` bytes at `pos` of the range into `buffer`; throws
  // Error(io) when the file ends early.
  std::size_t read(std::uint64_t pos, char* buffer, std::size_t want) const;
};

// Where a successful response's body goes when it is a blob: a file,
// hashed as it is written.
struct Download {
  int fd;
  const std::filesystem::path& path;
  Sha256 hash;
  const ByteCounter* counter;

  void write(const char* data, std::size_t size);
};

struct Request {
  std::string method;  // GET HEAD PUT POST PATCH
  std::string url;
  std::vector<std::string> headers;      // "Name: value", not Authorization
  std::string authorization;             // the Authorization value, or empty
  const Upload* upload = nullptr;        // the body of a PUT or PATCH
  std::string form;                      // the body of a POST: form fields
  Download* download = nullptr;          // where a 2xx body goes, else into Response::body
  const ByteCounter* counter = nullptr;  // bytes sent
  bool follow_redirects = false;
  // Bytes of the body kept in Response::body; a longer 2xx body is an error.
  std::size_t body_limit = k_error_body_limit;
};

struct Response {
  long status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // lowercase names
  std::string body;

  // The first value of header `name` (lowercase), or "".
  std::string header(std::string_view name) const;
  std::vector<std::string> all(std::string_view name) const;
  bool ok() const { return status >= 200 && status < 300; }
};

// One kept-alive connection (libcurl handle) for requests made one after
// another.
class Session {
 public:
  // `registry_host` names the registry in messages; `allow_http` permits
  // plain http besides https.
  Session(std::string registry_host, bool allow_http);
  ~Session();
  Session(Session&&) noexcept;
  Session& operator=(Session&&) noexcept;

  // Runs `request`. Throws Error(unavailable) when no HTTP answer came, and
  // whatever the upload or download threw.
  Response perform(const Request& request);

 private:
  struct Impl;
  std::unique_ptr<Impl> m_impl;
};

struct UrlParts {
  std::string scheme;     // lowercase
  std::string authority;  // as written: may hold "user:pass@"
  std::string host;       // lowercase, without user info or a default port
};

std::optional<UrlParts> split_url(std::string_view url);
// "scheme://host", for telling whether a URL is the registry's own.
std::string origin(std::string_view url);
std::string host_of(std::string_view url);
std::string url_encode(std::string_view text);

// The registry's own explanation of an error: "CODE: message" for each
// entry of the OCI error body {"errors": [{"code", "message"}]}, or "".
std::string registry_errors(const std::string& body);

// Error("<what>: the registry answered 400 Bad Request (CODE: message)")
// with the exit code that fits the status.
Error http_error(const Response& response, const std::string& what);

}  // namespace lm::oci::http
