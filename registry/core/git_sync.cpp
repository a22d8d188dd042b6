#include "registry/core/git_sync.hpp"

#include <git2.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <random>

#include "registry/core/error.hpp"
#include "registry/core/git.hpp"
#include "registry/core/git_repo.hpp"
#include "registry/core/process.hpp"

namespace lm::git {

namespace {

using detail::ensure_libgit2;
using detail::RepoPtr;

struct RemoteFree {
  void operator()(git_remote* p) const noexcept { git_remote_free(p); }
};
using RemotePtr = std::unique_ptr<git_remote, RemoteFree>;
struct CommitFree {
  void operator()(git_commit* p) const noexcept { git_commit_free(p); }
};
using CommitPtr = std::unique_ptr<git_commit, CommitFree>;
struct TreeFree {
  void operator()(git_tree* p) const noexcept { git_tree_free(p); }
};
using TreePtr = std::unique_ptr<git_tree, TreeFree>;
struct EntryFree {
  void operator()(git_tree_entry* p) const noexcept { git_tree_entry_free(p); }
};
struct BlobFree {
  void operator()(git_blob* p) const noexcept { git_blob_free(p); }
};
struct SignatureFree {
  void operator()(git_signature* p) const noexcept { git_signature_free(p); }
};
struct IteratorFree {
  void operator()(git_reference_iterator* p) const noexcept { git_reference_iterator_free(p); }
};
struct TreeBuilderFree {
  void operator()(git_treebuilder* p) const noexcept { git_treebuilder_free(p); }
};

std::string last_git_error() {
  const git_error* e = git_error_last();
  return e != nullptr && e->message != nullptr ? e->message : "unknown libgit2 error";
}

// A libgit2 failure on the registry's own repository: the disk, not the user.
void check(int rc, const std::string& what) {
  if (rc < 0) throw Error(ExitCode::io, what + ": " + last_git_error());
}

std::string hex(const git_oid& oid) {
  char buf[GIT_OID_HEXSZ + 1];
  git_oid_tostr(buf, sizeof buf, &oid);
  return buf;
}

git_oid parse_oid(const std::string& text) {
  git_oid oid;
  if (git_oid_fromstr(&oid, text.c_str()) != 0) {
    throw Error(ExitCode::internal, "not a git object id: " + quote(text));
  }
  return oid;
}

CommitPtr lookup_commit(git_repository* repo, const std::string& id) {
  const git_oid oid = parse_oid(id);
  git_commit* raw = nullptr;
  check(git_commit_lookup(&raw, repo, &oid), "cannot read commit " + id);
  return CommitPtr(raw);
}

TreePtr empty_tree(git_repository* repo) {
  git_treebuilder* raw_builder = nullptr;
  check(git_treebuilder_new(&raw_builder, repo, nullptr), "cannot build a tree");
  std::unique_ptr<git_treebuilder, TreeBuilderFree> builder(raw_builder);
  git_oid oid;
  check(git_treebuilder_write(&oid, builder.get()), "cannot write a tree");
  git_tree* tree = nullptr;
  check(git_tree_lookup(&tree, repo, &oid), "cannot read a tree");
  return TreePtr(tree);
}

// --- Credentials --------------------------------------------------------

struct UrlParts {
  std::string protocol, host, path, user;
};

// scheme://[user@]host[:port]/path, as git credential wants it.
UrlParts split_url(const std::string& url) {
  UrlParts parts;
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return parts;
  parts.protocol = url.substr(0, scheme_end);
  std::string rest = url.substr(scheme_end + 3);
  const auto slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  parts.path = slash == std::string::npos ? "" : rest.substr(slash + 1);
  if (const auto at = authority.rfind('@'); at != std::string::npos) {
    parts.user = authority.substr(0, authority.find(':') < at ? authority.find(':') : at);
    authority = authority.substr(at + 1);
  }
  parts.host = authority;
  return parts;
}

// The command that records an ssh server's host key: ssh-keyscan [-p PORT]
// HOST, from ssh://[user@]host[:port]/path or scp-like [user@]host:path.
std::string keyscan_command(const std::string& url) {
  std::string host = split_url(url).host;
  if (url.find("://") == std::string::npos) {
    host = url.substr(0, url.find(':'));
    host = host.substr(host.find('@') + 1);
  }
  std::string port;
  if (const auto colon = host.rfind(':'); colon != std::string::npos && host.find(']') == std::string::npos) {
    port = host.substr(colon + 1);
    host = host.substr(0, colon);
  }
  return "ssh-keyscan " + (port.empty() ? "" : "-p " + port + " ") + host + " >> ~/.ssh/known_hosts";
}

// scheme://user:password@host/...: a secret in the URL itself.
bool url_has_password(const std::string& url) {
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return false;
  const std::string authority = url.substr(scheme_end + 3, url.find('/', scheme_end + 3) - scheme_end - 3);
  const auto at = authority.rfind('@');
  return at != std::string::npos && authority.find(':') < at;
}

// Asks git's credential helpers (credential.helper in git configuration),
// as git itself does for https; never prompts (GIT_TERMINAL_PROMPT=0).
std::optional<std::pair<std::string, std::string>> credential_fill(const std::string& url,
                                                                   const char* user) {
  const UrlParts parts = split_url(url);
  if (parts.protocol.empty()) return std::nullopt;
  ProcessRequest request;
  request.argv = {"git", "credential", "fill"};
  request.env = {{"GIT_TERMINAL_PROMPT", "0"}, {"GIT_ASKPASS", ""}, {"SSH_ASKPASS", ""}};
  request.input = "protocol=" + parts.protocol + "\nhost=" + parts.host + "\npath=" + parts.path + "\n";
  if (user != nullptr && *user != '\0') request.input += std::string("username=") + user + "\n";
  request.input += "\n";
  request.discard_stderr = true;
  request.timeout = std::chrono::seconds(60);
  const ProcessResult result = run_process(request);
  if (!result.succeeded()) return std::nullopt;
  std::string username, password;
  std::size_t pos = 0;
  while (pos < result.output.size()) {
    const auto end = result.output.find('\n', pos);
    const std::string line = result.output.substr(pos, end == std::string::npos ? end : end - pos);
    if (line.rfind("username=", 0) == 0) username = line.substr(9);
    if (line.rfind("password=", 0) == 0) password = line.substr(9);
    if (end == std::string::npos) break;
    pos = end + 1;
  }
  if (password.empty()) return std::nullopt;
  return std::make_pair(username, password);
}

// The certificate authorities https remotes are checked against: the
// system's, unless git is told otherwise, as git itself is told
// (GIT_SSL_CAINFO / GIT_SSL_CAPATH, else http.sslCAInfo / http.sslCAPath).
// libgit2 keeps one setting per process, so it is made once.
void use_configured_certificate_authorities() {
  static const bool done = [] {
    const auto setting = [](const char* variable, const char* key) -> std::optional<std::string> {
      if (const char* value = std::getenv(variable); value != nullptr && *value != '\0') return value;
      return configured_path(std::filesystem::current_path(), key);
    };
    const auto file = setting("GIT_SSL_CAINFO", "http.sslcainfo");
    const auto dir = setting("GIT_SSL_CAPATH", "http.sslcapath");
    if (file || dir) {
      if (git_libgit2_opts(GIT_OPT_SET_SSL_CERT_LOCATIONS, file ? file->c_str() : nullptr,
                           dir ? dir->c_str() : nullptr) < 0) {
        throw Error(ExitCode::config, "cannot use the certificate authorities " + quote(file.value_or(*dir)) +
                                          " (http.sslCAInfo / GIT_SSL_CAINFO): " + last_git_error());
      }
    }
    return true;
  }();
  (void)done;
}

struct CredentialState {
  bool url_has_password = false;  // the remote's URL carries user:password
  int ssh_attempts = 0;
  bool userpass_tried = false;
  std::string helper_user;        // whom the credential helper gave, once it did
  bool default_tried = false;
  // Why lastmile gave up answering the remote's request for credentials;
  // libgit2 reports GIT_EAUTH without a message of its own.
  std::string refusal;
};

// The keys ssh itself tries, when no agent answers.
std::vector<std::string> default_ssh_keys() {
  std::vector<std::string> keys;
  const char* home = std::getenv("HOME");
  if (home == nullptr) return keys;
  for (const char* name : {"id_ed25519", "id_ecdsa", "id_rsa"}) {
    const std::string path = std::string(home) + "/.ssh/" + name;
    if (::access(path.c_str(), R_OK) == 0) keys.push_back(path);
  }
  return keys;
}

int acquire_credentials(git_credential** out, const char* url, const char* user_from_url,
                        unsigned int allowed, void* payload) {
  auto& state = *static_cast<CredentialState*>(payload);
  const char* user = user_from_url != nullptr && *user_from_url != '\0' ? user_from_url : "git";
  if ((allowed & GIT_CREDENTIAL_SSH_KEY) != 0) {
    const int attempt = state.ssh_attempts++;
    const bool agent = std::getenv("SSH_AUTH_SOCK") != nullptr;
    if (attempt == 0 && agent) return git_credential_ssh_key_from_agent(out, user);
    const auto keys = default_ssh_keys();
    const std::size_t index = static_cast<std::size_t>(attempt) - (agent ? 1 : 0);
    if (index < keys.size()) {
      return git_credential_ssh_key_new(out, user, (keys[index] + ".pub").c_str(), keys[index].c_str(), "");
    }
    std::string tried = agent ? "ssh-agent" : "";
    for (const auto& key : keys) tried += (tried.empty() ? "" : ", ") + key;
    state.refusal = "it accepts none of the ssh keys lastmile has for " + quote(user) + " (" +
                    (tried.empty() ? "no ssh-agent and no key in ~/.ssh" : "tried " + tried) + ")";
    return GIT_EAUTH;
  }
  if ((allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT) != 0) {
    const std::string host = split_url(url).host;
    if (!state.userpass_tried) {
      state.userpass_tried = true;
      if (const auto creds = credential_fill(url, user_from_url)) {
        state.helper_user = creds->first;
        return git_credential_userpass_plaintext_new(out, creds->first.c_str(), creds->second.c_str());
      }
      state.refusal = std::string(state.url_has_password ? "it refused the user name and password in the URL"
                                                         : "it asks for a user name and password") +
                      ", and git's credential helpers have none for " + host;
      return GIT_EAUTH;
    }
    state.refusal = "it refused the user name and password git's credential helper gave for " + host + " (user " +
                    quote(state.helper_user) + ")";
    return GIT_EAUTH;
  }
  if ((allowed & GIT_CREDENTIAL_DEFAULT) != 0 && !state.default_tried) {
    state.default_tried = true;
    return git_credential_default_new(out);
  }
  state.refusal = "it asks for a kind of credentials lastmile cannot give";
  return GIT_EAUTH;
}

[[noreturn]] void throw_transfer_error(int rc, const std::string& label, const std::string& url,
                                       const std::string& doing, const CredentialState* credentials = nullptr) {
  const std::string where = "the log remote " + quote(label) + " (" + strip_credentials(url) + ")";
  const std::string protocol = split_url(url).protocol;
  const bool ssh = protocol == "ssh" || protocol.empty();  // empty: scp-like user@host:path
  if (rc == GIT_EAUTH) {
    const std::string why = credentials != nullptr && !credentials->refusal.empty() ? credentials->refusal
                                                                                     : last_git_error();
    throw Error(ExitCode::permission, where + " refused access while " + doing + ": " + why,
                ssh ? "load a key the server accepts into ssh-agent, or put it in ~/.ssh (id_ed25519, "
                      "id_ecdsa or id_rsa)"
                    : "set up a git credential helper ('git config credential.helper store') or put a "
                      "token in the URL");
  }
  if (rc == GIT_ECERTIFICATE) {
    // Not a network failure to retry: the server is not the one it claims.
    throw Error(ExitCode::permission,
                where + " could not be verified while " + doing + ": " +
                    (ssh ? "its ssh host key is not in ~/.ssh/known_hosts, or differs from the one there ("
                         : "its TLS certificate is not trusted (") +
                    last_git_error() + ")",
                ssh ? "check the key's fingerprint with the server's owner, then record it: " + keyscan_command(url)
                    : "add its certificate authority to the system's (update-ca-certificates), or name its "
                      "file in git's http.sslCAInfo or GIT_SSL_CAINFO");
  }
  throw Error(ExitCode::unavailable, "cannot reach " + where + " while " + doing + ": " + last_git_error(),
              "check the URL with 'lastmile remote list' and that 'git ls-remote URL' works");
}

git_remote_callbacks transfer_callbacks(CredentialState& state, const std::string& url) {
  use_configured_certificate_authorities();
  state.url_has_password = url_has_password(url);
  git_remote_callbacks callbacks = GIT_REMOTE_CALLBACKS_INIT;
  callbacks.credentials = acquire_credentials;
  callbacks.payload = &state;
  return callbacks;
}

RemotePtr anonymous_remote(git_repository* repo, const std::string& label, const std::string& url) {
  git_remote* raw = nullptr;
  const int rc = git_remote_create_anonymous(&raw, repo, url.c_str());
  if (rc < 0) {
    throw Error(ExitCode::config, "the log remote " + quote(label) + " has an invalid URL " +
                                      quote(strip_credentials(url)) + ": " + last_git_error());
  }
  return RemotePtr(raw);
}

struct PushState {
  CredentialState credentials;
  std::optional<std::string> expected;
  bool check_expected = false;
  bool moved = false;
  std::string refused;  // a status the remote gave for the update
};

// Before anything is sent: the remote's value of the reference must be the
// one the caller built on, else the caller has events it has not seen.
int check_negotiation(const git_push_update** updates, size_t count, void* payload) {
  auto& state = *static_cast<PushState*>(payload);
  if (!state.check_expected) return 0;
  for (size_t i = 0; i < count; ++i) {
    const std::string old_value = git_oid_is_zero(&updates[i]->src) ? "" : hex(updates[i]->src);
    if (old_value != state.expected.value_or("")) {
      state.moved = true;
      return GIT_EUSER;
    }
  }
  return 0;
}

int note_update_status(const char*, const char* status, void* payload) {
  if (status != nullptr) static_cast<PushState*>(payload)->refused = status;
  return 0;
}

int push_credentials(git_credential** out, const char* url, const char* user, unsigned int allowed,
                     void* payload) {
  return acquire_credentials(out, url, user, allowed, &static_cast<PushState*>(payload)->credentials);
}

// Statuses a remote gives when another push got there first.
bool means_remote_moved(const std::string& status) {
  for (const char* word : {"non-fast-forward", "fetch first", "lock", "stale", "failed to update"}) {
    if (status.find(word) != std::string::npos) return true;
  }
  return false;
}

}  // namespace

bool is_local_path_url(const std::string& url) {
  if (url.find("://") != std::string::npos) return false;
  const auto colon = url.find(':');
  if (colon == std::string::npos) return true;
  const auto slash = url.find('/');
  return slash != std::string::npos && slash < colon;
}

struct SyncRepository::Impl {
  RepoPtr repo;
};

SyncRepository::SyncRepository(std::unique_ptr<Impl> impl, std::filesystem::path dir)
    : m_impl(std::move(impl)), m_dir(std::move(dir)) {}
SyncRepository::~SyncRepository() = default;
SyncRepository::SyncRepository(SyncRepository&&) noexcept = default;
SyncRepository& SyncRepository::operator=(SyncRepository&&) noexcept = default;

SyncRepository SyncRepository::open_or_create(const std::filesystem::path& dir) {
  if (auto existing = open_existing(dir)) return std::move(*existing);
  ensure_libgit2();
  git_repository* raw = nullptr;
  check(git_repository_init(&raw, dir.c_str(), 1), "cannot create " + quote(dir.string()));
  auto impl = std::make_unique<Impl>();
  impl->repo.reset(raw);
  return SyncRepository(std::move(impl), dir);
}

std::optional<SyncRepository> SyncRepository::open_existing(const std::filesystem::path& dir) {
  ensure_libgit2();
  std::error_code ec;
  if (!std::filesystem::exists(dir / "HEAD", ec)) return std::nullopt;
  git_repository* raw = nullptr;
  check(git_repository_open_bare(&raw, dir.c_str()), "cannot open " + quote(dir.string()));
  auto impl = std::make_unique<Impl>();
  impl->repo.reset(raw);
  return SyncRepository(std::move(impl), dir);
}

std::optional<std::string> SyncRepository::reference(const std::string& name) const {
  git_oid oid;
  const int rc = git_reference_name_to_id(&oid, m_impl->repo.get(), name.c_str());
  if (rc == GIT_ENOTFOUND) return std::nullopt;
  check(rc, "cannot read " + name);
  return hex(oid);
}

void SyncRepository::set_reference(const std::string& name, const std::string& commit) {
  const git_oid oid = parse_oid(commit);
  git_reference* raw = nullptr;
  check(git_reference_create(&raw, m_impl->repo.get(), name.c_str(), &oid, 1, nullptr),
        "cannot set " + name);
  git_reference_free(raw);
}

std::vector<std::string> SyncRepository::references(const std::string& prefix) const {
  git_reference_iterator* raw = nullptr;
  check(git_reference_iterator_glob_new(&raw, m_impl->repo.get(), (prefix + "*").c_str()),
        "cannot list references");
  std::unique_ptr<git_reference_iterator, IteratorFree> iterator(raw);
  std::vector<std::string> names;
  const char* name = nullptr;
  while (git_reference_next_name(&name, iterator.get()) == 0) names.emplace_back(name);
  return names;
}

std::string SyncRepository::commit(const std::optional<std::string>& parent,
                                   const std::vector<FileWrite>& files, const std::string& message,
                                   const Signature& who) {
  git_repository* repo = m_impl->repo.get();
  CommitPtr parent_commit;
  TreePtr baseline;
  if (parent) {
    parent_commit = lookup_commit(repo, *parent);
    git_tree* raw = nullptr;
    check(git_commit_tree(&raw, parent_commit.get()), "cannot read the tree of " + *parent);
    baseline.reset(raw);
  } else {
    baseline = empty_tree(repo);
  }
  std::vector<git_tree_update> updates(files.size());
  for (std::size_t i = 0; i < files.size(); ++i) {
    check(git_blob_create_from_buffer(&updates[i].id, repo, files[i].content.data(),
                                      files[i].content.size()),
          "cannot write " + files[i].path);
    updates[i].action = GIT_TREE_UPDATE_UPSERT;
    updates[i].filemode = GIT_FILEMODE_BLOB;
    updates[i].path = files[i].path.c_str();
  }
  git_oid tree_oid;
  check(git_tree_create_updated(&tree_oid, repo, baseline.get(), updates.size(), updates.data()),
        "cannot write a tree");
  git_tree* raw_tree = nullptr;
  check(git_tree_lookup(&raw_tree, repo, &tree_oid), "cannot read a tree");
  TreePtr tree(raw_tree);
  git_signature* raw_sig = nullptr;
  check(git_signature_now(&raw_sig, who.name.c_str(), who.email.c_str()), "cannot sign a commit");
  std::unique_ptr<git_signature, SignatureFree> signature(raw_sig);
  const git_commit* parents[1] = {parent_commit.get()};
  git_oid commit_oid;
  check(git_commit_create(&commit_oid, repo, nullptr, signature.get(), signature.get(), "UTF-8",
                          message.c_str(), tree.get(), parent ? 1 : 0, parents),
        "cannot write a commit");
  return hex(commit_oid);
}

std::optional<std::string> SyncRepository::read_file(const std::string& commit,
                                                     const std::string& path) const {
  git_repository* repo = m_impl->repo.get();
  const CommitPtr c = lookup_commit(repo, commit);
  git_tree* raw_tree = nullptr;
  check(git_commit_tree(&raw_tree, c.get()), "cannot read the tree of " + commit);
  TreePtr tree(raw_tree);
  git_tree_entry* raw_entry = nullptr;
  const int rc = git_tree_entry_bypath(&raw_entry, tree.get(), path.c_str());
  if (rc == GIT_ENOTFOUND) return std::nullopt;
  check(rc, "cannot read " + path);
  std::unique_ptr<git_tree_entry, EntryFree> entry(raw_entry);
  if (git_tree_entry_type(entry.get()) != GIT_OBJECT_BLOB) return std::nullopt;
  git_blob* raw_blob = nullptr;
  check(git_blob_lookup(&raw_blob, repo, git_tree_entry_id(entry.get())), "cannot read " + path);
  std::unique_ptr<git_blob, BlobFree> blob(raw_blob);
  return std::string(static_cast<const char*>(git_blob_rawcontent(blob.get())),
                     static_cast<std::size_t>(git_blob_rawsize(blob.get())));
}

std::vector<FileWrite> SyncRepository::read_directory(const std::string& commit, const std::string& dir) const {
  git_repository* repo = m_impl->repo.get();
  const CommitPtr c = lookup_commit(repo, commit);
  git_tree* raw_tree = nullptr;
  check(git_commit_tree(&raw_tree, c.get()), "cannot read the tree of " + commit);
  TreePtr root(raw_tree);
  git_tree_entry* raw_entry = nullptr;
  std::vector<FileWrite> files;
  const int rc = git_tree_entry_bypath(&raw_entry, root.get(), dir.c_str());
  if (rc == GIT_ENOTFOUND) return files;
  check(rc, "cannot read " + dir);
  std::unique_ptr<git_tree_entry, EntryFree> entry(raw_entry);
  if (git_tree_entry_type(entry.get()) != GIT_OBJECT_TREE) return files;
  git_tree* raw_dir = nullptr;
  check(git_tree_lookup(&raw_dir, repo, git_tree_entry_id(entry.get())), "cannot read " + dir);
  TreePtr tree(raw_dir);
  for (size_t i = 0; i < git_tree_entrycount(tree.get()); ++i) {
    const git_tree_entry* e = git_tree_entry_byindex(tree.get(), i);
    if (git_tree_entry_type(e) != GIT_OBJECT_BLOB) continue;
    git_blob* raw_blob = nullptr;
    check(git_blob_lookup(&raw_blob, repo, git_tree_entry_id(e)), "cannot read " + dir);
    std::unique_ptr<git_blob, BlobFree> blob(raw_blob);
    files.push_back({git_tree_entry_name(e), std::string(static_cast<const char*>(git_blob_rawcontent(blob.get())),
                                                         static_cast<std::size_t>(git_blob_rawsize(blob.get())))});
  }
  return files;
}

std::string SyncRepository::message(const std::string& commit) const {
  const CommitPtr c = lookup_commit(m_impl->repo.get(), commit);
  const char* text = git_commit_message(c.get());
  return text != nullptr ? text : "";
}

std::optional<std::string> SyncRepository::parent(const std::string& commit) const {
  const CommitPtr c = lookup_commit(m_impl->repo.get(), commit);
  if (git_commit_parentcount(c.get()) == 0) return std::nullopt;
  return hex(*git_commit_parent_id(c.get(), 0));
}

std::optional<std::string> SyncRepository::fetch(const std::string& label, const std::string& url,
                                                 const std::string& remote_ref,
                                                 const std::string& local_ref) {
  git_repository* repo = m_impl->repo.get();
  RemotePtr remote = anonymous_remote(repo, label, url);
  CredentialState state;
  git_remote_callbacks callbacks = transfer_callbacks(state, url);
  int rc = git_remote_connect(remote.get(), GIT_DIRECTION_FETCH, &callbacks, nullptr, nullptr);
  if (rc < 0) throw_transfer_error(rc, label, url, "connecting", &state);
  const git_remote_head** heads = nullptr;
  size_t count = 0;
  if ((rc = git_remote_ls(&heads, &count, remote.get())) < 0) {
    throw_transfer_error(rc, label, url, "listing its references", &state);
  }
  std::optional<git_oid> tip;
  for (size_t i = 0; i < count; ++i) {
    if (remote_ref == heads[i]->name) tip = heads[i]->oid;
  }
  if (!tip) {
    git_reference_remove(repo, local_ref.c_str());
    return std::nullopt;
  }
  const std::string spec = "+" + remote_ref + ":" + local_ref;
  char* specs[] = {const_cast<char*>(spec.c_str())};
  const git_strarray refspecs = {specs, 1};
  git_fetch_options options = GIT_FETCH_OPTIONS_INIT;
  options.callbacks = callbacks;
  options.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
  if ((rc = git_remote_download(remote.get(), &refspecs, &options)) < 0) {
    throw_transfer_error(rc, label, url, "fetching " + remote_ref, &state);
  }
  git_remote_disconnect(remote.get());
  set_reference(local_ref, hex(*tip));
  return hex(*tip);
}

namespace {

struct OdbFree {
  void operator()(git_odb* p) const noexcept { git_odb_free(p); }
};
struct OdbObjectFree {
  void operator()(git_odb_object* p) const noexcept { git_odb_object_free(p); }
};
using OdbPtr = std::unique_ptr<git_odb, OdbFree>;

OdbPtr odb_of(git_repository* repo) {
  git_odb* raw = nullptr;
  check(git_repository_odb(&raw, repo), "cannot open a git object database");
  return OdbPtr(raw);
}

// Copies `oid` from one object database to the other unless it is there.
// Returns whether it was copied.
bool copy_object(git_odb* from, git_odb* to, const git_oid& oid) {
  if (git_odb_exists(to, &oid)) return false;
  git_odb_object* raw = nullptr;
  check(git_odb_read(&raw, from, &oid), "cannot read object " + hex(oid));
  std::unique_ptr<git_odb_object, OdbObjectFree> object(raw);
  git_oid written;
  check(git_odb_write(&written, to, git_odb_object_data(object.get()), git_odb_object_size(object.get()),
                      git_odb_object_type(object.get())),
        "cannot write object " + hex(oid));
  return true;
}

// A tree already in the other database comes with everything under it:
// children are copied before their tree and the commit last, so an
// interrupted copy never leaves a tree whose contents are missing.
void copy_tree(git_repository* repo, git_odb* from, git_odb* to, const git_oid& tree_oid) {
  if (git_odb_exists(to, &tree_oid)) return;
  git_tree* raw = nullptr;
  check(git_tree_lookup(&raw, repo, &tree_oid), "cannot read tree " + hex(tree_oid));
  TreePtr tree(raw);
  for (size_t i = 0; i < git_tree_entrycount(tree.get()); ++i) {
    const git_tree_entry* entry = git_tree_entry_byindex(tree.get(), i);
    if (git_tree_entry_type(entry) == GIT_OBJECT_TREE) {
      copy_tree(repo, from, to, *git_tree_entry_id(entry));
    } else {
      copy_object(from, to, *git_tree_entry_id(entry));
    }
  }
  copy_object(from, to, tree_oid);
}

}  // namespace

SyncRepository::PushResult SyncRepository::push(const std::string& label, const std::string& url,
                                                const std::string& commit,
                                                const std::string& remote_ref,
                                                const std::optional<std::string>& expected) {
  if (is_local_path_url(url)) return push_to_path(label, url, commit, remote_ref, expected);
  git_repository* repo = m_impl->repo.get();
  const std::string outgoing = "refs/lastmile/outgoing";
  set_reference(outgoing, commit);
  const std::string spec = outgoing + ":" + remote_ref;
  char* specs[] = {const_cast<char*>(spec.c_str())};
  const git_strarray refspecs = {specs, 1};
  RemotePtr remote = anonymous_remote(repo, label, url);
  use_configured_certificate_authorities();
  PushState state;
  state.credentials.url_has_password = url_has_password(url);
  state.expected = expected;
  state.check_expected = true;
  git_push_options options = GIT_PUSH_OPTIONS_INIT;
  options.callbacks.credentials = push_credentials;
  options.callbacks.push_negotiation = check_negotiation;
  options.callbacks.push_update_reference = note_update_status;
  options.callbacks.payload = &state;
  const int rc = git_remote_push(remote.get(), &refspecs, &options);
  if (state.moved || rc == GIT_ENONFASTFORWARD) return PushResult::remote_moved;
  if (rc < 0) throw_transfer_error(rc, label, url, "pushing " + remote_ref, &state.credentials);
  if (!state.refused.empty()) {
    if (means_remote_moved(state.refused)) return PushResult::remote_moved;
    throw Error(ExitCode::check_failed, "the log remote " + quote(label) + " refused the update of " +
                                            remote_ref + ": " + state.refused);
  }
  return PushResult::updated;
}

// A repository on a path is written directly: the new objects are copied
// into it, then the reference moves with a compare-and-swap under its lock
// file. (libgit2's transport for paths overwrites the reference without
// comparing it with the value it read, so two pushers could both "win".)
SyncRepository::PushResult SyncRepository::push_to_path(const std::string& label, const std::string& url,
                                                        const std::string& commit,
                                                        const std::string& remote_ref,
                                                        const std::optional<std::string>& expected) {
  git_repository* raw = nullptr;
  if (git_repository_open(&raw, url.c_str()) < 0) throw_transfer_error(-1, label, url, "opening it");
  RepoPtr other(raw);
  git_repository* repo = m_impl->repo.get();
  const OdbPtr from = odb_of(repo);
  const OdbPtr to = odb_of(other.get());
  const git_oid new_oid = parse_oid(commit);
  const CommitPtr c = lookup_commit(repo, commit);
  copy_tree(repo, from.get(), to.get(), *git_commit_tree_id(c.get()));
  copy_object(from.get(), to.get(), new_oid);
  // The old value is compared under the reference's lock. "Absent" is the
  // zero id: git_reference_create without force checks absence before it
  // takes the lock, so two first pushes could both succeed.
  git_oid old_oid;
  if (expected) {
    old_oid = parse_oid(*expected);
  } else {
    std::memset(&old_oid, 0, sizeof old_oid);
  }
  git_reference* created = nullptr;
  const int swap = git_reference_create_matching(&created, other.get(), remote_ref.c_str(), &new_oid, 1,
                                                 &old_oid, "lastmile push");
  git_reference_free(created);
  if (swap == GIT_EMODIFIED || swap == GIT_EEXISTS || swap == GIT_ELOCKED || swap == GIT_ENOTFOUND) {
    return PushResult::remote_moved;
  }
  if (swap < 0) throw_transfer_error(swap, label, url, "updating " + remote_ref);
  return PushResult::updated;
}

}  // namespace lm::git
