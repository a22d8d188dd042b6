#!/usr/bin/env python3
"""Runs a Catch2 test binary and records the run as a row of the reliability
table (see report.py), with the test cases and assertions Catch counted.

    catch_row.py --id ID --suite SUITE --scale SCALE -- BINARY [ARGS...]

The row goes to $LASTMILE_STRESS_RESULTS (default: ./stress-results). The
exit status is the binary's.
"""
import argparse
import datetime
import json
import os
import pathlib
import re
import subprocess
import sys


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--id", required=True)
    parser.add_argument("--suite", required=True)
    parser.add_argument("--scale", required=True)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    run = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    sys.stdout.write(run.stdout)
    passed = re.search(r"All tests passed \((\d+) assertions? in (\d+) test cases?\)", run.stdout)
    failed = re.search(r"test cases?: (\d+) \| (\d+) passed \| (\d+) failed", run.stdout)
    if passed and run.returncode == 0:
        reached = f"{passed.group(2)} test cases, {passed.group(1)} assertions passed"
        failures = 0
    else:
        reached = f"{failed.group(1)} test cases, {failed.group(3)} failed" if failed else "did not finish"
        failures = int(failed.group(3)) if failed else 1
    results = pathlib.Path(os.environ.get("LASTMILE_STRESS_RESULTS") or "stress-results")
    results.mkdir(parents=True, exist_ok=True)
    row = {
        "suite": args.suite,
        "scale": args.scale,
        "reached": reached,
        "failures": failures,
        "details": {"exit": run.returncode},
        "size": "ci",
        "finished": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    (results / f"{args.id}.json").write_text(json.dumps(row, indent=2) + "\n", encoding="utf-8")
    return run.returncode


if __name__ == "__main__":
    sys.exit(main())
