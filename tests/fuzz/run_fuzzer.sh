#!/usr/bin/env bash
# Fuzzes each target for a fixed time on its kept corpus, and records the
# run as a row of the reliability table (tests/stress/report.py).
#
#   tests/fuzz/run_fuzzer.sh BUILD_DIR [SECONDS [TARGET...]]
#
# BUILD_DIR is a build with -DLASTMILE_FUZZ=ON; SECONDS per target defaults
# to $LASTMILE_FUZZ_SECONDS, else 30; TARGET is e.g. names (default: every
# fuzz_* in BUILD_DIR). Targets run side by side, one per core.
#
# The kept corpus (tests/fuzz/corpus/TARGET) is only read: what a run finds
# goes to a temporary directory, deleted afterwards. A crash, leak, timeout
# or sanitizer report fails the run; its reproducer is copied to
# RESULTS/fuzz-artifacts/TARGET/ and printed. Replay it with
#   BUILD_DIR/tests/fuzz/fuzz_TARGET FILE
# RESULTS is $LASTMILE_STRESS_RESULTS, else BUILD_DIR/stress-results.
set -euo pipefail

usage() {
  echo "usage: $0 BUILD_DIR [SECONDS [TARGET...]]" >&2
  exit 64
}
[ $# -ge 1 ] || usage
readonly build=$(cd "$1" && pwd)
readonly here=$(cd "$(dirname "$0")" && pwd)
readonly default_seconds=30
seconds=${2:-${LASTMILE_FUZZ_SECONDS:-$default_seconds}}
[[ $seconds =~ ^[1-9][0-9]*$ ]] || usage
readonly seconds
# A row is "ci" at the size CI runs; anything longer is a run by hand.
size=ci
[ "$seconds" -le "$default_seconds" ] || size=large
readonly size
shift $(($# >= 2 ? 2 : 1))
readonly results=${LASTMILE_STRESS_RESULTS:-$build/stress-results}
mkdir -p "$results"

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for bin in "$build"/tests/fuzz/fuzz_*; do
    [ -x "$bin" ] && targets+=("${bin##*/fuzz_}")
  done
fi
[ ${#targets[@]} -gt 0 ] || { echo "$0: no fuzz targets in $build/tests/fuzz (build with -DLASTMILE_FUZZ=ON)" >&2; exit 66; }

# The longest input each target is given: room for its largest seed and
# for growth (a registry database is tens of KiB).
max_len() {
  case $1 in
    names) echo 256 ;;
    registry_db) echo 131072 ;;
    event) echo 32768 ;;
    *) echo 16384 ;;
  esac
}

readonly work=$(mktemp -d "${TMPDIR:-/tmp}/lastmile-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT

# fuzz TARGET: runs it, writes its row, returns libFuzzer's status.
fuzz() {
  local target=$1 bin=$build/tests/fuzz/fuzz_$1 corpus=$here/corpus/$1
  local dir=$work/$target status=0
  mkdir -p "$dir/new" "$dir/artifacts"
  [ -x "$bin" ] || { echo "$0: no $bin" >&2; return 66; }
  local kept
  kept=$(find "$corpus" -type f 2>/dev/null | wc -l)
  # The per-input timeout is generous for a Debug build under ASan.
  timeout --kill-after=10 $((seconds + 300)) "$bin" \
    -max_total_time="$seconds" -max_len="$(max_len "$target")" -timeout=20 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$dir/artifacts/" \
    "$dir/new" "$corpus" >"$dir/log" 2>&1 || status=$?
  local artifact=""
  if [ -n "$(ls -A "$dir/artifacts")" ]; then
    mkdir -p "$results/fuzz-artifacts/$target"
    cp "$dir/artifacts"/* "$results/fuzz-artifacts/$target/"
    artifact=$results/fuzz-artifacts/$target/$(ls "$dir/artifacts" | head -1)
  fi
  python3 - "$dir/log" "$results/7-fuzz-$target.json" "$target" "$seconds" "$kept" "$status" \
    "$artifact" "$size" "$(find "$dir/new" -type f | wc -l)" <<'PY'
import datetime, json, re, sys
log_path, row_path, target, seconds, kept, status, artifact, size, new = sys.argv[1:]
log = open(log_path, encoding="utf-8", errors="replace").read()
execs = re.search(r"stat::number_of_executed_units: (\d+)", log)
cov = re.findall(r"cov: (\d+) ft: (\d+)", log)
status = int(status)
failures = 0 if status == 0 else 1
kind = "crashes" if failures == 0 else next(
    (k for k in ("leak", "timeout", "out-of-memory", "deadly signal", "uncaught exception")
     if k in log.lower()), "crash")
reached = (f"{int(execs.group(1)):,} executions" if execs else "did not finish") + (
    ", 0 crashes" if failures == 0 else f", 1 {kind}")
row = {
    "suite": "Fuzzing",
    "scale": f"fuzz_{target}, {seconds} s on a kept corpus of {kept} inputs",
    "reached": reached,
    "failures": failures,
    "details": {"exit": status, "executions": int(execs.group(1)) if execs else 0,
                "coverage": int(cov[-1][0]) if cov else 0, "features": int(cov[-1][1]) if cov else 0,
                "new_inputs": int(new), "reproducer": artifact},
    "size": size,
    "finished": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
}
with open(row_path, "w", encoding="utf-8") as f:
    f.write(json.dumps(row, indent=2) + "\n")
print(f"fuzz_{target}: {reached} in {seconds} s (coverage {row['details']['coverage']}, "
      f"{new} new inputs)")
PY
  if [ "$status" -ne 0 ]; then
    echo "fuzz_$target FAILED (exit $status); the end of its log:" >&2
    grep -v '^#[0-9]' "$dir/log" | tail -40 >&2
    [ -z "$artifact" ] || echo "reproducer: $artifact (replay: $bin $artifact)" >&2
  fi
  return "$status"
}

# One target per core; each leaves its status in WORK/TARGET.status.
jobs=$(nproc 2>/dev/null || echo 2)
for target in "${targets[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
  (status=0; fuzz "$target" || status=$?; echo "$status" >"$work/$target.status") &
done
wait
failed=0
for target in "${targets[@]}"; do
  [ "$(cat "$work/$target.status")" = 0 ] || failed=1
done
exit "$failed"
