#include "cli/app.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <new>

#include "cli/command.hpp"
#include "cli/context.hpp"
#include "registry/core/error.hpp"

namespace lm::cli {

namespace {

constexpr const char* k_description =
    "lastmile: a model registry with content hashes, lineage and a hash-chained "
    "event log, run from the command line, CI and git hooks.";

void print_error(const std::string& message, const std::string& hint, bool color) {
  std::fflush(stdout);
  std::fprintf(stderr, "lastmile: %s %s\n", color ? "\033[31merror:\033[0m" : "error:",
               message.c_str());
  if (!hint.empty()) std::fprintf(stderr, "hint: %s\n", hint.c_str());
}

std::string lowercase_first(std::string text) {
  if (!text.empty() && text[0] >= 'A' && text[0] <= 'Z' &&
      !(text.size() > 1 && text[1] >= 'A' && text[1] <= 'Z')) {
    text[0] = static_cast<char>(text[0] - 'A' + 'a');
  }
  return text;
}

// The command being parsed when CLI11 gave up, for the hint.
std::string help_hint(CLI::App& app) {
  std::string words;  // "deploy render": every level parsed so far
  for (CLI::App* level = &app; !level->get_subcommands().empty();) {
    level = level->get_subcommands().front();
    words += " " + level->get_name();
  }
  return "see 'lastmile" + words + " --help'";
}

// Help that starts with the usage line, as man pages and most tools do.
class HelpFormatter : public CLI::Formatter {
 public:
  std::string make_help(const CLI::App* app, std::string name, CLI::AppFormatMode mode) const override {
    if (mode == CLI::AppFormatMode::Sub) return make_expanded(app);
    std::string text = make_usage(app, name);
    const std::string description = make_description(app);
    if (!description.empty()) text += "\n" + description;
    text += make_positionals(app);
    text += make_groups(app, mode);
    text += make_subcommands(app, mode);
    text += make_footer(app);
    return text;
  }
};

void add_global_options(CLI::App& app, Globals& g) {
  app.set_version_flag("--version", std::string("lastmile ") + LASTMILE_VERSION,
                       "print the version and exit");
  app.add_option("-C", g.directory, "run as if lastmile was started in DIR")->type_name("DIR");
  app.add_option("--registry", g.registry,
                 "the registry directory (default: .lastmile at the top of the git work "
                 "tree, or in the current directory; env LASTMILE_REGISTRY)")
      ->type_name("DIR");
  app.add_flag("--json", g.json, "print the result as one JSON document on stdout");
  app.add_flag("-q,--quiet", g.quiet, "print only results and errors");
  app.add_flag("-v,--verbose", g.verbose, "print more detail");
  app.add_option("--color", g.color, "colour: auto (default), always or never")
      ->type_name("WHEN")
      ->check(takes_one_of({"auto", "always", "never"}));
}

int finish_stdout(int status) {
  if (std::fflush(stdout) != 0 || std::ferror(stdout)) {
    const int err = errno;
    if (err == EPIPE) return status;  // the reader went away; not our failure
    print_error("cannot write to standard output: " + errno_text(err), "", false);
    return static_cast<int>(ExitCode::io);
  }
  return status;
}

}  // namespace

int run(int argc, char** argv) {
  CLI::App app{k_description, "lastmile"};
  Globals globals;
  app.formatter(std::make_shared<HelpFormatter>());
  add_global_options(app, globals);
  app.require_subcommand(0, 1);
  std::vector<std::pair<CLI::App*, Command>> wired;
  for (Command& cmd : all_commands()) {
    CLI::App* sub = app.add_subcommand(cmd.name, cmd.summary);
    sub->fallthrough();  // global options work after the command name too
    cmd.setup(*sub);
    wired.emplace_back(sub, std::move(cmd));
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return finish_stdout(app.exit(e));  // --help, --version
    print_error(lowercase_first(e.what()), help_hint(app), false);
    return static_cast<int>(ExitCode::usage);
  }
  bool color = false;
  try {
    Context ctx(globals);
    color = ctx.out().stderr_color();
    for (auto& [sub, cmd] : wired) {
      if (sub->parsed()) return finish_stdout(cmd.run(ctx));
    }
    std::cerr << app.help();
    return static_cast<int>(ExitCode::usage);
  } catch (const Error& e) {
    print_error(e.what(), e.hint(), color);
    return finish_stdout(static_cast<int>(e.code()));
  } catch (const std::bad_alloc&) {
    print_error("out of memory", "", color);
    return static_cast<int>(ExitCode::error);
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "lastmile: internal error: %s\n", e.what());
    return static_cast<int>(ExitCode::internal);
  }
}

}  // namespace lm::cli
