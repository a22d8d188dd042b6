#!/usr/bin/env bash
# Benchmark of `lastmile register` and `lastmile verify` against the tools a
# user would otherwise reach for (openssl dgst, sha256sum), on one machine in
# one run, so the ratios are meaningful even though the absolute times are not.
#
# Run by hand, never in CI: it writes about 10 GiB and takes minutes.
#
#   tests/bench/bench_register.sh [LASTMILE_BINARY]
#
# LASTMILE_BINARY  default: build/lastmile relative to the repository root
# BENCH_DIR        where to put the work files (default /var/tmp); the script
#                  works in a fresh subdirectory of it and removes that at exit
# BENCH_RUNS       timed runs per measurement, the median is reported (default 5)
# BENCH_SEED       seed for the generated data (default 42)
# BENCH_SETTLE     seconds to wait after `sync` before each timed write (default 1)
#
# Cases:
#   1. one 1 GiB file:   openssl dgst, sha256sum, register (copy, reference)
#   2. ~2,000 files, 1 GiB: one-core sha256sum / openssl vs register
#   3. verify of the 1 GiB version: first, second, quick (stat cache), --deep
#   4. peak RSS while registering a 4 GiB file (skipped with < 12 GiB free)
set -euo pipefail
# EPOCHREALTIME uses the locale's decimal point; the arithmetic below needs '.'.
export LC_ALL=C

readonly GIB=$((1 << 30))
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
LASTMILE=$(realpath "${1:-$REPO_ROOT/build/lastmile}")
RUNS=${BENCH_RUNS:-5}
SEED=${BENCH_SEED:-42}
SETTLE=${BENCH_SETTLE:-1}
readonly REPO_ROOT LASTMILE RUNS SEED SETTLE

# Targets, from the design notes.
readonly TARGET_COPY_RATIO=1.3      # copy-mode register <= 1.3x openssl dgst
readonly TARGET_QUICK_VERIFY_MS=20  # verify of an unchanged 1 GiB version
readonly TARGET_RSS_MIB=64          # peak RSS registering 4 GiB
readonly MIN_FREE_GIB=6             # cases 1-3: 1 GiB file, 1 GiB tree, objects
readonly MIN_FREE_GIB_BIG=12        # case 4: 4 GiB source + 4 GiB object + slack

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'bench_register: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- work dir

WORK=$(mktemp -d "${BENCH_DIR:-/var/tmp}/lastmile-bench.XXXXXX")
readonly WORK LOG="$WORK/last-command.log"
cleanup() { rm -rf "$WORK"; }
trap cleanup EXIT
# Without these, SIGINT/SIGTERM would end the shell without running the EXIT trap.
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- helpers

free_gib() { df -P -k "$1" | awk 'NR == 2 { printf "%d", $4 / 1048576 }'; }

# Runs a command with its output in $LOG; on failure shows the log and stops,
# so a broken lastmile never turns into a fast-looking time.
quiet() {
  if ! "$@" >"$LOG" 2>&1; then
    cat "$LOG" >&2
    die "command failed: $*"
  fi
}

# SAMPLES[key] holds the space-separated wall times (microseconds) of a key.
declare -A SAMPLES=()

# measure KEY CMD...: runs CMD once and appends its wall time to SAMPLES[KEY].
# EPOCHREALTIME is a shell variable, so no fork sits inside the timed span.
measure() {
  local key=$1 t0 t1
  shift
  t0=$EPOCHREALTIME
  quiet "$@"
  t1=$EPOCHREALTIME
  SAMPLES[$key]+=" $(( ${t1/./} - ${t0/./} ))"
}

median() {  # median of the integers given as arguments
  printf '%s\n' "$@" | sort -n |
    awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : int((v[NR / 2] + v[NR / 2 + 1]) / 2) }'
}
# shellcheck disable=SC2086  # word splitting wanted: one sample a word
median_us() { median ${SAMPLES[$1]}; }
# "min-max" of a key's samples, in seconds: how noisy the median is.
spread() {
  # shellcheck disable=SC2086  # one sample a word
  printf '%s\n' ${SAMPLES[$1]} | sort -n |
    awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%.3f-%.3f s", lo / 1e6, hi / 1e6 }'
}

us_to_s() { awk -v u="$1" 'BEGIN { printf "%.3f s", u / 1e6 }'; }
us_to_ms() { awk -v u="$1" 'BEGIN { printf "%.1f ms", u / 1e3 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; }
# pass_if A OP B: PASS or FAIL for the numeric comparison.
pass_if() { awk -v a="$1" -v b="$3" -v op="$2" 'BEGIN {
  ok = (op == "<=") ? a <= b : (op == "<") ? a < b : 0; print ok ? "PASS" : "FAIL" }'; }

# The result table, one Markdown row a line.
ROWS=()
NOTES=()
row() { ROWS+=("| $1 | $2 | $3 | $4 | $5 | $6 |"); }
note() { NOTES+=("$*"); }

# A deterministic pseudo-random byte stream: AES-CTR of zeros keyed by the seed.
# Much faster than /dev/urandom and reproducible, and just as incompressible.
random_stream() {
  local key
  key=$(printf '%032x' "$1")
  # openssl dies of SIGPIPE when the reader has enough; that is the normal end.
  openssl enc -aes-128-ctr -nosalt -K "$key" -iv 0 </dev/zero 2>/dev/null || true
}

make_random_file() {  # PATH BYTES SEED
  random_stream "$3" | head -c "$2" >"$1"
  [[ $(stat -c %s "$1") -eq $2 ]] || die "could not write $1"
}

# ~2,000 files totalling exactly BYTES in 16 subdirectories: mostly small
# files (1-256 KiB), some medium (256 KiB-4 MiB) and 20 large ones that take
# the rest, the sizes log-uniform from a seeded RNG, the order shuffled.
make_random_tree() {  # DIR BYTES SEED
  random_stream "$3" | python3 -c '
import math, os, random, sys
root, total, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(seed)
def log_uniform(lo, hi):
    return int(math.exp(rng.uniform(math.log(lo), math.log(hi))))
sizes = [log_uniform(1 << 10, 256 << 10) for _ in range(1600)]
sizes += [log_uniform(256 << 10, 4 << 20) for _ in range(380)]
rest = total - sum(sizes)
assert rest > 0, "tree too small for the size mix"
weights = [rng.uniform(0.5, 1.5) for _ in range(20)]
large = [int(rest * w / sum(weights)) for w in weights]
large[-1] += rest - sum(large)
sizes += large
rng.shuffle(sizes)
stream = sys.stdin.buffer
for i, size in enumerate(sizes):
    sub = os.path.join(root, "shard%02d" % (i % 16))
    os.makedirs(sub, exist_ok=True)
    with open(os.path.join(sub, "part-%04d.bin" % i), "wb") as out:
        left = size
        while left:
            chunk = stream.read(min(left, 1 << 20))
            if not chunk:
                sys.exit("random stream ended early")
            out.write(chunk)
            left -= len(chunk)
' "$1" "$2" "$3"
}

# Reads everything once so every tool hashes from the page cache, not the disk.
warm_cache() { find "$1" -type f -print0 | xargs -0 cat >/dev/null; }

# Writeback of earlier runs' dirty pages must not land in a later timed span,
# and the kernel work that follows freeing a GiB of page cache (on VMs,
# returning it to the host) must not steal a core from it either.
settle() {
  sync
  sleep "$SETTLE"
}

# lastmile against the registry in $1. main() runs everything from $WORK, which
# is not a git work tree, so no provenance lookup of some other repo is timed.
lm() {
  local registry=$1
  shift
  "$LASTMILE" --registry "$registry" --color never "$@"
}

fresh_registry() {  # DIR: an empty, initialised registry at DIR
  rm -rf "$1"
  quiet lm "$1" init
}

sha256sum_tree() { find "$1" -type f -print0 | xargs -0 sha256sum; }
# One openssl process for every file: the fastest single-core baseline.
openssl_tree() {
  local -a files
  mapfile -d '' files < <(find "$1" -type f -print0)
  openssl dgst -sha256 "${files[@]}"
}

json_field() {  # FIELD < JSON: one top-level number from lastmile's --json
  python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"
}

# ---------------------------------------------------------------- cases

bench_single_file() {
  local file=$WORK/data/model-1g.bin reg=$WORK/reg-single run
  say "case 1: one 1 GiB file, $RUNS runs"
  mkdir -p "$WORK/data"
  make_random_file "$file" "$GIB" "$SEED"
  settle
  for ((run = 1; run <= RUNS; run++)); do
    say "  run $run/$RUNS"
    warm_cache "$file"
    measure file.openssl openssl dgst -sha256 "$file"
    measure file.sha256sum sha256sum "$file"
    # What copy mode does besides hashing, split in two: writing the bytes
    # into the page cache, then fsync (coreutils `sync FILE` fsyncs FILE).
    settle
    measure file.write dd if="$file" of="$WORK/data/copy.bin" bs=1M status=none
    measure file.fsync sync "$WORK/data/copy.bin"
    rm -f "$WORK/data/copy.bin"
    fresh_registry "$reg"
    settle
    measure file.copy lm "$reg" register bench "$file" --version 1.0.0 --store copy
    fresh_registry "$reg"
    settle
    measure file.reference lm "$reg" register bench "$file" --version 1.0.0 --store reference
  done
  rm -rf "$reg"

  local ossl sum write fsync copy ref
  ossl=$(median_us file.openssl)
  sum=$(median_us file.sha256sum)
  write=$(median_us file.write)
  fsync=$(median_us file.fsync)
  copy=$(median_us file.copy)
  ref=$(median_us file.reference)
  OPENSSL_1G_US=$ossl  # case 3 compares verify --deep with it
  row "1 GiB file" "openssl dgst -sha256 (reference)" "$(us_to_s "$ossl")" "1.00x" "" ""
  row "1 GiB file" "sha256sum" "$(us_to_s "$sum")" "$(ratio "$sum" "$ossl")" "" ""
  row "1 GiB file" "dd bs=1M (write to page cache, no hash)" "$(us_to_s "$write")" \
    "$(ratio "$write" "$ossl")" "" "info"
  row "1 GiB file" "fsync of that copy (sync FILE)" "$(us_to_s "$fsync")" \
    "$(ratio "$fsync" "$ossl")" "" "info"
  row "1 GiB file" "lastmile register --store copy" "$(us_to_s "$copy")" \
    "$(ratio "$copy" "$ossl")" "<= ${TARGET_COPY_RATIO}x" \
    "$(pass_if "$(awk -v a="$copy" -v b="$ossl" 'BEGIN { print a / b }')" "<=" "$TARGET_COPY_RATIO")"
  row "1 GiB file" "lastmile register --store reference" "$(us_to_s "$ref")" \
    "$(ratio "$ref" "$ossl")" "" "info"
  note "1 GiB spread (min-max): openssl $(spread file.openssl), dd write $(spread file.write)," \
    "fsync $(spread file.fsync), copy $(spread file.copy), reference $(spread file.reference)"
}

copy_tree_durably() {  # SRC DEST: cp -r, then sync the file system
  cp -r "$1" "$2" && sync -f "$2"
}

bench_tree() {
  local tree=$WORK/data/tree reg=$WORK/reg-tree run count
  say "case 2: a tree of ~2,000 files, 1 GiB, $RUNS runs"
  mkdir -p "$tree"
  make_random_tree "$tree" "$GIB" "$((SEED + 1))"
  count=$(find "$tree" -type f | wc -l)
  settle
  for ((run = 1; run <= RUNS; run++)); do
    say "  run $run/$RUNS"
    warm_cache "$tree"
    measure tree.sha256sum sha256sum_tree "$tree"
    measure tree.openssl openssl_tree "$tree"
    # What copy mode must do besides hashing: copy the bytes and make them
    # durable. cp + syncfs is the plain tool for that.
    settle
    measure tree.cp copy_tree_durably "$tree" "$WORK/data/tree-copy"
    rm -rf "$WORK/data/tree-copy"
    fresh_registry "$reg"
    settle
    measure tree.copy lm "$reg" register bench "$tree" --version 1.0.0 --store copy
    fresh_registry "$reg"
    settle
    measure tree.reference lm "$reg" register bench "$tree" --version 1.0.0 --store reference
  done
  rm -rf "$reg" "$tree"

  local sum ossl cpsync copy ref best label
  cpsync=$(median_us tree.cp)
  sum=$(median_us tree.sha256sum)
  ossl=$(median_us tree.openssl)
  copy=$(median_us tree.copy)
  ref=$(median_us tree.reference)
  # "Beat one core" means faster than the faster of the two one-core tools.
  best=$((sum < ossl ? sum : ossl))
  label="$count files, 1 GiB"
  row "$label" "find -print0 \\| xargs -0 sha256sum (1 core)" "$(us_to_s "$sum")" "1.00x" "" ""
  row "$label" "openssl dgst -sha256, 1 process (1 core)" "$(us_to_s "$ossl")" \
    "$(ratio "$ossl" "$sum")" "" ""
  row "$label" "cp -r + sync -f (copy, durable, no hash)" "$(us_to_s "$cpsync")" \
    "$(ratio "$cpsync" "$ossl") openssl" "" "info"
  # Copy mode hashes and writes durably; the fair yardstick is cp + sync.
  row "$label" "lastmile register --store copy" "$(us_to_s "$copy")" \
    "$(ratio "$copy" "$cpsync") cp+sync / $(ratio "$copy" "$ossl") openssl" "<= cp+sync" \
    "$(pass_if "$copy" "<=" "$cpsync")"
  row "$label" "lastmile register --store reference" "$(us_to_s "$ref")" \
    "$(ratio "$ref" "$sum") / $(ratio "$ref" "$ossl") openssl" "beat 1 core" \
    "$(pass_if "$ref" "<" "$best")"
  note "case 2 ratios are to sha256sum / to openssl; lastmile uses $(nproc) cores." \
    "Spread (min-max): sha256sum $(spread tree.sha256sum), openssl $(spread tree.openssl)," \
    "cp+sync $(spread tree.cp), copy $(spread tree.copy), reference $(spread tree.reference)"
}

# verify_once KEY REF [--deep]: one timed verify, noting how many files it rehashed.
verify_once() {
  local key=$1 ref=$2 hashed
  shift 2
  measure "$key" lm "$VERIFY_REG" --json verify "$ref" "$@"
  hashed=$(json_field files_hashed <"$LOG")
  [[ $(json_field ok <"$LOG") == True ]] || die "verify of $ref failed: $(cat "$LOG")"
  VERIFY_HASHED+=("$key:$hashed")
}

bench_verify() {
  local file=$WORK/data/model-1g.bin ref=bench@1.0.0 run quick_runs
  VERIFY_REG=$WORK/reg-verify
  VERIFY_HASHED=()
  # Quick verifies cost milliseconds, so take at least 5 whatever BENCH_RUNS is.
  quick_runs=$((RUNS > 5 ? RUNS : 5))
  say "case 3: verify of the 1 GiB version"
  fresh_registry "$VERIFY_REG"
  warm_cache "$file"
  settle
  quiet lm "$VERIFY_REG" register bench "$file" --version 1.0.0 --store copy
  # Straight after register, as a CI job would: the object is within the
  # stat cache's racy window, so this one may rehash.
  verify_once verify.first "$ref"
  verify_once verify.second "$ref"
  for ((run = 1; run <= quick_runs; run++)); do verify_once verify.quick "$ref"; done
  for ((run = 1; run <= RUNS; run++)); do verify_once verify.deep "$ref" --deep; done
  rm -rf "$VERIFY_REG"

  local first second quick deep
  first=$(median_us verify.first)
  second=$(median_us verify.second)
  quick=$(median_us verify.quick)
  deep=$(median_us verify.deep)
  row "verify 1 GiB" "1st verify, right after register" "$(us_to_ms "$first")" "" "" "info"
  row "verify 1 GiB" "2nd verify" "$(us_to_ms "$second")" "" "" "info"
  row "verify 1 GiB" "quick verify (next $quick_runs)" "$(us_to_ms "$quick")" "" \
    "<= $TARGET_QUICK_VERIFY_MS ms" "$(pass_if "$quick" "<=" "$((TARGET_QUICK_VERIFY_MS * 1000))")"
  row "verify 1 GiB" "verify --deep" "$(us_to_s "$deep")" \
    "$(ratio "$deep" "$OPENSSL_1G_US") openssl" "" "info"
  note "files rehashed per verify (key:count): ${VERIFY_HASHED[*]}"
}

# Makes sure /usr/bin/time (GNU time, for %M) exists, installing it if we can.
have_gnu_time() {
  [[ -x /usr/bin/time ]] && return 0
  command -v apt-get >/dev/null || return 1
  say "installing GNU time with apt-get"
  local sudo=()
  [[ $(id -u) -eq 0 ]] || sudo=(sudo)
  "${sudo[@]}" apt-get install -y -q time >/dev/null 2>&1 || return 1
  [[ -x /usr/bin/time ]]
}

# peak_rss MODE FILE: sets RSS_MIB to the max RSS of one register of FILE
# into a fresh registry (and records its wall time under rss.MODE).
peak_rss() {
  local mode=$1 file=$2 reg=$WORK/reg-rss kib
  fresh_registry "$reg"
  settle
  measure "rss.$mode" /usr/bin/time -f %M -o "$WORK/rss" \
    "$LASTMILE" --registry "$reg" register bench "$file" --version 1.0.0 --store "$mode"
  kib=$(tail -n 1 "$WORK/rss")
  rm -rf "$reg"
  RSS_MIB=$(awk -v k="$kib" 'BEGIN { printf "%.1f", k / 1024 }')
}

bench_memory() {
  local file=$WORK/data/model-4g.bin free mode
  say "case 4: peak memory registering a 4 GiB file"
  if ! have_gnu_time; then
    say "  skipped: /usr/bin/time (GNU time) is missing and could not be installed"
    row "4 GiB file" "peak RSS" "skipped" "" "<= $TARGET_RSS_MIB MiB" "SKIP"
    return
  fi
  free=$(free_gib "$WORK")
  if ((free < MIN_FREE_GIB_BIG)); then
    say "  skipped: $free GiB free in $WORK, need $MIN_FREE_GIB_BIG GiB"
    row "4 GiB file" "peak RSS" "skipped ($free GiB free)" "" "<= $TARGET_RSS_MIB MiB" "SKIP"
    return
  fi
  make_random_file "$file" "$((4 * GIB))" "$((SEED + 2))"
  warm_cache "$file"
  settle
  # One run each: peak RSS does not vary the way wall time does.
  for mode in copy reference; do
    peak_rss "$mode" "$file"
    row "4 GiB file" "lastmile register --store $mode: peak RSS" "$RSS_MIB MiB" "" \
      "<= $TARGET_RSS_MIB MiB" "$(pass_if "$RSS_MIB" "<=" "$TARGET_RSS_MIB")"
    note "4 GiB register --store $mode took $(us_to_s "$(median_us "rss.$mode")") (1 run)"
  done
  rm -f "$file"
}

# ---------------------------------------------------------------- report

machine_facts() {
  local cpu sha fs
  cpu=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)
  [[ -n $cpu ]] || cpu=$(lscpu 2>/dev/null | awk -F': *' '/^Model name/ { print $2; exit }')
  sha=no
  grep -qw -e sha_ni -e sha2 /proc/cpuinfo && sha=yes
  fs=$(df -P -T "$WORK" | awk 'NR == 2 { print $2 " on " $1 }')
  echo "- lastmile: $("$LASTMILE" --version 2>&1 | head -n 1) ($LASTMILE)"
  echo "- cores (nproc): $(nproc)"
  echo "- CPU: ${cpu:-unknown}"
  echo "- SHA extensions (sha_ni / sha2): $sha"
  echo "- memory: $(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo);" \
    "first touch of 1 GiB of fresh memory: $FIRST_TOUCH"
  echo "- filesystem of the work dir: $fs"
  echo "- kernel: $(uname -sr); $(openssl version); $(sha256sum --version | head -n 1)"
  echo "- other load (CPU busy over 1 s with the benchmark idle):" \
    "${BUSY_BEFORE}% before, $(cpu_busy_percent)% after"
  echo "- runs per measurement: $RUNS (median reported), seed $SEED, settle ${SETTLE}s after sync"
}

print_report() {
  echo
  echo "## lastmile register/verify benchmark"
  echo
  machine_facts
  echo
  echo "| case | tool | median | ratio | target | result |"
  echo "|---|---|---|---|---|---|"
  printf '%s\n' "${ROWS[@]}"
  echo
  local n
  for n in "${NOTES[@]}"; do echo "- $n"; done
}

# Seconds to fault in 1 GiB of new anonymous memory. Near 0.1 s on bare metal;
# on VMs that hand freed memory back to the host it can be ~1 s, and then
# every new page-cache page costs that too, which inflates copy-mode writes.
first_touch_cost() {
  python3 -c '
import mmap, time
m = mmap.mmap(-1, 1 << 30)
t = time.perf_counter()
for off in range(0, 1 << 30, 4096):
    m[off] = 1
print("%.2f s" % (time.perf_counter() - t))
'
}

# Percent of all cores busy over one second, before we start: other work on
# the machine (a build, a test suite) skews every figure, multi-core ones most.
cpu_busy_percent() {
  local -a a b
  read -ra a </proc/stat
  sleep 1
  read -ra b </proc/stat
  # fields: cpu user nice system idle iowait irq softirq steal
  awk -v busy=$(( (b[1] + b[2] + b[3] + b[6] + b[7] + b[8]) - (a[1] + a[2] + a[3] + a[6] + a[7] + a[8]) )) \
    -v idle=$(( (b[4] + b[5]) - (a[4] + a[5]) )) 'BEGIN { printf "%d", 100 * busy / (busy + idle) }'
}

main() {
  [[ -x $LASTMILE ]] || die "no lastmile binary at $LASTMILE (pass its path as \$1)"
  local tool
  for tool in openssl sha256sum python3 dd find xargs; do
    command -v "$tool" >/dev/null || die "$tool is required"
  done
  [[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS must be a positive integer"
  local free
  free=$(free_gib "$WORK")
  ((free >= MIN_FREE_GIB)) || die "$free GiB free in $WORK, need $MIN_FREE_GIB GiB"
  say "work dir $WORK ($free GiB free), lastmile $LASTMILE"
  cd "$WORK"
  FIRST_TOUCH=$(first_touch_cost)
  BUSY_BEFORE=$(cpu_busy_percent)
  if ((BUSY_BEFORE > 10)); then
    say "warning: the machine is ${BUSY_BEFORE}% busy before the benchmark; figures will be skewed"
  fi

  bench_single_file
  bench_tree
  bench_verify
  rm -rf "$WORK/data/model-1g.bin"
  bench_memory
  print_report
}

main "$@"
