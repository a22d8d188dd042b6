#!/usr/bin/env bash
# Push and checkout of a 1 GiB model to a loopback OCI registry (Debian's
# docker-registry, distribution 2.8), against skopeo moving the same artifact
# to and from the same registry in the same run; and a second push of the same
# version, which must upload nothing. Run by hand, never in CI.
#
#   tests/bench/bench_oci.sh [LASTMILE_BINARY]
#
# LASTMILE_BINARY  default: build/lastmile relative to the repository root
# SIZE_MB          size of the model file in MiB (default 1024)
# BENCH_RUNS       timed runs per measurement, the median is reported (default 3)
# BENCH_DIR        where to put the work files (default /var/tmp); the script
#                  works in a fresh subdirectory of it and removes that at exit
# BENCH_SEED       seed for the generated data (default 42)
# BENCH_SETTLE     seconds to wait after `sync` before each timed step (default 1)
#
# What is compared (each timed step starts from the same state for both tools):
#   push      `lastmile push models` into an empty registry (fresh storage each
#             run, so every byte goes over the wire and is written by the
#             registry)  vs  `skopeo copy dir:D docker://…` of the artifact
#             into an empty registry (D: what skopeo downloaded below).
#   checkout  `lastmile checkout big@0.1.0 --to out` in a second registry that
#             pulled the log and lacks the bytes (downloaded, hashed, written
#             out)  vs  `skopeo copy docker://… dir:D` of the same artifact
#             (downloaded, digest-checked, written out).
# skopeo copy docker:// -> docker:// within one registry is not used: skopeo
# mounts the blobs from the source repository (or finds them there), so no
# layer bytes move and it would time a handful of small requests.
#
# Checks (exit 1 when one fails): each timed push sent SIZE_MB; the second
# push sent nothing; the checked-out file is byte for byte the registered one;
# skopeo's download holds the same bytes; each skopeo upload left the blob in
# the (previously empty) registry storage.
set -euo pipefail
export LC_ALL=C  # EPOCHREALTIME with a '.' decimal point

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
LASTMILE=$(realpath "${1:-$REPO_ROOT/build/lastmile}")
SIZE_MB=${SIZE_MB:-1024}
RUNS=${BENCH_RUNS:-3}
SEED=${BENCH_SEED:-42}
SETTLE=${BENCH_SETTLE:-1}
readonly REPO_ROOT LASTMILE SIZE_MB RUNS SEED SETTLE
readonly SIZE=$((SIZE_MB << 20))
readonly REGISTRY_BIN=/usr/bin/docker-registry
# shellcheck source=tests/bench/lib.sh
source "$REPO_ROOT/tests/bench/lib.sh"

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'bench_oci: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- work dir

WORK=$(mktemp -d "${BENCH_DIR:-/var/tmp}/lastmile-bench-oci.XXXXXX")
readonly WORK LOG="$WORK/last-command.log"
REGISTRY_PID=
stop_registry() {
  [[ -n $REGISTRY_PID ]] || return 0
  kill "$REGISTRY_PID" 2>/dev/null || true
  wait "$REGISTRY_PID" 2>/dev/null || true
  REGISTRY_PID=
}
cleanup() {
  stop_registry
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- helpers

# Runs a command with its standard output in $LOG (the --json answers read
# below) and its errors in $LOG.err; on failure shows both and stops, so a
# failed transfer never turns into a fast-looking time.
quiet() {
  if ! "$@" >"$LOG" 2>"$LOG.err"; then
    cat "$LOG" "$LOG.err" >&2
    die "command failed: $*"
  fi
}

# SAMPLES[key] holds the space-separated wall times (microseconds) of a key.
declare -A SAMPLES=()
measure() {  # KEY CMD...: runs CMD once (output in $LOG), records its wall time
  local key=$1 t0 t1
  shift
  t0=$EPOCHREALTIME
  quiet "$@"
  t1=$EPOCHREALTIME
  SAMPLES[$key]+=" $(( ${t1/./} - ${t0/./} ))"
}
median_us() {
  # shellcheck disable=SC2086  # one sample a word
  printf '%s\n' ${SAMPLES[$1]} | sort -n |
    awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : int((v[NR / 2] + v[NR / 2 + 1]) / 2) }'
}
spread() {  # "min-max" of a key's samples, in seconds
  # shellcheck disable=SC2086
  printf '%s\n' ${SAMPLES[$1]} | sort -n |
    awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%.2f-%.2f s", lo / 1e6, hi / 1e6 }'
}
us_to_s() { awk -v u="$1" 'BEGIN { printf "%.2f s", u / 1e6 }'; }
mib_s() { awk -v u="$1" -v b="$SIZE" 'BEGIN { printf "%.0f", b / 1048576 / (u / 1e6) }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; }

settle() { sync; sleep "$SETTLE"; }

# Percent of all cores busy over one second: other work on the machine (a
# build, a test suite) skews every figure.
cpu_busy_percent() {
  local -a a b
  read -ra a </proc/stat
  sleep 1
  read -ra b </proc/stat
  # fields: cpu user nice system idle iowait irq softirq steal
  awk -v busy=$(( (b[1] + b[2] + b[3] + b[6] + b[7] + b[8]) - (a[1] + a[2] + a[3] + a[6] + a[7] + a[8]) )) \
    -v idle=$(( (b[4] + b[5]) - (a[4] + a[5]) )) 'BEGIN { printf "%d", 100 * busy / (busy + idle) }'
}

# python3 one-liners on lastmile's --json output (in $LOG).
json() { python3 -c "import json, sys; d = json.load(open(sys.argv[1])); $1" "$LOG"; }

lm() { "$LASTMILE" --color never "$@"; }

# ---------------------------------------------------------------- the registry

PORT=
STORAGE=$WORK/registry-storage
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# (Re)starts the registry on $PORT with empty storage.
start_registry() {
  stop_registry
  rm -rf "$STORAGE"
  mkdir -p "$STORAGE"
  [[ -n $PORT ]] || PORT=$(free_port)
  cat >"$WORK/registry.yml" <<EOF
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $STORAGE
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$PORT
  secret: lastmile-bench
EOF
  "$REGISTRY_BIN" serve "$WORK/registry.yml" >>"$WORK/registry.log" 2>&1 &
  REGISTRY_PID=$!
  local i
  for ((i = 0; i < 100; i++)); do
    if curl -fs -o /dev/null "http://127.0.0.1:$PORT/v2/"; then return 0; fi
    kill -0 "$REGISTRY_PID" 2>/dev/null || break
    sleep 0.1
  done
  cat "$WORK/registry.log" >&2
  die "docker-registry did not start on 127.0.0.1:$PORT"
}

# The registry storage holds the blob of SHA (hex): bytes that were uploaded.
registry_has_blob() {
  local data=$STORAGE/docker/registry/v2/blobs/sha256/${1:0:2}/$1/data
  [[ -f $data && $(stat -c %s "$data") -eq $SIZE ]]
}

# ---------------------------------------------------------------- setup

MODEL_SHA=
setup() {
  say "work dir $WORK; generating a $SIZE_MB MiB model file"
  mkdir -p "$WORK/project"
  cd "$WORK/project"
  git init -q .
  git config user.name bench && git config user.email bench@example.com
  echo "bench" >README && git add README && git commit -q -m "bench project"
  # AES-CTR of zeros keyed by the seed: incompressible, reproducible, fast.
  openssl enc -aes-128-ctr -nosalt -K "$(printf '%032x' "$SEED")" -iv 0 </dev/zero 2>/dev/null |
    head -c "$SIZE" >model.bin || true
  [[ $(stat -c %s model.bin) -eq $SIZE ]] || die "could not write model.bin"
  MODEL_SHA=$(openssl dgst -sha256 -r model.bin | cut -d' ' -f1)
  quiet lm init
  quiet lm register big model.bin
  quiet lm --json show big@0.1.0
  [[ $(json 'print(d["size"])') -eq $SIZE ]] || die "big@0.1.0 is not $SIZE bytes: $(cat "$LOG")"
  git init -q --bare "$WORK/log.git"
  quiet lm remote add origin "$WORK/log.git"
}

# ---------------------------------------------------------------- cases

# (a) lastmile push into an empty registry, RUNS times. Each run is a fresh
# registry and a new repository path (the log records which URL holds a
# version, so the same URL would count as done).
bench_push() {
  local run url sent
  for ((run = 1; run <= RUNS; run++)); do
    say "push run $run/$RUNS"
    start_registry
    url="oci://127.0.0.1:$PORT/bench-$run"
    lm remote remove models >/dev/null 2>&1 || true
    quiet lm remote add models "$url" --insecure
    settle
    measure push lm --json push models
    sent=$(json 'print(sum(v["bytes_sent"] for b in d["blobs"] for v in b["versions"]))')
    [[ $sent -eq $SIZE ]] || die "push run $run sent $sent bytes, not $SIZE: $(cat "$LOG")"
    registry_has_blob "$MODEL_SHA" || die "push run $run: the registry does not hold the model blob"
  done
  PUSH_URL=$url
  PUSH_REPO=bench-$RUNS
}

# (b) the same push again: nothing to upload.
bench_second_push() {
  local run
  say "second push, $RUNS runs"
  for ((run = 1; run <= RUNS; run++)); do
    measure push2 lm --json push models
    json '
versions = [v for b in d["blobs"] for v in b["versions"]]
sent = sum(v["bytes_sent"] for v in versions)
if versions or sent:
    sys.exit("uploaded %d bytes in %d versions" % (sent, len(versions)))
' || die "the second push uploaded something: $(cat "$LOG")"
  done
}

# (c) checkout in a second registry that pulled the log (the bytes are not
# there), and (d1) skopeo downloading the same artifact, alternately.
bench_checkout() {
  local run obj
  say "publishing the log, setting up a second registry that pulls it"
  quiet lm push origin
  mkdir -p "$WORK/clone"
  cd "$WORK/clone"
  git init -q .
  quiet lm init
  quiet lm remote add origin "$WORK/log.git"
  quiet lm remote add models "$PUSH_URL" --insecure
  quiet lm pull origin
  obj=$WORK/clone/.lastmile/objects/sha256/${MODEL_SHA:0:2}/${MODEL_SHA:2}
  [[ ! -e $obj ]] || die "the second registry already has the bytes"
  for ((run = 1; run <= RUNS; run++)); do
    say "checkout run $run/$RUNS"
    rm -rf "$WORK/clone/out" "$WORK/skopeo-dir"
    if [[ -e $obj ]]; then chmod u+w "$(dirname "$obj")" "$obj"; rm -f "$obj"; fi
    settle
    measure checkout lm --json checkout big@0.1.0 --to out
    [[ -e $obj ]] || die "checkout run $run did not download into the object store"
    cmp -s "$WORK/project/model.bin" out/model.bin || die "checkout run $run: out/model.bin differs"
    settle
    measure skopeo_pull skopeo copy -q --src-tls-verify=false \
      "docker://127.0.0.1:$PORT/$PUSH_REPO/big:0.1.0" "dir:$WORK/skopeo-dir"
    cmp -s "$WORK/project/model.bin" "$WORK/skopeo-dir/$MODEL_SHA" ||
      die "skopeo run $run: the downloaded layer differs from model.bin"
  done
  cd "$WORK/project"
}

# (d2) skopeo uploading what it downloaded into an empty registry.
bench_skopeo_push() {
  local run
  for ((run = 1; run <= RUNS; run++)); do
    say "skopeo upload run $run/$RUNS"
    start_registry
    settle
    measure skopeo_push skopeo copy -q --dest-tls-verify=false \
      "dir:$WORK/skopeo-dir" "docker://127.0.0.1:$PORT/skopeo-$run/big:0.1.0"
    registry_has_blob "$MODEL_SHA" || die "skopeo run $run did not upload the model blob"
  done
}

# ---------------------------------------------------------------- report

report() {
  local push push2 checkout spull spush
  push=$(median_us push)
  push2=$(median_us push2)
  checkout=$(median_us checkout)
  spull=$(median_us skopeo_pull)
  spush=$(median_us skopeo_push)
  echo
  echo "## lastmile OCI benchmark: $SIZE_MB MiB model, $RUNS runs, medians"
  echo
  echo "- machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
  echo "- lastmile: $("$LASTMILE" --version 2>&1 | head -n 1) ($LASTMILE)"
  echo "- registry: $("$REGISTRY_BIN" --version 2>&1 | head -n 1), 127.0.0.1, filesystem storage in $WORK"
  echo "- $(skopeo --version)"
  echo "- other load (CPU busy over 1 s with the benchmark idle): ${BUSY_BEFORE}% before, ${BUSY_AFTER}% after"
  echo
  echo "| operation | median | MiB/s | skopeo | ratio |"
  echo "|---|---|---|---|---|"
  echo "| lastmile push models (empty registry) | $(us_to_s "$push") | $(mib_s "$push") |" \
    "skopeo copy dir: -> docker:// (empty registry) $(us_to_s "$spush"), $(mib_s "$spush") MiB/s |" \
    "$(ratio "$push" "$spush") |"
  echo "| lastmile push models again (uploads nothing) | $(awk -v u="$push2" 'BEGIN { printf "%.1f ms", u / 1e3 }') | | | |"
  echo "| lastmile checkout big@0.1.0 --to out (downloads, verifies) | $(us_to_s "$checkout") | $(mib_s "$checkout") |" \
    "skopeo copy docker:// -> dir: $(us_to_s "$spull"), $(mib_s "$spull") MiB/s |" \
    "$(ratio "$checkout" "$spull") |"
  echo
  echo "- spread (min-max): push $(spread push), skopeo upload $(spread skopeo_push)," \
    "checkout $(spread checkout), skopeo download $(spread skopeo_pull)"
  echo "- skopeo's figures are the download and the upload of the artifact lastmile pushed, as two" \
    "copies through a dir: directory; docker:// -> docker:// within one registry is not timed, as" \
    "skopeo then mounts the layer from the source repository instead of copying it"
  echo "- checkout downloads into the object store, then writes out/ from it (the file is written" \
    "twice, hashed both times); skopeo writes the directory once"
  echo "- checks passed: each push sent $SIZE bytes into an empty registry; the second push sent" \
    "nothing; checkout and skopeo's download hold model.bin's bytes; each skopeo upload stored the blob"
}

main() {
  [[ -x $LASTMILE ]] || die "no lastmile binary at $LASTMILE (pass its path as \$1)"
  [[ -x $REGISTRY_BIN ]] || die "$REGISTRY_BIN is required (apt-get install docker-registry)"
  local tool
  for tool in skopeo curl git openssl python3 cmp; do
    command -v "$tool" >/dev/null || die "$tool is required"
  done
  [[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS must be a positive integer"
  [[ $SIZE_MB =~ ^[1-9][0-9]*$ ]] || die "SIZE_MB must be a positive integer"
  # The model file, its copy in each of the two registries' object stores, the
  # registry's blob, out/ and skopeo's directory, with some slack.
  local need_mib=$((7 * SIZE_MB + 512)) free_mib
  free_mib=$(df -P -k "$WORK" | awk 'NR == 2 { printf "%d", $4 / 1024 }')
  ((free_mib >= need_mib)) || die "$free_mib MiB free in $WORK, need $need_mib MiB"
  BUSY_BEFORE=$(cpu_busy_percent)
  if ((BUSY_BEFORE > 10)); then
    say "warning: the machine is ${BUSY_BEFORE}% busy before the benchmark; figures will be skewed"
  fi
  setup
  bench_push
  bench_second_push
  bench_checkout
  bench_skopeo_push
  stop_registry
  sync
  BUSY_AFTER=$(cpu_busy_percent)
  report
}

main "$@"
