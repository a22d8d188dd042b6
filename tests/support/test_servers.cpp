#include "tests/support/test_servers.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

namespace lm::test {

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr const char* k_binary = "/usr/bin/docker-registry";
// bcrypt (cost 4, the cheapest) of OciRegistryServer::k_password.
constexpr const char* k_password_hash =
    "$2b$04$bKvKfxOxcFeZgYkCjTDz0O2ElKft7O3LMac/j98j59/kdYj5PDciW";
constexpr auto k_start_timeout = 10s;

// A port nothing listens on now. Another process may take it before the
// registry binds it; the caller then tries again.
std::uint16_t free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket() failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  ::close(fd);
  if (!ok) throw std::runtime_error("cannot find a free port on 127.0.0.1");
  return ntohs(addr.sin_port);
}

std::string config_text(const fs::path& storage, std::uint16_t port, const fs::path& htpasswd,
                        bool access_log, const fs::path& tls_dir) {
  std::ostringstream out;
  out << "version: 0.1\n"
      << "log:\n  level: error\n  accesslog:\n    disabled: " << (access_log ? "false" : "true")
      << "\n"
      << "storage:\n  filesystem:\n    rootdirectory: " << storage.string() << "\n"
      << "  delete:\n    enabled: true\n"
      << "  maintenance:\n    uploadpurging:\n      enabled: false\n"
      << "http:\n  addr: 127.0.0.1:" << port << "\n  secret: lastmile-test\n";
  if (!tls_dir.empty()) {
    out << "  tls:\n    certificate: " << (tls_dir / "cert.pem").string() << "\n    key: "
        << (tls_dir / "key.pem").string() << "\n";
  }
  if (!htpasswd.empty()) {
    out << "auth:\n  htpasswd:\n    realm: lastmile-test\n    path: " << htpasswd.string() << "\n";
  }
  return out.str();
}

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

// The whole answer to "GET <path> HTTP/1.0" on 127.0.0.1:port, or "" when
// nothing answers.
std::string http_get(std::uint16_t port, const std::string& path) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return {};
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  const timeval limit{2, 0};  // a listener that never answers must not hang a test
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  std::string reply;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    const std::string request = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
        static_cast<ssize_t>(request.size())) {
      char buf[4096];
      ssize_t n;
      while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0)
        reply.append(buf, static_cast<std::size_t>(n));
    }
  }
  ::close(fd);
  return reply;
}

// True once GET /v2/ gets an HTTP answer (200, or 401 with authentication).
bool answers(std::uint16_t port) {
  const std::string reply = http_get(port, "/v2/");
  return reply.rfind("HTTP/1.", 0) == 0 &&
         (reply.find(" 200 ") != std::string::npos || reply.find(" 401 ") != std::string::npos);
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

fs::path make_temp_dir() {
  std::string pattern = "/tmp/lastmile-test-server.XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  return pattern;
}

// Starts `argv` with stdout and stderr into `log`. The child asks to get
// SIGTERM when the test process dies, so that a crashed test leaves no
// registry behind.
pid_t spawn(const std::vector<std::string>& argv, const fs::path& log) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (out < 0) throw std::runtime_error("cannot create " + log.string());
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) {
    // only async-signal-safe calls between fork and exec
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(127);
    const int null = ::open("/dev/null", O_RDONLY);
    ::dup2(null, 0);
    ::dup2(out, 1);
    ::dup2(out, 2);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ::close(out);
  if (pid < 0) throw std::runtime_error("fork() failed");
  return pid;
}

void stop(pid_t pid) {
  ::kill(pid, SIGTERM);
  for (int i = 0; i < 200; ++i) {
    if (::waitpid(pid, nullptr, WNOHANG) == pid) return;
    std::this_thread::sleep_for(10ms);
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
}

// Starts a server and waits until `ready`; -1 when it exits first (the port
// was taken meanwhile, say) or is not ready in time.
pid_t start_until_ready(const std::vector<std::string>& argv, const fs::path& log,
                        const std::function<bool()>& ready) {
  const pid_t pid = spawn(argv, log);
  const auto deadline = std::chrono::steady_clock::now() + k_start_timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (ready()) return pid;
    if (::waitpid(pid, nullptr, WNOHANG) == pid) return -1;
    std::this_thread::sleep_for(10ms);
  }
  stop(pid);
  return -1;
}

// Runs `argv` to its end; true when it exits 0.
bool run_to_end(const std::vector<std::string>& argv, const fs::path& log) {
  int status = 0;
  return ::waitpid(spawn(argv, log), &status, 0) > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

bool accepts_connections(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

OciRegistryServer::OciRegistryServer(Options options) {
  if (::access(k_binary, X_OK) != 0) {
    throw std::runtime_error(std::string(k_binary) +
                             " is missing: the OCI tests need Debian's docker-registry package");
  }
  m_dir = make_temp_dir();
  m_storage = m_dir / "storage";
  m_tls = options.tls;
  if (m_tls && !run_to_end({"/usr/bin/openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                            "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                            "-keyout", (m_dir / "key.pem").string(), "-out", certificate().string()},
                           m_dir / "openssl.log")) {
    throw std::runtime_error("openssl could not make a certificate: " + read_text(m_dir / "openssl.log"));
  }
  for (int attempt = 0; attempt < 5; ++attempt) {
    if (start(options)) return;
  }
  const std::string why = log();
  std::error_code ec;
  fs::remove_all(m_dir, ec);
  throw std::runtime_error("docker-registry did not start: " + why);
}

OciRegistryServer::~OciRegistryServer() {
  if (m_pid > 0) stop(m_pid);
  std::error_code ec;
  fs::remove_all(m_dir, ec);
}

bool OciRegistryServer::start(const Options& options) {
  m_port = free_port();
  fs::path htpasswd;
  if (options.basic_auth) {
    htpasswd = m_dir / "htpasswd";
    write_text(htpasswd, std::string(k_user) + ":" + k_password_hash + "\n");
  }
  const fs::path config = m_dir / "config.yml";
  write_text(config, config_text(m_storage, m_port, htpasswd, options.access_log, m_tls ? m_dir : fs::path()));
  // Over TLS a plain GET gets no answer worth reading: a connection will do.
  m_pid = start_until_ready({k_binary, "serve", config.string()}, m_dir / "registry.log",
                            [this] { return m_tls ? accepts_connections(m_port) : answers(m_port); });
  return m_pid > 0;
}

fs::path OciRegistryServer::blob_data(std::string_view digest) const {
  const std::string hex(digest.substr(digest.find(':') + 1));
  return m_storage / "docker/registry/v2/blobs/sha256" / hex.substr(0, 2) / hex / "data";
}

std::string OciRegistryServer::log() const { return read_text(m_dir / "registry.log"); }

ScriptServer::ScriptServer(const std::string& script, const std::vector<std::string>& args)
    : m_dir(make_temp_dir()) {
  const fs::path port_file = m_dir / "port";
  std::vector<std::string> argv = {"/usr/bin/python3", "-B", std::string(LASTMILE_TEST_SUPPORT_DIR) + "/" + script,
                                   port_file.string()};
  argv.insert(argv.end(), args.begin(), args.end());
  m_pid = spawn(argv, m_dir / "server.log");
  const auto deadline = std::chrono::steady_clock::now() + k_start_timeout;
  while (!fs::exists(port_file) && std::chrono::steady_clock::now() < deadline &&
         ::waitpid(m_pid, nullptr, WNOHANG) == 0) {
    std::this_thread::sleep_for(10ms);
  }
  if (!fs::exists(port_file)) {
    const std::string why = read_text(m_dir / "server.log");
    stop(m_pid);
    std::error_code ec;
    fs::remove_all(m_dir, ec);
    throw std::runtime_error(script + " did not start: " + why);
  }
  m_port = static_cast<std::uint16_t>(std::stoi(read_text(port_file)));
}

ScriptServer::~ScriptServer() {
  stop(m_pid);
  std::error_code ec;
  fs::remove_all(m_dir, ec);
}

std::string ScriptServer::get(const std::string& path) const {
  const std::string reply = http_get(m_port, path);
  const auto body = reply.find("\r\n\r\n");
  return body == std::string::npos ? std::string() : reply.substr(body + 4);
}

FakeTokenRegistry::FakeTokenRegistry()
    : m_server("fake_token_registry.py", {k_user, k_password, k_refresh_token}) {}

GitHttpServer::GitHttpServer(bool tls)
    : m_scheme(tls ? "https" : "http"),
      m_server("git_http_server.py", tls ? std::vector<std::string>{k_user, k_password, "tls"}
                                         : std::vector<std::string>{k_user, k_password}) {}


SshServer::SshServer() : m_dir(make_temp_dir()) {
  if (::access("/usr/sbin/sshd", X_OK) != 0) {
    throw std::runtime_error("/usr/sbin/sshd is missing: the ssh tests need Debian's openssh-server package");
  }
  const passwd* pw = ::getpwuid(::getuid());
  if (pw == nullptr) throw std::runtime_error("the user running the tests has no name");
  m_user = pw->pw_name;
  // sshd running as root wants its privilege separation directory.
  if (::getuid() == 0 && fs::create_directories("/run/sshd")) {
    fs::permissions("/run/sshd", fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                                     fs::perms::others_read | fs::perms::others_exec);
  }
  fs::create_directories(repositories());
  for (const char* key : {"host_key", "client_key"}) {
    if (!run_to_end({"/usr/bin/ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "lastmile-test", "-f",
                     (m_dir / key).string()},
                    m_dir / "keygen.log")) {
      throw std::runtime_error("ssh-keygen failed: " + read_text(m_dir / "keygen.log"));
    }
  }
  fs::copy_file(m_dir / "client_key.pub", m_dir / "authorized_keys");
  for (int attempt = 0; attempt < 5; ++attempt) {
    if (start()) return;
  }
  const std::string why = log();
  std::error_code ec;
  fs::remove_all(m_dir, ec);
  throw std::runtime_error("sshd did not start: " + why);
}

bool SshServer::start() {
  m_port = free_port();
  std::ostringstream config;
  config << "Port " << m_port << "\nListenAddress 127.0.0.1\nHostKey " << (m_dir / "host_key").string()
         << "\nPidFile none\nAuthorizedKeysFile " << (m_dir / "authorized_keys").string()
         << "\nStrictModes no\nUsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
            "PermitRootLogin prohibit-password\nAllowUsers "
         << m_user << "\n";
  write_text(m_dir / "sshd_config", config.str());
  m_pid = start_until_ready({"/usr/sbin/sshd", "-D", "-e", "-f", (m_dir / "sshd_config").string()},
                            m_dir / "sshd.log", [this] { return accepts_connections(m_port); });
  return m_pid > 0;
}

SshServer::~SshServer() {
  if (m_pid > 0) stop(m_pid);
  std::error_code ec;
  fs::remove_all(m_dir, ec);
}

std::string SshServer::url(const std::string& repo) const {
  return "ssh://" + m_user + "@127.0.0.1:" + std::to_string(m_port) + (repositories() / repo).string();
}

void SshServer::set_up_client(const fs::path& home, bool with_key, bool with_host_key) const {
  const fs::path ssh = home / ".ssh";
  fs::create_directories(ssh);
  if (with_key) {
    fs::copy_file(m_dir / "client_key", ssh / "id_ed25519", fs::copy_options::overwrite_existing);
    fs::copy_file(m_dir / "client_key.pub", ssh / "id_ed25519.pub", fs::copy_options::overwrite_existing);
  }
  if (with_host_key) {
    write_text(ssh / "known_hosts", "[127.0.0.1]:" + std::to_string(m_port) + " " + read_text(m_dir / "host_key.pub"));
  }
}

std::string SshServer::log() const { return read_text(m_dir / "sshd.log"); }

}  // namespace lm::test
