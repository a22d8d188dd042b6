#include "registry/core/oci_auth.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>

#include "registry/core/error.hpp"
#include "registry/core/files.hpp"
#include "registry/core/json.hpp"
#include "registry/core/process.hpp"

namespace lm::oci {

namespace {

namespace fs = std::filesystem;

constexpr const char* k_token_var = "LASTMILE_OCI_TOKEN";
constexpr const char* k_username_var = "LASTMILE_OCI_USERNAME";
constexpr const char* k_password_var = "LASTMILE_OCI_PASSWORD";
// What a docker credential helper prints when it has nothing for a server.
constexpr std::string_view k_helper_not_found = "credentials not found in native keychain";

std::string env(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}

std::string lowercase(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string trim(std::string_view text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return {};
  const auto last = text.find_last_not_of(" \t\r\n");
  return std::string(text.substr(first, last - first + 1));
}

std::optional<Credentials> from_environment() {
  if (std::string token = env(k_token_var); !token.empty()) {
    return Credentials{k_token_var, "", "", "", std::move(token)};
  }
  std::string user = env(k_username_var);
  std::string password = env(k_password_var);
  if (user.empty() && password.empty()) return std::nullopt;
  if (user.empty() || password.empty()) {
    throw Error(ExitCode::config,
                std::string(user.empty() ? k_password_var : k_username_var) + " is set but " +
                    (user.empty() ? k_username_var : k_password_var) + " is not",
                std::string("set both, or neither to use Docker's credentials"));
  }
  return Credentials{k_username_var, std::move(user), std::move(password), "", ""};
}

std::optional<fs::path> docker_config_path() {
  if (const std::string dir = env("DOCKER_CONFIG"); !dir.empty())
    return fs::path(dir) / "config.json";
  if (const std::string home = env("HOME"); !home.empty()) {
    return fs::path(home) / ".docker" / "config.json";
  }
  return std::nullopt;
}

// The path as a message shows it: under $HOME as "~/...".
std::string shown_path(const fs::path& path) {
  const std::string home = env("HOME");
  const std::string text = path.string();
  if (!home.empty() && text.rfind(home + "/", 0) == 0) return "~" + text.substr(home.size());
  return text;
}

// Docker Hub answers to several names; docker stores its credentials under
// its old index URL.
bool is_docker_hub(std::string_view host) {
  return host == "docker.io" || host == "registry-1.docker.io" || host == "index.docker.io";
}

// The host an auths key stands for: keys may be "host", "https://host" or
// "https://host/v1/".
std::string key_host(std::string_view key) {
  for (std::string_view scheme : {"https://", "http://"}) {
    if (key.substr(0, scheme.size()) == scheme) key.remove_prefix(scheme.size());
  }
  std::string host = lowercase(key.substr(0, key.find('/')));
  return is_docker_hub(host) ? "index.docker.io" : host;
}

const Json* entry_for(const Json& config, const char* section, const std::string& host) {
  const auto it = config.find(section);
  if (it == config.end() || !it->is_object()) return nullptr;
  for (const auto& [key, value] : it->items()) {
    if (key_host(key) == host) return &value;
  }
  return nullptr;
}

std::string string_field(const Json& object, const char* name) {
  const auto it = object.find(name);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::optional<Credentials> from_auths_entry(const Json& entry, const std::string& source) {
  if (!entry.is_object()) return std::nullopt;
  Credentials c{source, string_field(entry, "username"), string_field(entry, "password"),
                string_field(entry, "identitytoken"), ""};
  if (const std::string auth = string_field(entry, "auth"); !auth.empty()) {
    const auto decoded = base64_decode(auth);
    const auto colon = decoded ? decoded->find(':') : std::string::npos;
    if (colon == std::string::npos) {
      throw Error(ExitCode::config,
                  "the 'auth' entry in " + quote(source) + " is not base64 of 'user:password'",
                  "log in again with 'docker login'");
    }
    c.username = decoded->substr(0, colon);
    c.password = decoded->substr(colon + 1);
  }
  if (c.identity_token.empty() && (c.username.empty() || c.password.empty())) return std::nullopt;
  return c;
}

// Runs "docker-credential-NAME get" as docker does: the server on stdin,
// {"Username", "Secret"} JSON on stdout.
std::optional<Credentials> from_helper(const std::string& name, const std::string& host,
                                       const std::string& config_source) {
  const std::string program = "docker-credential-" + name;
  const std::string source = program + " (named in " + config_source + ")";
  if (name.empty() || name.find('/') != std::string::npos) {
    throw Error(ExitCode::config,
                "invalid credential helper name " + quote(name) + " in " + quote(config_source));
  }
  ProcessRequest request;
  request.argv = {program, "get"};
  request.input = is_docker_hub(host) ? "https://index.docker.io/v1/" : host;
  request.discard_stderr = true;
  request.timeout = std::chrono::seconds(60);
  const ProcessResult result = run_process(request);
  if (!result.started)
    throw Error(ExitCode::config,
                "cannot get credentials from " + source + ": " + result.start_error);
  const std::string output = trim(result.output);
  if (!result.succeeded()) {
    if (output == k_helper_not_found) return std::nullopt;
    throw Error(ExitCode::config,
                "cannot get credentials for " + host + " from " + source + ": " +
                    printable(output.substr(0, output.find('\n')).substr(0, 200)));
  }
  const Json reply = Json::parse(output, nullptr, false);
  if (!reply.is_object()) {
    throw Error(ExitCode::config, source + " answered something other than JSON credentials");
  }
  const std::string user = string_field(reply, "Username");
  std::string secret = string_field(reply, "Secret");
  if (secret.empty()) return std::nullopt;
  // docker's convention for an identity token stored by a helper
  if (user == "<token>") return Credentials{source, "", "", std::move(secret), ""};
  return Credentials{source, user, std::move(secret), "", ""};
}

Json read_docker_config(const fs::path& path) {
  std::string text;
  try {
    text = read_file(path);
  } catch (const Error& e) {
    if (e.code() == ExitCode::not_found) return Json::object();
    throw;
  }
  Json config = Json::parse(text, nullptr, false);
  if (!config.is_object()) {
    throw Error(ExitCode::config, "cannot read credentials from " + quote(shown_path(path)) +
                                      ": it is not a JSON object");
  }
  return config;
}

std::optional<Credentials> from_docker_config(const std::string& host) {
  const auto path = docker_config_path();
  if (!path) return std::nullopt;
  const Json config = read_docker_config(*path);
  const std::string source = shown_path(*path);
  const std::string key = key_host(host);
  if (const Json* helper = entry_for(config, "credHelpers", key); helper && helper->is_string()) {
    return from_helper(helper->get<std::string>(), host, source);
  }
  if (const Json* entry = entry_for(config, "auths", key)) {
    if (auto found = from_auths_entry(*entry, source)) return found;
  }
  if (const std::string store = string_field(config, "credsStore"); !store.empty()) {
    return from_helper(store, host, source);
  }
  return std::nullopt;
}

bool is_token_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// Reads challenges from one header value.
class ChallengeParser {
 public:
  explicit ChallengeParser(std::string_view text) : m_text(text) {}

  void parse_into(std::vector<Challenge>& out) {
    skip_separators();
    std::string name = token();
    while (!name.empty()) {
      Challenge challenge{lowercase(name), {}};
      name.clear();
      for (;;) {
        skip_separators();
        std::string word = token();
        if (word.empty()) break;
        skip_spaces();
        if (!consume('=')) {  // a new challenge's scheme
          name = std::move(word);
          break;
        }
        skip_spaces();
        const auto value = peek() == '"' ? quoted() : std::optional<std::string>(token());
        if (!value) break;
        challenge.params[lowercase(word)] = *value;
      }
      out.push_back(std::move(challenge));
    }
  }

 private:
  char peek() const { return m_pos < m_text.size() ? m_text[m_pos] : '\0'; }
  bool consume(char c) {
    if (peek() != c) return false;
    ++m_pos;
    return true;
  }
  void skip_spaces() {
    while (peek() == ' ' || peek() == '\t') ++m_pos;
  }
  void skip_separators() {
    while (peek() == ' ' || peek() == '\t' || peek() == ',') ++m_pos;
  }
  std::string token() {
    const std::size_t start = m_pos;
    while (m_pos < m_text.size() && is_token_char(m_text[m_pos])) ++m_pos;
    return std::string(m_text.substr(start, m_pos - start));
  }
  std::optional<std::string> quoted() {
    ++m_pos;  // the opening quote
    std::string out;
    while (m_pos < m_text.size()) {
      const char c = m_text[m_pos++];
      if (c == '"') return out;
      if (c == '\\' && m_pos < m_text.size()) {
        out += m_text[m_pos++];
      } else {
        out += c;
      }
    }
    return std::nullopt;  // unterminated
  }

  std::string_view m_text;
  std::size_t m_pos = 0;
};

constexpr std::string_view k_base64 =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

}  // namespace

std::optional<Credentials> find_credentials(const std::string& host) {
  if (auto found = from_environment()) return found;
  return from_docker_config(lowercase(host));
}

std::string credential_sources() {
  const auto path = docker_config_path();
  return std::string(k_token_var) + ", " + k_username_var + " with " + k_password_var +
         (path ? ", then " + shown_path(*path) + " (as 'docker login' writes it)" : "");
}

std::vector<Challenge> parse_challenges(const std::vector<std::string>& headers) {
  std::vector<Challenge> out;
  for (const auto& header : headers) ChallengeParser(header).parse_into(out);
  return out;
}

std::string base64_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (std::size_t i = 0; i < bytes.size(); i += 3) {
    std::uint32_t n = static_cast<unsigned char>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) n |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    if (i + 2 < bytes.size()) n |= static_cast<unsigned char>(bytes[i + 2]);
    out += k_base64[(n >> 18) & 63];
    out += k_base64[(n >> 12) & 63];
    out += i + 1 < bytes.size() ? k_base64[(n >> 6) & 63] : '=';
    out += i + 2 < bytes.size() ? k_base64[n & 63] : '=';
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  while (!text.empty() && text.back() == '=') text.remove_suffix(1);
  if (text.size() % 4 == 1) return std::nullopt;
  std::string out;
  std::uint32_t bits = 0;
  int count = 0;
  for (char c : text) {
    const auto value = k_base64.find(c);
    if (value == std::string_view::npos) return std::nullopt;
    bits = (bits << 6) | static_cast<std::uint32_t>(value);
    count += 6;
    if (count >= 8) {
      count -= 8;
      out += static_cast<char>((bits >> count) & 0xff);
    }
  }
  return out;
}

}  // namespace lm::oci
