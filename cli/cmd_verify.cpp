// lastmile verify [REF...] [--deep]: prove the bytes are the ones registered.

#include <algorithm>
#include <chrono>

#include "cli/command.hpp"
#include "cli/context.hpp"
#include "cli/progress.hpp"
#include "cli/views.hpp"
#include "registry/core/error.hpp"
#include "registry/verify.hpp"

namespace lm::cli {

namespace {

struct VerifyOptions {
  std::vector<std::string> refs;
  bool deep = false;
};

Json report_json(const VerifyReport& r) {
  Json versions = Json::array();
  for (const auto& vc : r.versions) {
    versions.push_back({{"ref", vc.version.ref()},
                        {"digest", vc.version.digest},
                        {"files", vc.files},
                        {"ok", vc.ok}});
  }
  Json problems = Json::array();
  for (const auto& p : r.problems) {
    problems.push_back({{"subject", p.subject},
                        {"path", p.path},
                        {"kind", p.kind},
                        {"expected", p.expected},
                        {"actual", p.actual},
                        {"message", p.message}});
  }
  Json doc = {{"ok", r.ok()},
              {"deep", r.deep},
              {"versions", versions},
              {"problems", problems},
              {"files_checked", r.files_checked},
              {"files_hashed", r.files_hashed},
              {"files_from_cache", r.files_from_cache},
              {"bytes_hashed", r.bytes_hashed}};
  if (r.whole_registry) {
    doc["integrity"] = r.integrity;
    doc["chain"] = {{"ok", r.chain.ok},
                    {"events", r.chain.events},
                    {"head", r.chain.head},
                    {"first_bad_seq", r.chain.first_bad_seq ? Json(r.chain.first_bad_seq) : Json(nullptr)}};
  }
  return doc;
}

void print_text(const Output& out, const VerifyReport& r) {
  for (const auto& vc : r.versions) {
    const std::string status = vc.ok ? out.green("ok    ") : out.red("FAILED");
    out.line(status + "  " + vc.version.ref() + "  " + std::to_string(vc.files) +
             (vc.files == 1 ? " file" : " files"));
    for (const auto& p : r.problems) {
      if (p.subject == vc.version.ref()) out.line("        " + printable(p.message));
    }
  }
  // Problems that belong to no version checked: the database, the log, a model row.
  for (const auto& p : r.problems) {
    const bool of_version = std::any_of(r.versions.begin(), r.versions.end(),
                                        [&](const auto& vc) { return vc.version.ref() == p.subject; });
    if (!of_version) out.line(out.red("FAILED") + "  " + p.subject + ": " + printable(p.message));
  }
  if (r.whole_registry) {
    const auto events = [](std::int64_t n) {
      return std::to_string(n) + (n == 1 ? " event" : " events");
    };
    const std::string chain =
        r.chain.ok ? "audit chain ok (" + events(r.chain.events) + ")"
                   : "audit chain BROKEN at event " + std::to_string(r.chain.first_bad_seq) +
                         " (" + events(r.chain.events) + " intact before it)";
    out.line("registry: integrity " + std::string(r.integrity == "ok" ? "ok" : "FAILED") + ", " +
             chain);
  }
  out.note(std::to_string(r.files_checked) + " files checked: " + std::to_string(r.files_hashed) +
           " hashed, " + std::to_string(r.files_from_cache) + " unchanged since last confirmed" +
           (r.deep ? "" : " (--deep rehashes every file)"));
}

int run_verify(Context& ctx, const VerifyOptions& o) {
  std::vector<Ref> refs;
  for (const auto& text : o.refs) refs.push_back(parse_ref(text));
  Progress progress;
  VerifyReport report;
  const auto start = std::chrono::steady_clock::now();
  {
    ProgressBar bar(progress, "verifying", ctx.out());
    report = verify(ctx.registry(), refs, o.deep, &progress);
  }
  if (ctx.out().verbose()) {
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    ctx.out().note("hashed " + human_size(report.bytes_hashed) + " in " + format_seconds(seconds));
  }
  if (ctx.out().json()) {
    ctx.out().json_document(report_json(report));
  } else {
    print_text(ctx.out(), report);
  }
  if (report.ok()) return 0;
  const std::size_t n = report.problems.size();
  throw Error(ExitCode::check_failed,
              "verification failed: " + std::to_string(n) + (n == 1 ? " problem" : " problems") +
                  " found (first: " + report.problems.front().subject + ": " +
                  report.problems.front().message + ")");
}

}  // namespace

Command verify_command() {
  auto o = std::make_shared<VerifyOptions>();
  return {"verify",
          "check that stored bytes match their registered hashes; with no REF the whole "
          "registry and its audit chain",
          [o](CLI::App& sub) {
            sub.add_option("REF", o->refs, "versions to check (default: everything)");
            sub.add_flag("--deep", o->deep, "rehash every file instead of trusting unchanged stats");
          },
          [o](Context& ctx) { return run_verify(ctx, *o); }};
}

}  // namespace lm::cli
