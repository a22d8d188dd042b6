// lastmile remote add|list|remove: where the registry is shared. A git URL
// carries the event log; file:///PATH and oci://HOST/REPO hold the bytes.

#include "cli/command.hpp"
#include "cli/context.hpp"
#include "registry/core/error.hpp"
#include "registry/core/git.hpp"
#include "registry/remotes.hpp"

namespace lm::cli {

namespace {

struct RemoteOptions {
  CLI::App* add = nullptr;
  CLI::App* list = nullptr;
  CLI::App* remove = nullptr;
  std::string name;
  std::string url;
  bool insecure = false;
};

Json remote_json(const Remote& r) {
  return {{"name", r.name},
          {"url", git::strip_credentials(r.url)},
          {"kind", remote_kind_name(r.kind)},
          {"holds", r.holds_log() ? "log" : "bytes"},
          {"insecure", r.insecure},
          {"git_origin", r.git_origin}};
}

std::string holds(const Remote& r) {
  switch (r.kind) {
    case RemoteKind::log:
      return r.git_origin ? "log (the git repository's origin)" : "log";
    case RemoteKind::directory:
      return "bytes (directory)";
    case RemoteKind::oci:
      return r.insecure ? "bytes (OCI registry, plain http)" : "bytes (OCI registry)";
  }
  return "";
}

int run_add(Context& ctx, const RemoteOptions& o) {
  RemoteAddRequest request;
  request.registry_dir = ctx.registry().dir();
  request.cwd = ctx.cwd();
  request.name = o.name;
  request.url = o.url;
  request.insecure = o.insecure;
  const Remote r = add_remote(request);
  if (ctx.out().json()) {
    ctx.out().json_document(remote_json(r));
  } else {
    ctx.out().line("added remote " + r.name + " (" + holds(r) + "): " + git::strip_credentials(r.url));
  }
  return 0;
}

int run_list(Context& ctx) {
  const auto remotes = list_remotes(ctx.registry().dir(), ctx.cwd());
  const Output& out = ctx.out();
  if (out.json()) {
    Json list = Json::array();
    for (const auto& r : remotes) list.push_back(remote_json(r));
    out.json_document({{"remotes", list}});
    return 0;
  }
  if (remotes.empty()) {
    out.note("no remotes; add one with 'lastmile remote add NAME URL'");
    return 0;
  }
  std::vector<std::vector<std::string>> rows = {{"NAME", "HOLDS", "URL"}};
  for (const auto& r : remotes) rows.push_back({r.name, holds(r), git::strip_credentials(r.url)});
  out.line(format_table(rows, out));
  return 0;
}

int run_remove(Context& ctx, const RemoteOptions& o) {
  remove_remote(ctx.registry().dir(), ctx.cwd(), o.name);
  if (ctx.out().json()) {
    ctx.out().json_document({{"removed", o.name}});
  } else {
    ctx.out().line("removed remote " + o.name);
  }
  return 0;
}

}  // namespace

Command remote_command() {
  auto o = std::make_shared<RemoteOptions>();
  return {"remote", "name the git remotes that share the log and the stores that hold the bytes",
          [o](CLI::App& sub) {
            sub.require_subcommand(1);
            o->add = sub.add_subcommand("add", "add a remote: a git URL for the log, file:///PATH or "
                                                "oci://HOST/REPO for the bytes");
            o->add->add_option("NAME", o->name, "the remote's name, e.g. origin or models")->required();
            o->add->add_option("URL", o->url,
                               "a git URL or path (the log), file:///PATH (a shared directory) or "
                               "oci://HOST[:PORT]/REPO (an OCI registry)")
                ->required();
            o->add->add_flag("--insecure", o->insecure,
                             "oci:// only: plain http, for a registry on this machine (127.0.0.1)");
            o->list = sub.add_subcommand("list", "list the remotes and what each holds");
            o->remove = sub.add_subcommand("remove", "forget a remote (nothing on it is deleted)");
            o->remove->add_option("NAME", o->name, "the remote to forget")->required();
            sub.footer(
                "\nExamples:\n"
                "  lastmile remote add origin git@github.com:acme/models-log.git\n"
                "  lastmile remote add models oci://ghcr.io/acme/models\n"
                "  lastmile remote add shared file:///mnt/models\n"
                "\nWithout a remote called origin, push and pull use the git repository's own origin.\n"
                "\nCredentials (see lastmile-remote(1)):\n"
                "  ssh    ssh-agent or ~/.ssh/id_*; host keys from ~/.ssh/known_hosts\n"
                "  https  a token in the URL or git's credential helpers; a CA of your own in http.sslCAInfo\n"
                "  oci    LASTMILE_OCI_TOKEN, LASTMILE_OCI_USERNAME/PASSWORD or ~/.docker/config.json;\n"
                "         a CA of your own in ~/.config/containers/certs.d/HOST/ca.crt");
          },
          [o](Context& ctx) {
            if (o->add->parsed()) return run_add(ctx, *o);
            if (o->remove->parsed()) return run_remove(ctx, *o);
            return run_list(ctx);
          }};
}

}  // namespace lm::cli
