// Tampering (reliability plan C1-C4): every byte of a small artifact and
// random damage to a large one, in the object store and in files registered
// by reference; files added, removed, renamed, swapped, retyped in directory
// artifacts of both store modes; rows of the event log edited, deleted,
// swapped and forged; and, against the head anchored by a push, a truncated
// tail and a rewritten chain. Every case must make `verify` or
// `audit verify` exit 1 naming the file or the first bad event.
//
// Knobs: SMALL_BYTES and REF_BYTES (every byte of a stored file and of a
// referenced one this size), LARGE_MIB and LARGE_OPS (random damage to a
// stored file), LOG_MODELS (18 events each; every row edited in every
// column). The every-byte loop of the stored file runs on a second thread.

#include <chrono>
#include <cmath>
#include <thread>

#include "tests/stress/stress.hpp"
#include "tests/stress/tamper_artifact.hpp"
#include "tests/stress/tamper_log.hpp"

using namespace lm::tamper;

namespace {

void must_ok(const RunResult& r, const std::string& what) {
  if (r.rc != 0) throw std::runtime_error(what + ": " + describe(r));
}

// Every byte of a small stored artifact: the longest part, on a thread of
// its own.
void small_stored(Sandbox& sb, Tally& tally, std::mt19937_64 rng, long bytes) {
  must_ok(sb.run({"init", "-q"}), "init");
  const std::string content = random_bytes(rng, static_cast<std::size_t>(bytes));
  put_file(sb.repo() / "small.bin", content);
  must_ok(sb.run({"register", "small", "small.bin", "--version", "1.0.0", "-q"}), "register small");
  every_byte(sb, tally, rng, "small artifact, stored", "small@1.0.0", "small.bin",
             object_path(sb, sha256_of_text(sb, content)), 64, 64);
}

// Every byte of a small file registered by reference, then random damage
// to a large stored one.
void referenced_and_large(Sandbox& sb, Tally& tally, std::mt19937_64& rng, long ref_bytes, long large_mib,
                          long large_ops) {
  must_ok(sb.run({"init", "-q"}), "init");
  put_file(sb.repo() / "small-ref.bin", random_bytes(rng, static_cast<std::size_t>(ref_bytes)));
  must_ok(sb.run({"register", "small-ref", "small-ref.bin", "--version", "1.0.0", "--store", "reference", "-q"}),
          "register small-ref");
  every_byte(sb, tally, rng, "small artifact, referenced", "small-ref@1.0.0", "small-ref.bin",
             sb.repo() / "small-ref.bin", 64, 64);
  const std::string large = random_bytes(rng, static_cast<std::size_t>(large_mib) << 20);
  put_file(sb.repo() / "large.bin", large);
  must_ok(sb.run({"register", "large", "large.bin", "--version", "1.0.0", "-q"}), "register large");
  fs::remove(sb.repo() / "large.bin");  // the store's copy is what counts
  large_random(sb, tally, rng, "large artifact, stored", "large@1.0.0", "large.bin",
               object_path(sb, sha256_of_text(sb, large)), large, large_ops, 10);
}

void directories(Sandbox& sb, Tally& tally, std::mt19937_64& rng) {
  must_ok(sb.run({"init", "-q"}), "init");
  const Tree copied = make_tree(sb, sb.repo() / "cdir", rng);
  const Tree referenced = make_tree(sb, sb.repo() / "rdir", rng);
  must_ok(sb.run({"register", "dc", "cdir", "--version", "1.0.0", "-q"}), "register dc");
  must_ok(sb.run({"register", "dr", "rdir", "--version", "1.0.0", "--store", "reference", "-q"}), "register dr");
  fs::remove_all(sb.repo() / "cdir");
  run_dir_cases(sb, tally, "directory, referenced", "dr@1.0.0",
                reference_cases(sb.repo() / "rdir", sb.root() / "copies", referenced));
  const DbSnapshot pristine(sb, sb.root() / "dirs.db");
  const std::string version_id =
      Db(sb.registry() / "registry.db")
          .rows("SELECT v.id FROM versions v JOIN models m ON m.id = v.model_id WHERE m.name = 'dc'")
          .at(0)
          .at(0);
  run_dir_cases(sb, tally, "directory, stored", "dc@1.0.0",
                copy_cases(sb, copied, pristine, version_id, sb.root() / "object-copies"));
}

// Every row of the log edited in every column, deleted, swapped with the
// next, and preceded by a forged row; then forgeries that chain.
void log_rows(Sandbox& sb, Tally& tally, std::mt19937_64& rng, long models) {
  build_log_registry(sb, models);
  const DbSnapshot pristine(sb, sb.root() / "log.db");
  const fs::path db_path = sb.registry() / "registry.db";
  std::vector<EventRow> rows;
  {
    Db db(db_path);
    rows = read_events(db);
  }
  const long n = static_cast<long>(rows.size());
  const LogCheck intact = check_log(sb);
  if (intact.audit.rc != 0 || intact.verify.rc != 0) {
    return tally.record("log", "setup", false, "intact log: " + describe(intact.audit) + "; " + describe(intact.verify));
  }
  const auto run_case = [&](const std::string& group, const std::string& name, const std::function<void(Db&)>& edit,
                            const std::function<std::string(const LogCheck&)>& expect) {
    pristine.restore();
    {
      Db db(db_path);
      edit(db);
    }
    const std::string why = expect(check_log(sb));
    tally.record(group, name, why.empty(), why);
  };
  const auto chain_at = [](long seq) { return [seq](const LogCheck& c) { return chain_names(c, seq); }; };
  const auto prev_of = [&](long seq) { return seq > 1 ? rows[static_cast<std::size_t>(seq - 2)].id : std::string(64, '0'); };
  for (const EventRow& row : rows) {
    const std::string at = "event " + std::to_string(row.seq);
    for (const std::string& column : event_columns()) {
      const auto edit = [&](Db& db) {
        if (column == "seq") return db.exec("UPDATE events SET seq = seq + 1000 WHERE seq = " + std::to_string(row.seq));
        db.run("UPDATE events SET " + column + " = ? WHERE seq = " + std::to_string(row.seq),
               {edited_value(row, column, rows)});
      };
      run_case("log: a column edited", at + " " + column, edit, chain_at(row.seq));
    }
    run_case("log: payload bytes broken", at, [&](Db& db) {
      db.run("UPDATE events SET payload = ? WHERE seq = " + std::to_string(row.seq), {row.payload.substr(1)});
    }, chain_at(row.seq));
    const auto remove = [&](Db& db) { db.exec("DELETE FROM events WHERE seq = " + std::to_string(row.seq)); };
    if (row.seq < n) {
      run_case("log: a row deleted", at, remove, chain_at(row.seq));
      run_case("log: adjacent rows swapped", at + " and the next", [&](Db& db) {
        EventRow a = rows[static_cast<std::size_t>(row.seq - 1)], b = rows[static_cast<std::size_t>(row.seq)];
        std::swap(a.seq, b.seq);
        db.exec("UPDATE events SET id = 'moving' WHERE seq = " + std::to_string(row.seq + 1));
        write_event(db, b);
        write_event(db, a);
      }, chain_at(row.seq));
    } else {  // the last row: a truncated tail, which only the anchor shows
      run_case("log: a row deleted", at + " (the head)", remove, [&](const LogCheck& c) {
        const std::string why = anchor_names(c, n);
        return why.empty() && c.verify.rc != 1 ? "verify: " + describe(c.verify) : why;
      });
    }
    run_case("log: a forged row inserted", "before " + at, [&](Db& db) {
      open_gap(db, row.seq);
      insert_event(db, forged_row(row, row.seq, prev_of(row.seq), row.time, rng));
    }, chain_at(row.seq));
  }
  const EventRow& head = rows.back();
  // A forged approval copies a real one from before where it goes, so
  // that the version it names exists there.
  const auto approval_before = [&](long seq) -> const EventRow& {
    const EventRow* found = nullptr;
    for (const EventRow& e : rows) {
      if (e.kind == "approval.granted" && (e.seq < seq || !found)) found = &e;
    }
    return *found;
  };
  run_case("log: a forged row appended", "after the head", [&](Db& db) {
    insert_event(db, forged_row(approval_before(n + 1), n + 1, head.id, head.time, rng));
  }, chain_at(n + 1));
  // Forgeries that chain: the tables (verify) or the anchor (audit verify)
  // must tell. An appended one is past the anchor: only the tables can.
  run_case("log: a chained forgery", "appended", [&](Db& db) {
    insert_event(db, forged_row(approval_before(n + 1), n + 1, head.id, head.time, rng));
    rechain(sb, db, n + 1);
  }, [&](const LogCheck& c) { return tables_name(c, n + 1); });
  for (long seq : {n / 2, n - 1}) {
    run_case("log: a chained forgery", "inserted at event " + std::to_string(seq), [&](Db& db) {
      open_gap(db, seq);
      const std::string& time = rows[static_cast<std::size_t>(seq - 1)].time;
      insert_event(db, forged_row(approval_before(seq), seq, prev_of(seq), time, rng));
      rechain(sb, db, seq);
    }, [&](const LogCheck& c) {
      const std::string why = anchor_names(c, n);
      return why.empty() ? tables_name(c, seq) : why;
    });
  }
  // Rewrites that leave the tables agreeing (rebuilt from the forged log):
  // only the anchor tells, and without it nothing can (the controls).
  const auto rewrite_case = [&](const std::string& name, const std::function<void(Db&)>& edit) {
    pristine.restore();
    {
      Db db(db_path);
      edit(db);
    }
    const RunResult rebuilt = sb.run({"fsck", "--rebuild", "-q"});
    const std::string why = rebuilt.rc != 0 ? "fsck --rebuild: " + describe(rebuilt) : anchor_names(check_log(sb), n);
    tally.record("log: rewritten, tables rebuilt", name, why.empty(), why);
    Unanchored unanchored(sb);
    const LogCheck blind = check_log(sb);
    tally.control(blind.audit.rc == 0 && blind.verify.rc == 0,
                  name + " without an anchor should pass unnoticed (the documented limit); " +
                      describe(blind.audit) + "; " + describe(blind.verify));
  };
  for (long t : {1L, 3L, n / 2}) {
    rewrite_case("tail of " + std::to_string(t) + " truncated", [&](Db& db) {
      db.exec("DELETE FROM events WHERE seq > " + std::to_string(n - t));
    });
  }
  rewrite_case("whole chain rewritten from event 1", [&](Db& db) {
    EventRow first = rows.front();
    first.actor = "Mallory <mallory@example.com>";
    write_event(db, first);
    rechain(sb, db, 1);
  });
  rewrite_case("forged row inserted mid-chain", [&](Db& db) {
    open_gap(db, n / 2);
    const std::string& time = rows[static_cast<std::size_t>(n / 2 - 1)].time;
    insert_event(db, forged_row(approval_before(n / 2), n / 2, prev_of(n / 2), time, rng));
    rechain(sb, db, n / 2);
  });
}

// Runs one part and times it; an exception is a failure of the suite,
// counted, and the other parts still run.
void part(Tally& tally, const std::string& name, const std::function<void()>& fn) {
  const auto start = std::chrono::steady_clock::now();
  try {
    fn();
  } catch (const std::exception& e) {
    tally.record(name, "aborted", false, e.what());
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const std::lock_guard lock(tally.mutex);
  tally.seconds[name] = std::round(seconds * 10) / 10;
}

}  // namespace

TEST_CASE("tampering with artifacts and the event log is detected and named", "[stress][tamper]") {
  const long small_bytes = lm::stress::knob("SMALL_BYTES", 4096, 65536);
  const long ref_bytes = lm::stress::knob("REF_BYTES", 1024, 65536);
  const long large_mib = lm::stress::knob("LARGE_MIB", 40, 512);
  const long large_ops = lm::stress::knob("LARGE_OPS", 200, 10000);
  const long log_models = lm::stress::knob("LOG_MODELS", 2, 10);
  const std::uint64_t seed = lm::stress::seed();
  INFO("seed " << seed);
  const auto start = std::chrono::steady_clock::now();
  Tally tally;
  // Sandboxes are made here: making one asserts, and Catch assertions
  // belong on the main thread. The two threads share nothing else.
  Sandbox small_sb, other_sb, dir_sb, log_sb;
  std::thread small_thread([&] {
    part(tally, "small stored", [&] { small_stored(small_sb, tally, std::mt19937_64(seed), small_bytes); });
  });
  std::mt19937_64 rng(seed ^ 0x9e3779b97f4a7c15ULL);
  part(tally, "referenced and large", [&] { referenced_and_large(other_sb, tally, rng, ref_bytes, large_mib, large_ops); });
  part(tally, "directories", [&] { directories(dir_sb, tally, rng); });
  part(tally, "log", [&] { log_rows(log_sb, tally, rng, log_models); });
  small_thread.join();
  tally.seconds["total"] = std::round(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  tally.report_misses();

  nlohmann::json groups = nlohmann::json::object();
  long log_rows_edited = 0;
  for (const auto& [name, g] : tally.groups) {
    groups[name] = {{"cases", g.cases}, {"detected", g.detected}};
    if (name == "log: a column edited") log_rows_edited = g.cases / static_cast<long>(event_columns().size());
  }
  const long failures = (tally.cases() - tally.detected()) + static_cast<long>(tally.control_failures.size());
  const auto kib = [](long bytes) {
    return bytes % 1024 ? std::to_string(bytes) + " B" : std::to_string(bytes / 1024) + " KiB";
  };
  lm::stress::report({
      .id = "4-tamper",
      .suite = "Tampering",
      .scale = kib(small_bytes) + " stored + " + kib(ref_bytes) + " referenced, every byte; " + std::to_string(large_mib) +
               " MiB × " + std::to_string(large_ops) + " random; directories × 2 store modes; " +
               std::to_string(log_rows_edited) + " log rows × 9 columns, deletes, swaps, forgeries, rewrites",
      .reached = std::to_string(tally.detected()) + " of " + std::to_string(tally.cases()) +
                 " tamper cases detected and named; " +
                 std::to_string(tally.controls - static_cast<long>(tally.control_failures.size())) + " of " +
                 std::to_string(tally.controls) + " rewrites unnoticed without the anchor, as documented",
      .failures = failures,
      .details = {{"seed", seed}, {"seconds", tally.seconds}, {"groups", groups}, {"missed", tally.missed}},
  });
  CHECK(tally.cases() > 0);
  CHECK(failures == 0);
}
