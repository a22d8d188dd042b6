// registry/core/process: running a gate's command with real processes.

#include <signal.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <string>
#include <thread>

#include "registry/core/process.hpp"
#include "tests/unit/helpers.hpp"

using namespace lm;
using namespace std::chrono_literals;

namespace {

ProcessResult run(std::vector<std::string> argv, std::chrono::milliseconds timeout = 20s) {
  ProcessRequest request;
  request.argv = std::move(argv);
  request.timeout = timeout;
  return run_process(request);
}

ProcessResult run_in(const std::filesystem::path& cwd, std::vector<std::string> argv) {
  ProcessRequest request;
  request.argv = std::move(argv);
  request.cwd = cwd;
  request.timeout = 20s;
  return run_process(request);
}

// True while `pid` runs; a zombie waiting for its parent to reap it has
// stopped running.
bool running(long pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  std::getline(stat, text);
  const std::size_t paren = text.rfind(')');
  return paren != std::string::npos && paren + 2 < text.size() && text[paren + 2] != 'Z';
}

// Killing a group is asynchronous: give the dying a moment.
bool stops_soon(long pid) {
  for (int i = 0; i < 200 && running(pid); ++i) std::this_thread::sleep_for(10ms);
  return !running(pid);
}

// The first line of `output` as a process id ("sleep 30 & echo $!").
long first_line_pid(const std::string& output) {
  return std::stol(output.substr(0, output.find('\n')));
}

}  // namespace

TEST_CASE("run_process reports a command that exits 0", "[core][process]") {
  const ProcessResult r = run({"true"});
  CHECK(r.started);
  CHECK(r.start_error.empty());
  CHECK(r.exit_code == 0);
  CHECK(r.signal == 0);
  CHECK_FALSE(r.timed_out);
  CHECK(r.output.empty());
  CHECK(r.succeeded());
}

TEST_CASE("run_process reports a non-zero exit code", "[core][process]") {
  const ProcessResult r = run({"sh", "-c", "exit 3"});
  CHECK(r.started);
  CHECK(r.exit_code == 3);
  CHECK(r.signal == 0);
  CHECK_FALSE(r.succeeded());
}

TEST_CASE("run_process captures stdout and stderr in order", "[core][process]") {
  const ProcessResult r = run({"sh", "-c", "echo out; echo err >&2; echo again"});
  CHECK(r.succeeded());
  CHECK(r.output == "out\nerr\nagain\n");
}

TEST_CASE("run_process gives the command an empty stdin", "[core][process]") {
  const ProcessResult r = run({"cat"}, 5s);
  CHECK(r.succeeded());
  CHECK(r.output.empty());
}

TEST_CASE("run_process feeds the input on stdin, however large", "[core][process]") {
  ProcessRequest request;
  request.argv = {"sh", "-c", "wc -c; echo done >&2"};
  request.input = std::string(1 << 20, 'x');  // more than a pipe holds
  request.timeout = 20s;
  CHECK(run_process(request).output == "1048576\ndone\n");
  request.discard_stderr = true;
  CHECK(run_process(request).output == "1048576\n");
}

TEST_CASE("run_process sets environment overrides over the inherited ones", "[core][process]") {
  ProcessRequest request;
  request.argv = {"sh", "-c", "echo \"$LM_PROCESS_TEST|$HOME\"; env | grep -c '^HOME='"};
  request.env = {{"LM_PROCESS_TEST", "earlier"},
                 {"HOME", "/lastmile-home"},
                 {"LM_PROCESS_TEST", "from the test"}};
  const ProcessResult r = run_process(request);
  CHECK(r.succeeded());  // found through the inherited PATH
  CHECK(r.output == "from the test|/lastmile-home\n1\n");
}

TEST_CASE("run_process runs a relative script in the working directory", "[core][process]") {
  test::TempDir dir;
  const auto script = dir.write("script.sh", "#!/bin/sh\npwd\necho \"$0\"\n");
  REQUIRE(::chmod(script.c_str(), 0755) == 0);
  const auto before = std::filesystem::current_path();
  const ProcessResult r = run_in(dir.path(), {"./script.sh"});
  CHECK(r.succeeded());
  CHECK(r.output == dir.path().string() + "\n./script.sh\n");
  CHECK(std::filesystem::current_path() == before);
}

TEST_CASE("run_process reports a command not in PATH", "[core][process]") {
  const ProcessResult r = run({"lastmile-test-no-such-command"});
  CHECK_FALSE(r.started);
  CHECK(r.start_error == "'lastmile-test-no-such-command' not found in PATH");
  CHECK_FALSE(r.succeeded());
}

TEST_CASE("run_process reports a missing relative script", "[core][process]") {
  test::TempDir dir;
  const ProcessResult r = run_in(dir.path(), {"./smoke.sh"});
  CHECK_FALSE(r.started);
  CHECK(r.start_error == "'./smoke.sh' not found");
}

TEST_CASE("run_process reports a script that is not executable", "[core][process]") {
  test::TempDir dir;
  const auto script = dir.write("smoke.sh", "#!/bin/sh\necho hi\n");
  REQUIRE(::chmod(script.c_str(), 0644) == 0);
  const ProcessResult r = run_in(dir.path(), {"./smoke.sh"});
  CHECK_FALSE(r.started);
  CHECK(r.start_error == "cannot run './smoke.sh': permission denied");
}

TEST_CASE("run_process reports a script without a #! line", "[core][process]") {
  test::TempDir dir;
  const auto script = dir.write("smoke.sh", "echo hi\n");
  REQUIRE(::chmod(script.c_str(), 0755) == 0);
  const ProcessResult r = run_in(dir.path(), {"./smoke.sh"});
  CHECK_FALSE(r.started);
  CHECK_THAT(r.start_error, Catch::StartsWith("cannot run './smoke.sh': exec format error"));
}

TEST_CASE("run_process reports a script whose interpreter is missing", "[core][process]") {
  test::TempDir dir;
  const auto script = dir.write("smoke.sh", "#!/nonexistent/lastmile-shell\necho hi\n");
  REQUIRE(::chmod(script.c_str(), 0755) == 0);
  const ProcessResult r = run_in(dir.path(), {"./smoke.sh"});
  CHECK_FALSE(r.started);
  CHECK(r.start_error == "cannot run './smoke.sh': its #! interpreter was not found");
}

TEST_CASE("run_process reports a missing working directory", "[core][process]") {
  test::TempDir dir;
  const ProcessResult r = run_in(dir / "gone", {"true"});
  CHECK_FALSE(r.started);
  CHECK(r.start_error ==
        "cannot change to directory '" + (dir / "gone").string() + "': no such file or directory");
}

TEST_CASE("run_process refuses an empty command and bad variable names", "[core][process]") {
  CHECK(run({}).start_error == "no command given");
  ProcessRequest request;
  request.argv = {"true"};
  request.env = {{"A=B", "c"}};
  const ProcessResult r = run_process(request);
  CHECK_FALSE(r.started);
  CHECK(r.start_error == "invalid environment variable name 'A=B'");
}

TEST_CASE("run_process reports the signal that ended a command", "[core][process]") {
  const ProcessResult r = run({"sh", "-c", "kill -TERM $$"});
  CHECK(r.started);
  CHECK(r.signal == 15);
  CHECK(r.exit_code == -1);
  CHECK_FALSE(r.timed_out);
  CHECK_FALSE(r.succeeded());
}

TEST_CASE("run_process kills a command past its timeout", "[core][process]") {
  const ProcessResult r = run({"sleep", "30"}, 200ms);
  CHECK(r.started);
  CHECK(r.timed_out);
  CHECK(r.signal == SIGTERM);
  CHECK_FALSE(r.succeeded());
  CHECK(r.duration >= 200ms);
  CHECK(r.duration < 5s);
}

TEST_CASE("run_process's timeout kills the command's children too", "[core][process]") {
  const ProcessResult r = run({"sh", "-c", "sleep 30 & echo $!; sleep 30"}, 300ms);
  CHECK(r.timed_out);
  CHECK(r.duration < 5s);
  const long grandchild = first_line_pid(r.output);
  CHECK(stops_soon(grandchild));
}

TEST_CASE("run_process stops the command's group when lastmile is interrupted", "[core][process]") {
  struct sigaction before {};
  ::sigaction(SIGINT, nullptr, &before);
  std::thread ctrl_c([] {
    std::this_thread::sleep_for(300ms);
    ::kill(::getpid(), SIGINT);
  });
  const auto start = std::chrono::steady_clock::now();
  test::TempDir dir;
  ProcessRequest request;
  request.argv = {"sh", "-c", "sleep 30 & echo $! > child.pid; wait"};
  request.cwd = dir.path();
  request.timeout = 60s;
  try {
    run_process(request);
    FAIL("not interrupted");
  } catch (const Error& e) {
    CHECK(e.code() == ExitCode::interrupted);
    CHECK_THAT(e.what(), Catch::Contains("interrupted by SIGINT"));
  }
  ctrl_c.join();
  CHECK(std::chrono::steady_clock::now() - start < 5s);
  std::ifstream pid_file(dir.path() / "child.pid");
  long grandchild = 0;
  pid_file >> grandchild;
  REQUIRE(grandchild > 0);
  CHECK(stops_soon(grandchild));
  // The handler was lastmile's only while the command ran.
  struct sigaction after {};
  ::sigaction(SIGINT, nullptr, &after);
  CHECK(after.sa_handler == before.sa_handler);
}

TEST_CASE("run_process follows SIGTERM with SIGKILL", "[core][process]") {
  const ProcessResult r = run({"sh", "-c", "trap '' TERM; sleep 30; echo survived"}, 200ms);
  CHECK(r.timed_out);
  CHECK(r.signal == SIGKILL);
  CHECK(r.duration >= 2s);
  CHECK(r.duration < 10s);
  CHECK(r.output.empty());
}

TEST_CASE("run_process does not wait for a child that keeps the output open", "[core][process]") {
  const ProcessResult r = run({"sh", "-c", "sleep 30 & echo $!"});
  CHECK(r.succeeded());
  CHECK_FALSE(r.timed_out);
  CHECK(r.duration < 5s);
  const long grandchild = first_line_pid(r.output);
  CHECK(stops_soon(grandchild));
}

TEST_CASE("run_process keeps the start and end of a long output", "[core][process]") {
  ProcessRequest request;
  request.argv = {"sh", "-c", "echo first; yes x | head -n 100000; echo last"};
  request.output_limit = 1024;
  const ProcessResult r = run_process(request);
  CHECK(r.succeeded());
  // 6 + 200000 + 5 bytes written, 512 kept at each end.
  CHECK_THAT(r.output, Catch::StartsWith("first\nx\nx\n") &&
                           Catch::Contains("\n[... 198987 bytes omitted ...]\n") &&
                           Catch::EndsWith("x\nx\nlast\n"));
  CHECK(r.output.size() == 1024 + std::string("[... 198987 bytes omitted ...]\n").size());
}

TEST_CASE("run_process keeps an output of exactly the limit whole", "[core][process]") {
  ProcessRequest request;
  request.argv = {"printf", "0123456789"};
  request.output_limit = 10;
  CHECK(run_process(request).output == "0123456789");
}

TEST_CASE("run_process trims a long output between UTF-8 characters", "[core][process]") {
  ProcessRequest request;
  // "a" and ten two-byte "é": 21 bytes.
  request.argv = {"sh", "-c", "printf 'a'; printf '\\303\\251%.0s' 1 2 3 4 5 6 7 8 9 10"};
  request.output_limit = 7;  // 4 bytes at the start, 3 at the end: each cuts an "é"
  const ProcessResult r = run_process(request);
  CHECK(r.succeeded());
  CHECK(r.output == "a\xc3\xa9\n[... 16 bytes omitted ...]\n\xc3\xa9");
}
