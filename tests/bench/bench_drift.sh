#!/usr/bin/env bash
# Drift of 1,000,000 rows x 20 columns against a profile, against two
# standard streaming passes over the same file in the same run: awk summing
# every field (the least a pass can do) and python3's csv module binning
# every value with bisect (what a script would do). Run by hand, never in CI.
#
#   tests/bench/bench_drift.sh [LASTMILE_BINARY]
#
# BENCH_RUNS   runs per measurement, the median is reported (default 5)
# ROWS         rows of current data (default 1000000)
#
# Target (from the issue): <= 3 s and <= 100 MiB peak on 2 cores.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
LASTMILE=$(realpath "${1:-$root/build/lastmile}")
RUNS=${BENCH_RUNS:-5}
ROWS=${ROWS:-1000000}
# shellcheck source=tests/bench/lib.sh
source "$root/tests/bench/lib.sh"

work=$(mktemp -d "${TMPDIR:-/tmp}/lastmile-bench-drift.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
git init -q repo && cd repo
git config user.name bench && git config user.email bench@example.com

# 20 numeric columns; the current data is shifted a little in half of them.
generate() {
  python3 - "$1" "$2" "$3" <<'PY'
import random, sys
path, rows, shift = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
random.seed(rows)
with open(path, "w") as f:
    f.write(",".join(f"c{i}" for i in range(20)) + "\n")
    for _ in range(rows):
        f.write(",".join(f"{random.gauss(i + (shift if i % 2 else 0), 1 + i / 10):.4f}" for i in range(20)) + "\n")
PY
}
generate reference.csv 100000 0
generate current.csv "$ROWS" 1.5
size_mib=$(($(stat -c %s current.csv) / 1048576))

"$LASTMILE" init -q
"$LASTMILE" dataset register features reference.csv -q
"$LASTMILE" profile features@0.1.0 -q >/dev/null

drift() { "$LASTMILE" drift features@0.1.0 --current current.csv -q >/dev/null || [ $? -eq 1 ]; }
awk_pass() { awk -F, 'NR > 1 { for (i = 1; i <= NF; i++) s[i] += $i } END { print s[1] }' current.csv; }
python_pass() {
  python3 - <<'PY'
import bisect, csv
edges = [[(k - 5) * (1 + i / 10) + i for k in range(1, 10)] for i in range(20)]
counts = [[0] * 10 for _ in range(20)]
with open("current.csv", newline="") as f:
    reader = csv.reader(f)
    next(reader)
    for row in reader:
        for i, v in enumerate(row):
            counts[i][bisect.bisect_left(edges[i], float(v))] += 1
PY
}

lastmile_ms=$(median_ms drift)
awk_ms=$(median_ms awk_pass)
python_ms=$(median_ms python_pass)
# (Exit 1 is drift found, as it should be.)
peak_kib=$({ /usr/bin/time -f %M "$LASTMILE" drift features@0.1.0 --current current.csv -q 2>&1 >/dev/null || true; } | tail -1)

# What was timed measured something: the shift is there to find.
"$LASTMILE" drift features@0.1.0 --current current.csv --json >result.json || true
python3 -c "import json; d=json.load(open('result.json')); assert d['rows'] == $ROWS, d['rows']; print('drifted columns:', d['drifted_columns'], 'of', len(d['columns']))"

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo "drift of $ROWS rows x 20 columns ($size_mib MiB of CSV), $RUNS runs, medians:"
echo "  lastmile drift                 $lastmile_ms ms, peak $((peak_kib / 1024)) MiB"
echo "  awk summing every field        $awk_ms ms  (lastmile / awk: $(ratio "$lastmile_ms" "$awk_ms")x)"
echo "  python3 csv + bisect binning   $python_ms ms  (lastmile / python: $(ratio "$lastmile_ms" "$python_ms")x)"
