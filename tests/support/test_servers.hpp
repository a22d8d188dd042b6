#pragma once
// Servers the tests talk to, each on 127.0.0.1 on a free port with a
// temporary directory that goes away with it: a real OCI registry (Debian's
// docker-registry), a stand-in token service, and git's smart HTTP behind
// basic authentication. Standard library and POSIX only, so that unit and
// end-to-end tests can both use them.

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace lm::test {

class OciRegistryServer {
 public:
  struct Options {
    // Require basic authentication (htpasswd) as k_user / k_password.
    bool basic_auth = false;
    // Log every request (one line each, in log()), e.g. to count them.
    bool access_log = false;
    // Serve https with a certificate of its own for localhost (see
    // certificate()), which no system trusts.
    bool tls = false;
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
  // "127.0.0.1:PORT"; "localhost:PORT" with TLS, the name in its certificate.
  std::string host() const { return (m_tls ? "localhost:" : "127.0.0.1:") + std::to_string(m_port); }
  // The certificate it serves with TLS (PEM), its own authority.
  std::filesystem::path certificate() const { return m_dir / "cert.pem"; }
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
  bool m_tls = false;
  pid_t m_pid = -1;
};

// A Python script from tests/support serving on 127.0.0.1: started with
// PORT_FILE and `args`, it writes the port it listens on into PORT_FILE.
// Stopped, and its directory removed, when this goes.
class ScriptServer {
 public:
  ScriptServer(const std::string& script, const std::vector<std::string>& args);
  ~ScriptServer();
  ScriptServer(const ScriptServer&) = delete;
  ScriptServer& operator=(const ScriptServer&) = delete;

  std::uint16_t port() const { return m_port; }
  std::string host() const { return "127.0.0.1:" + std::to_string(m_port); }
  // A directory of its own, for what the script serves.
  const std::filesystem::path& dir() const { return m_dir; }
  // The body of GET `path`.
  std::string get(const std::string& path) const;

 private:
  std::filesystem::path m_dir;
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

  std::string host() const { return m_server.host(); }
  // The scopes of the tokens it has handed out, one a line.
  std::string issued() const { return m_server.get("/log"); }

 private:
  ScriptServer m_server;
};

// git's smart HTTP protocol as a git host serves it over https, without the
// TLS (tests/support/git_http_server.py in front of the real `git
// http-backend`): every request needs basic authentication as k_user /
// k_password. Serves the bare repositories under dir(), push included.
class GitHttpServer {
 public:
  static constexpr const char* k_user = "ada";
  static constexpr const char* k_password = "git-pa55-not-in-messages";

  // With `tls`, https with a certificate of its own for localhost, which
  // a client trusts through http.sslCAInfo or GIT_SSL_CAINFO.
  explicit GitHttpServer(bool tls = false);

  // 127.0.0.1:PORT; localhost:PORT over TLS, the name its certificate
  // holds (libgit2's TLS, mbedTLS, does not match IP addresses).
  std::string host() const { return (m_scheme == "https" ? "localhost:" : "127.0.0.1:") + std::to_string(m_server.port()); }
  // http[s]://HOST/<repo>, for a bare repository created in dir().
  std::string url(const std::string& repo) const { return m_scheme + "://" + host() + "/" + repo; }
  std::filesystem::path certificate() const { return m_server.dir() / "cert.pem"; }
  const std::filesystem::path& dir() const { return m_server.dir(); }
  // One line per request: "METHOD PATH none|wrong|good", by its credentials.
  // Plain http only.
  std::string requests() const { return m_server.get("/log"); }

 private:
  std::string m_scheme;
  ScriptServer m_server;
};

// OpenSSH's sshd (Debian's openssh-server) on 127.0.0.1, letting in the
// user running the tests with one key of its own, so that ssh:// remotes
// run git as on a git host. Throws std::runtime_error when sshd is missing
// or does not come up.
class SshServer {
 public:
  SshServer();
  ~SshServer();
  SshServer(const SshServer&) = delete;
  SshServer& operator=(const SshServer&) = delete;

  std::uint16_t port() const { return m_port; }
  const std::string& user() const { return m_user; }
  // Where bare repositories for the tests go.
  std::filesystem::path repositories() const { return m_dir / "repos"; }
  // ssh://USER@127.0.0.1:PORT/<absolute path of repositories()/repo>
  std::string url(const std::string& repo) const;
  // Gives `home` what a client of this server has: the key it accepts as
  // ~/.ssh/id_ed25519 (when `with_key`) and its host key in
  // ~/.ssh/known_hosts (when `with_host_key`).
  void set_up_client(const std::filesystem::path& home, bool with_key = true, bool with_host_key = true) const;
  std::string log() const;

 private:
  bool start();

  std::filesystem::path m_dir;
  std::string m_user;
  std::uint16_t m_port = 0;
  pid_t m_pid = -1;
};

}  // namespace lm::test
