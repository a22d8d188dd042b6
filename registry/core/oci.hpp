#pragma once
// A client of the OCI distribution API (registries such as distribution,
// Harbor, GHCR, ECR, Docker Hub): blobs and manifests over HTTPS, with the
// registry's token or basic authentication. No domain knowledge: what the
// blobs and manifests mean is registry/modelpack's business.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace lm::oci {

struct Endpoint {
  std::string host;        // "host[:port]", lowercase
  std::string repository;  // "team/models": the prefix of every repository used
  // Plain http instead of https; only for a registry on this machine.
  bool insecure = false;
};

// Parses "oci://HOST[:PORT]/REPO[/MORE]". Throws Error(usage) quoting the
// URL (any user:password@ left out) and the rule it broke.
Endpoint parse_url(std::string_view url);

// True for "name", "name:port", "[v6]" or "[v6]:port".
bool valid_host(std::string_view host);
// True for a repository path the distribution spec allows: '/'-separated
// components of [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*, at most 255 bytes.
bool valid_repository(std::string_view repository);
// True for a tag: [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}.
bool valid_tag(std::string_view tag);
// True for a host that is this machine: localhost, 127.0.0.1 or ::1.
bool is_loopback_host(std::string_view host);

// Called with the number of bytes moved since the last call, as they move.
using ByteCounter = std::function<void(std::uint64_t bytes)>;

inline constexpr std::uint64_t k_default_chunk_size = 64ull << 20;

// One connection (kept alive) to one registry. Not for use by two threads
// at once: give each thread its own Client. Every method takes a repository
// path (valid_repository) and throws Error(usage) for another; a manifest
// reference is a tag (valid_tag) or a "sha256:<hex>" digest. A ByteCounter
// may be empty.
//
// Authentication happens when the registry asks for it (HTTP 401): a bearer
// token from the registry's token service, or basic credentials. The
// credentials are looked up then, first match wins: LASTMILE_OCI_TOKEN (a
// bearer token used as it is); LASTMILE_OCI_USERNAME with
// LASTMILE_OCI_PASSWORD; Docker's config.json ($DOCKER_CONFIG or
// ~/.docker): credHelpers[host], auths[host], credsStore. Tokens are kept
// for the client's life. No message ever contains a password or token.
//
// Errors: Error(unavailable) when the registry cannot be reached or answers
// 5xx; Error(permission) when it wants credentials there are none of, or
// refuses them; Error(check_failed) when bytes do not match their digest;
// other HTTP errors carry the registry's own error codes and messages.
class Client {
 public:
  // Throws Error(usage) for an endpoint whose host is not valid, or that is
  // insecure and not loopback.
  explicit Client(Endpoint endpoint);
  ~Client();
  Client(Client&&) noexcept;
  Client& operator=(Client&&) noexcept;

  const Endpoint& endpoint() const;

  // Files larger than this are uploaded in chunks of this size.
  void set_chunk_size(std::uint64_t bytes);

  // True when the repository `repo` has the blob "sha256:<hex>" `digest`.
  bool has_blob(const std::string& repo, const std::string& digest);

  // Uploads the first `size` bytes of `file` as blob `digest` unless the
  // registry has it already; returns false when the upload was skipped.
  // Streams from the file; a file larger than the chunk size goes in
  // several requests. Error(check_failed) when the registry finds that the
  // bytes do not hash to `digest`.
  bool put_blob_file(const std::string& repo, const std::string& digest,
                     const std::filesystem::path& file, std::uint64_t size,
                     const ByteCounter& sent);
  // As put_blob_file, for bytes in memory (a config, a small manifest).
  bool put_blob_bytes(const std::string& repo, const std::string& digest, std::string_view bytes);

  // Stores `bytes` as the manifest `reference` (a tag or a digest) and
  // returns its digest "sha256:<hex>". Error(check_failed) when the registry
  // reports another digest for what it stored.
  std::string put_manifest(const std::string& repo, const std::string& reference,
                           const std::string& media_type, const std::string& bytes);

  // The manifest `reference` (a tag or a digest), asking for the media types
  // in `accept` (comma-separated); nullopt when the registry has no such
  // manifest or repository. Error(check_failed) when the bytes do not hash
  // to the digest asked for or the registry named.
  std::optional<std::string> get_manifest(const std::string& repo, const std::string& reference,
                                          const std::string& accept);

  // Downloads blob `digest` into `dest`, a new file (never an existing one),
  // hashing it on the way, following the registry's redirects to storage.
  // Error(check_failed) naming the digest when the bytes hash to something
  // else; on any error `dest` is removed.
  void get_blob(const std::string& repo, const std::string& digest,
                const std::filesystem::path& dest, const ByteCounter& received);

 private:
  struct Impl;
  std::unique_ptr<Impl> m_impl;
};

}  // namespace lm::oci
