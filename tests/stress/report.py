#!/usr/bin/env python3
"""The reliability table, from the figures the stress suites wrote.

    report.py RESULTS_DIR                 print the table (Markdown)
    report.py RESULTS_DIR --update FILE   also put it into FILE, between the
                                          reliability-report markers

Each suite writes RESULTS_DIR/<id>.json (tests/stress/stress.hpp, and
tests/fuzz/run_fuzzer.sh for the fuzz targets). Exits 1 when a suite reported
failures, so that a bad run never reads as a good table.
"""
import argparse
import json
import pathlib
import sys

BEGIN = "<!-- reliability-report:begin -->"
END = "<!-- reliability-report:end -->"


def load_rows(results: pathlib.Path):
    rows = []
    for path in sorted(results.glob("*.json")):
        with open(path, encoding="utf-8") as f:
            row = json.load(f)
        row["id"] = path.stem
        rows.append(row)
    return rows


def cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render(rows) -> str:
    lines = [
        "| suite | size | reached | failures | finished (UTC) |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            "| {} | {} | {} | {} | {} |".format(
                cell(row["suite"]),
                cell(row["scale"]) + ("" if row.get("size", "ci") == "ci" else " (" + row["size"] + ")"),
                cell(row["reached"]),
                row["failures"],
                cell(row.get("finished", "")),
            )
        )
    return "\n".join(lines) + "\n"


def update(target: pathlib.Path, table: str) -> None:
    text = target.read_text(encoding="utf-8")
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        sys.exit(f"report.py: {target} has no {BEGIN} ... {END} section")
    text = text[: start + len(BEGIN)] + "\n" + table + text[end:]
    target.write_text(text, encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=pathlib.Path)
    parser.add_argument("--update", type=pathlib.Path, metavar="FILE")
    args = parser.parse_args()
    rows = load_rows(args.results) if args.results.is_dir() else []
    if not rows:
        print(f"report.py: no results in {args.results}", file=sys.stderr)
        return 0
    table = render(rows)
    print(table, end="")
    if args.update:
        update(args.update, table)
    failed = [row["id"] for row in rows if row["failures"]]
    if failed:
        print("report.py: failures in " + ", ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
