#!/usr/bin/env python3
"""Writes the seed corpus of each fuzz target into corpus/<target>/, from
what the tests and the sources already hold:

    seed_corpus.py LASTMILE_BINARY

  names         the names, versions and references in the unit and e2e tests
  metrics       the metrics files the tests write (JSON and YAML)
  policy        the lastmile.yaml texts in the tests, and the one init writes
  template      the built-in templates and the templates in the tests
  event         the event log of a registry made with the binary (JSON lines)
  registry_db   that registry's database, made small (512-byte pages)

Run by hand when the formats change; the seeds are kept in the tree (a
fuzzing run adds what it finds to a temporary directory, never here).
Existing seeds are kept; a seed is named after its content's hash.
"""
import hashlib
import json
import pathlib
import re
import sqlite3
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent

# A C++ string literal, plain or raw.
LITERAL = re.compile(r'R"([^(]*)\((.*?)\)\1"|"((?:[^"\\\n]|\\.)*)"', re.S)
ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "\\": "\\", '"': '"', "'": "'"}


def unescape(text: str) -> str:
    out, i = [], 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            n = text[i + 1]
            if n == "x":
                m = re.match(r"[0-9a-fA-F]{1,2}", text[i + 2:])
                out.append(chr(int(m.group(0), 16)))
                i += 2 + len(m.group(0))
                continue
            out.append(ESCAPES.get(n, n))
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def literals(path: pathlib.Path):
    """Each run of adjacent string literals in a C++ file, joined."""
    text = path.read_text(encoding="utf-8")
    pieces, last_end = [], None
    for m in LITERAL.finditer(text):
        value = m.group(2) if m.group(2) is not None else unescape(m.group(3))
        if pieces and text[last_end:m.start()].strip() == "":
            pieces[-1] += value
        else:
            pieces.append(value)
        last_end = m.end()
    return pieces


def save(target: str, data: bytes) -> None:
    directory = HERE / "corpus" / target
    directory.mkdir(parents=True, exist_ok=True)
    (directory / ("seed-" + hashlib.sha256(data).hexdigest()[:16])).write_bytes(data)


def test_sources(*patterns):
    for pattern in patterns:
        yield from sorted((ROOT / "tests").glob(pattern))


def seed_texts(binary: str) -> None:
    for path in test_sources("unit/test_names.cpp", "e2e/test_e2e_bad_input.cpp", "e2e/test_e2e_read.cpp"):
        for text in literals(path):
            if 0 < len(text) <= 200 and "\n" not in text and " " not in text.strip():
                save("names", text.encode())
    for pair in ["1.0.0\n1.0.0-rc.1", "1.0.0-alpha.1\n1.0.0-alpha.beta", "2.0.0+build.5\n2.0.0"]:
        save("names", pair.encode())
    for path in test_sources("unit/*.cpp", "e2e/*.cpp"):
        for text in literals(path):
            stripped = text.strip()
            if "stages:" in text:
                save("policy", text.encode())
            elif stripped.startswith("{") and stripped.endswith("}") and '"' in stripped or \
                    re.match(r"^[a-z_.]+: [-0-9.a-z]", stripped):
                save("metrics", text.encode())
            if "{{" in text and len(text) > 8:
                save("template", text.encode())
    for path in sorted((ROOT / "templates").glob("*/*.mustache")):
        save("template", path.read_bytes())
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([binary, "init"], cwd=tmp, check=True, capture_output=True)
        save("policy", (pathlib.Path(tmp) / "lastmile.yaml").read_bytes())


def seed_registry(binary: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = pathlib.Path(tmp)
        env = {"PATH": "/usr/bin:/bin", "HOME": tmp, "LASTMILE_ACTOR": "ci <ci@example.com>"}

        def run(*args):
            subprocess.run([binary, *args], cwd=work, env=env, check=True, capture_output=True)

        (work / "data.csv").write_text("a,b\n1,2\n")
        (work / "model").mkdir()
        (work / "model" / "weights.onnx").write_bytes(b"\x08\x01weights")
        (work / "model" / "config.json").write_text('{"layers": 2}')
        (work / "metrics.json").write_text('{"auc": 0.91, "eval": {"loss": 0.2, "split": "holdout"}}')
        (work / "lastmile.yaml").write_text(
            "stages:\n  - name: sandbox\n  - name: staging\n    from: [sandbox]\n"
            "    gates:\n      - {metric: auc, min: 0.8}\n"
            "  - name: production\n    from: [staging]\n    approvals: {count: 1}\n")
        run("init")
        run("dataset", "register", "train", "data.csv")
        run("register", "churn", "model", "--metrics", "metrics.json", "--param", "lr=0.1",
            "--label", "team=ml", "--owner", "ml-team", "--description", "first", "--input", "train@0.1.0")
        (work / "model" / "weights.onnx").write_bytes(b"\x08\x02weights")
        run("register", "churn", "model", "--metric", "auc=0.93", "--parent", "churn@0.1.0")
        run("register", "team/fraud", "data.csv", "--version", "1.0.0-rc.1")
        for version in ("churn@0.1.0", "churn@0.2.0"):
            run("promote", version, "--to", "staging")
            run("approve", version, "--stage", "production", "--comment", "looks good")
            run("promote", version, "--to", "production", "--reason", "better auc")
        run("rollback", "churn", "--stage", "production", "--reason", "latency")
        run("annotate", "churn@0.1.0", "--label", "reviewed=yes")
        db_path = work / ".lastmile" / "registry.db"
        db = sqlite3.connect(db_path)
        rows = db.execute("SELECT seq, id, prev, time, actor, kind, subject, payload FROM events ORDER BY seq")
        lines = []
        for seq, id_, prev, time, actor, kind, subject, payload in rows:
            event = {"seq": seq, "id": id_, "prev": prev, "time": time, "actor": actor,
                     "kind": kind, "subject": subject, "payload": json.loads(payload)}
            lines.append(json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False))
        save("event", ("\n".join(lines) + "\n").encode())
        for line in lines:
            save("event", (line + "\n").encode())
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.execute("PRAGMA journal_mode=DELETE")
        db.execute("PRAGMA page_size=512")
        db.execute("VACUUM")
        db.close()
        save("registry_db", db_path.read_bytes())
        db = sqlite3.connect(db_path)
        db.execute("PRAGMA journal_mode=WAL")
        db.close()
        save("registry_db", db_path.read_bytes())


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 64
    seed_texts(sys.argv[1])
    seed_registry(sys.argv[1])
    for directory in sorted((HERE / "corpus").iterdir()):
        files = list(directory.iterdir())
        print(f"{directory.name}: {len(files)} seeds, {sum(f.stat().st_size for f in files)} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
