// The hash-chained event log.

#include <catch2/catch.hpp>

#include "registry/core/sha256.hpp"
#include "registry/events.hpp"
#include "registry/schema.hpp"
#include "tests/unit/helpers.hpp"

using namespace lm;

namespace {

sql::Db fresh_db(const test::TempDir& dir) {
  sql::Db db = sql::Db::open(dir / "r.db", sql::OpenMode::read_write_create, std::chrono::seconds(1));
  configure_connection(db);
  migrate(db);
  return db;
}

void append_three(sql::Db& db) {
  sql::Transaction txn(db);
  for (int i = 0; i < 3; ++i) {
    append_event(db, "version.registered", "m@0." + std::to_string(i) + ".0", "m",
                 Json{{"i", i}}, "ada");
  }
  txn.commit();
}

}  // namespace

TEST_CASE("events chain: each id commits to prev and content", "[events]") {
  test::TempDir dir;
  sql::Db db = fresh_db(dir);
  append_three(db);
  const auto events = load_events(db, "", 0);
  REQUIRE(events.size() == 3);
  CHECK(events[0].seq == 3);  // newest first
  CHECK(events[2].prev == k_genesis);
  CHECK(events[1].prev == events[2].id);
  CHECK(events[0].prev == events[1].id);
  CHECK(events[2].id == Sha256::hex_of(events[2].prev + event_body(events[2])));
  const ChainCheck check = verify_chain(db);
  CHECK(check.ok);
  CHECK(check.events == 3);
  CHECK(check.head == events[0].id);
}

TEST_CASE("editing any column of an event breaks the chain at that event", "[events]") {
  for (const char* edit :
       {"UPDATE events SET actor = 'mallory' WHERE seq = 2",
        "UPDATE events SET time = '2020-01-01T00:00:00.000000Z' WHERE seq = 2",
        "UPDATE events SET payload = '{\"i\":7}' WHERE seq = 2",
        "UPDATE events SET subject = 'm@9.9.9' WHERE seq = 2",
        "UPDATE events SET kind = 'version.deleted' WHERE seq = 2",
        "UPDATE events SET id = '" "0000000000000000000000000000000000000000000000000000000000000001" "' WHERE seq = 2",
        "UPDATE events SET payload = '{\"i\": 1}' WHERE seq = 2"}) {
    INFO(edit);
    test::TempDir dir;
    sql::Db db = fresh_db(dir);
    append_three(db);
    db.exec(edit);
    for (const ChainDepth depth : {ChainDepth::full, ChainDepth::links}) {
      const ChainCheck check = verify_chain(db, depth);
      CHECK_FALSE(check.ok);
      CHECK(check.first_bad_seq == 2);
    }
  }
}

TEST_CASE("the quick chain check hashes the stored bytes exactly as the full one", "[events]") {
  test::TempDir dir;
  sql::Db db = fresh_db(dir);
  sql::Transaction txn(db);
  append_event(db, "version.registered", "m@1.0.0", "m",
               Json{{"text", "caf\u00e9 \"q\" \\ \n"}, {"n", 1.5}, {"list", {1, "a"}}}, "Ad\u00e4 <a@b>");
  txn.commit();
  CHECK(verify_chain(db, ChainDepth::full).ok);
  CHECK(verify_chain(db, ChainDepth::links).ok);
}

TEST_CASE("a deleted or reordered event is detected", "[events]") {
  test::TempDir dir;
  sql::Db db = fresh_db(dir);
  append_three(db);
  db.exec("DELETE FROM events WHERE seq = 2");
  ChainCheck check = verify_chain(db);
  CHECK_FALSE(check.ok);
  CHECK(check.first_bad_seq == 2);
  CHECK_THAT(check.problem, Catch::Contains("missing"));

  test::TempDir dir2;
  sql::Db db2 = fresh_db(dir2);
  append_three(db2);
  // Swap the payloads of two events.
  db2.exec("UPDATE events SET payload = CASE seq WHEN 1 THEN '{\"i\":1}' ELSE '{\"i\":0}' END "
           "WHERE seq IN (1, 2)");
  check = verify_chain(db2);
  CHECK_FALSE(check.ok);
  CHECK(check.first_bad_seq == 1);
}

TEST_CASE("events can be filtered by name and limited", "[events]") {
  test::TempDir dir;
  sql::Db db = fresh_db(dir);
  append_three(db);
  {
    sql::Transaction txn(db);
    append_event(db, "version.registered", "other@1.0.0", "other", Json::object(), "bob");
    txn.commit();
  }
  CHECK(load_events(db, "m", 0).size() == 3);
  CHECK(load_events(db, "other", 0).size() == 1);
  CHECK(load_events(db, "", 2).size() == 2);
  CHECK(load_event(db, 4)->actor == "bob");
  CHECK_FALSE(load_event(db, 5));
}

TEST_CASE("event times never go backwards, even when the clock does", "[events]") {
  test::TempDir dir;
  sql::Db db = fresh_db(dir);
  const std::string future = "2999-01-01T00:00:00.000000Z";
  {
    sql::Transaction txn(db);
    append_event(db, "version.registered", "m@0.1.0", "m", Json{{"i", 0}}, "ada");
    // The last event was written by a machine whose clock ran ahead.
    db.exec("UPDATE events SET time = '" + future + "' WHERE seq = 1");
    const Event next = append_event(db, "version.registered", "m@0.2.0", "m", Json{{"i", 1}}, "ada");
    CHECK(next.time == future);
    txn.commit();
  }
  const auto events = load_events(db, "", 0);
  CHECK(events[0].time >= events[1].time);
}
