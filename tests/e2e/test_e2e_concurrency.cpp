// Several processes at once, and a write lock held by someone else.

#include <poll.h>
#include <sqlite3.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstring>
#include <future>
#include <set>
#include <thread>

#include "tests/e2e/sandbox.hpp"

using lm::test::RunResult;
using lm::test::Sandbox;

namespace {

// Holds the registry's write lock from this process, as another writer would.
class LockHolder {
 public:
  explicit LockHolder(const Sandbox& sb) {
    REQUIRE(sqlite3_open((sb.registry() / "registry.db").c_str(), &m_db) == SQLITE_OK);
    REQUIRE(sqlite3_exec(m_db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) == SQLITE_OK);
  }
  void release() {
    if (m_db) {
      sqlite3_exec(m_db, "ROLLBACK", nullptr, nullptr, nullptr);
      sqlite3_close(m_db);
      m_db = nullptr;
    }
  }
  ~LockHolder() { release(); }

 private:
  sqlite3* m_db = nullptr;
};

// Reports when a file in a directory is closed after reading: for a file
// lastmile hashes, the moment its bytes have been read.
class ReadWatch {
 public:
  explicit ReadWatch(const std::filesystem::path& dir) : m_fd(::inotify_init1(IN_CLOEXEC | IN_NONBLOCK)) {
    REQUIRE(m_fd >= 0);
    REQUIRE(::inotify_add_watch(m_fd, dir.c_str(), IN_CLOSE_NOWRITE) >= 0);
  }
  ~ReadWatch() { ::close(m_fd); }
  // True once `name` was read and closed, false after `limit`.
  bool wait_for(const std::string& name, std::chrono::seconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    alignas(inotify_event) char buffer[4096];
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{m_fd, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      const ssize_t n = ::read(m_fd, buffer, sizeof buffer);
      for (ssize_t at = 0; at < n;) {
        const auto* event = reinterpret_cast<const inotify_event*>(buffer + at);
        if (event->len > 0 && name == event->name) return true;
        at += static_cast<ssize_t>(sizeof(inotify_event) + event->len);
      }
    }
    return false;
  }

 private:
  int m_fd;
};

}  // namespace

TEST_CASE("a write lock held past the timeout exits 75 and writes nothing", "[e2e][lock]") {
  Sandbox sb;
  REQUIRE(sb.run({"init"}).rc == 0);
  sb.write("a.bin", "a");
  REQUIRE(sb.run({"register", "churn", "a.bin"}).rc == 0);
  sb.write("b.bin", "b");
  const auto files = sb.stored_files();
  LockHolder lock(sb);
  const RunResult r =
      sb.run({"register", "churn", "b.bin"}, {.env = {{"LASTMILE_LOCK_TIMEOUT", "1"}}});
  CHECK(r.rc == 75);
  CHECK(r.out.empty());
  CHECK_THAT(r.err, Catch::StartsWith("lastmile: error: registry busy: write lock held by another "
                                      "process for more than 1s\nhint: it is safe to retry"));
  lock.release();
  CHECK(sb.event_count() == 1);
  CHECK(sb.stored_files() == files);
  // Readers are never blocked by a writer.
  LockHolder again(sb);
  CHECK(sb.run({"list"}, {.env = {{"LASTMILE_LOCK_TIMEOUT", "1"}}}).rc == 0);
  CHECK(sb.run({"show", "churn"}, {.env = {{"LASTMILE_LOCK_TIMEOUT", "1"}}}).rc == 0);
}

TEST_CASE("verify does not wait for a writer", "[e2e][lock][verify]") {
  Sandbox sb;
  REQUIRE(sb.run({"init"}).rc == 0);
  sb.write("a.bin", "a");
  REQUIRE(sb.run({"register", "churn", "a.bin"}).rc == 0);
  LockHolder lock(sb);
  auto pending = std::async(std::launch::async, [&] {
    return sb.run({"verify"}, {.env = {{"LASTMILE_LOCK_TIMEOUT", "60"}}});
  });
  // Waiting for the lock would take the whole minute.
  REQUIRE(pending.wait_for(std::chrono::seconds(20)) == std::future_status::ready);
  CHECK(pending.get().rc == 0);
}

TEST_CASE("a writer waits for a lock released within the timeout", "[e2e][lock]") {
  Sandbox sb;
  REQUIRE(sb.run({"init"}).rc == 0);
  sb.write("a.bin", "a");
  auto lock = std::make_unique<LockHolder>(sb);
  auto pending = std::async(std::launch::async, [&] {
    return sb.run({"register", "churn", "a.bin"}, {.env = {{"LASTMILE_LOCK_TIMEOUT", "30"}}});
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  lock.reset();
  const RunResult r = pending.get();
  CHECK(r.rc == 0);
  CHECK(sb.event_count() == 1);
}

TEST_CASE("concurrent registrations lose nothing and never share a version", "[e2e][concurrency]") {
  Sandbox sb;
  REQUIRE(sb.run({"init"}).rc == 0);
  constexpr int k_writers = 8;
  for (int i = 0; i < k_writers; ++i) sb.write("m" + std::to_string(i) + ".bin", std::to_string(i));
  std::vector<std::future<RunResult>> runs;
  for (int i = 0; i < k_writers; ++i) {
    runs.push_back(std::async(std::launch::async, [&sb, i] {
      return sb.run({"register", "churn", "m" + std::to_string(i) + ".bin", "--json"});
    }));
  }
  std::set<std::string> versions;
  for (auto& run : runs) {
    const RunResult r = run.get();
    INFO(r.err);
    REQUIRE(r.rc == 0);
    versions.insert(r.json()["version"].get<std::string>());
  }
  CHECK(versions.size() == k_writers);
  CHECK(*versions.begin() == "0.1.0");
  CHECK(versions.count("0.8.0") == 1);  // contiguous: 0.1.0 .. 0.8.0
  CHECK(sb.event_count() == k_writers);
  CHECK(sb.run({"verify"}).rc == 0);
}

TEST_CASE("two racing registrations of one version: one wins, one is refused", "[e2e][concurrency]") {
  Sandbox sb;
  REQUIRE(sb.run({"init"}).rc == 0);
  sb.write("a.bin", "a");
  sb.write("b.bin", "b");
  auto a = std::async(std::launch::async,
                      [&] { return sb.run({"register", "churn", "a.bin", "--version", "1.0.0"}); });
  auto b = std::async(std::launch::async,
                      [&] { return sb.run({"register", "churn", "b.bin", "--version", "1.0.0"}); });
  const RunResult ra = a.get();
  const RunResult rb = b.get();
  CHECK(std::min(ra.rc, rb.rc) == 0);
  CHECK(std::max(ra.rc, rb.rc) == 1);
  CHECK_THAT(ra.err + rb.err, Catch::Contains("already exists with other content"));
  CHECK(sb.event_count() == 1);
  CHECK(sb.run({"verify"}).rc == 0);
}

TEST_CASE("a referenced file changed while the registration waits is not trusted later", "[e2e][lock][verify]") {
  Sandbox sb;
  REQUIRE(sb.run({"init"}).rc == 0);
  sb.write("m/w.bin", "AAAA");
  auto lock = std::make_unique<LockHolder>(sb);
  ReadWatch watch(sb.repo() / "m");
  auto pending = std::async(std::launch::async, [&] {
    return sb.run({"register", "r", "m", "--store", "reference"});
  });
  // Once the file has been read it is hashed; lastmile now waits for the lock.
  REQUIRE(watch.wait_for("w.bin", std::chrono::seconds(60)));
  sb.write("m/w.bin", "BBBB");  // same size, other bytes
  lock.reset();
  REQUIRE(pending.get().rc == 0);
  const auto r = sb.run({"verify", "r"});
  CHECK(r.rc == 1);
  CHECK_THAT(r.out, Catch::Contains("w.bin: content changed"));
}
