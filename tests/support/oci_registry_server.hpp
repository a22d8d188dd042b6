#pragma once
// A real OCI registry for tests: Debian's docker-registry (distribution 2.8)
// listening on 127.0.0.1 on a free port, storing into a temporary directory
// that goes away with it. Standard library and POSIX only, so that unit and
// end-to-end tests can both use it.

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace lm::test {

class OciRegistryServer {
 public:
  struct Options {
    // Require basic authentication (htpasswd) as k_user / k_password.
    bool basic_auth = false;
    // Log every request (one line each, in log()), e.g. to count them.
    bool access_log = false;
  };
  static constexpr const char* k_user = "lastmile";
  static constexpr const char* k_password = "pa55-w0rd-not-in-messages";

  // Starts the registry and waits until GET /v2/ answers. Throws
  // std::runtime_error when docker-registry is missing or does not come up:
  // a test that needs a registry fails rather than skips.
  explicit OciRegistryServer(Options options);
  OciRegistryServer() : OciRegistryServer(Options{}) {}
  // Stops the registry and removes its storage.
  ~OciRegistryServer();
  OciRegistryServer(const OciRegistryServer&) = delete;
  OciRegistryServer& operator=(const OciRegistryServer&) = delete;

  std::uint16_t port() const { return m_port; }
  // "127.0.0.1:PORT"
  std::string host() const { return "127.0.0.1:" + std::to_string(m_port); }
  const std::filesystem::path& storage() const { return m_storage; }
  // Where the registry keeps the bytes of blob "sha256:<hex>".
  std::filesystem::path blob_data(std::string_view digest) const;
  // What the registry logged (errors only).
  std::string log() const;

 private:
  bool start(const Options& options);

  std::filesystem::path m_dir;
  std::filesystem::path m_storage;
  std::uint16_t m_port = 0;
  pid_t m_pid = -1;
};

// A stand-in for a registry behind a token service (tests/support/
// fake_token_registry.py, run by python3): distribution 2.8 needs a signing
// key and a token server of its own for that.
class FakeTokenRegistry {
 public:
  static constexpr const char* k_user = "token-user";
  static constexpr const char* k_password = "token-pa55-not-in-messages";
  static constexpr const char* k_refresh_token = "refresh-not-in-messages";

  FakeTokenRegistry();
  ~FakeTokenRegistry();
  FakeTokenRegistry(const FakeTokenRegistry&) = delete;
  FakeTokenRegistry& operator=(const FakeTokenRegistry&) = delete;

  std::string host() const { return "127.0.0.1:" + std::to_string(m_port); }
  // The scopes of the tokens it has handed out, one a line.
  std::string issued() const;

 private:
  std::filesystem::path m_dir;
  std::uint16_t m_port = 0;
  pid_t m_pid = -1;
};

}  // namespace lm::test
