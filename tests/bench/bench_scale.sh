#!/usr/bin/env bash
# Read commands and registration on a large registry: 100,000 versions of
# 1,000 models (each a parent chain 100 deep, each version with a dataset
# input, with 10 promotions to staging and 5 to production) plus 100
# datasets of 10 versions. Run by hand, never in CI.
#
#   tests/bench/bench_scale.sh [LASTMILE_BINARY] [GENERATOR_BINARY]
#
# LASTMILE_BINARY   default: build/lastmile
# GENERATOR_BINARY  default: build/tests/lastmile_generate_registry
# BENCH_DIR         where the registry is built (default /var/tmp/lastmile-scale);
#                   an existing one is reused, so repeated runs skip the minutes
#                   it takes to generate
# BENCH_RUNS        runs per command, the median is reported (default 30)
#
# Targets (from the design): each read command <= 10 ms median as a whole
# process; registering one more version within 1.5x of the same on an empty
# registry.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
LASTMILE=$(realpath "${1:-$root/build/lastmile}")
GENERATOR=$(realpath "${2:-$root/build/tests/lastmile_generate_registry}")
DIR=${BENCH_DIR:-/var/tmp/lastmile-scale}
RUNS=${BENCH_RUNS:-30}
# shellcheck source=tests/bench/lib.sh
source "$root/tests/bench/lib.sh"
MODEL=team-0/model-500

say() { printf '==> %s\n' "$*" >&2; }

# register_ms REGISTRY_DIR: the median time to register one more version of
# a model there, each run a new file (a new version).
register_ms() {
  local reg=$1 times=() start end file
  mkdir -p "$DIR/extra"
  for ((i = 0; i < RUNS; i++)); do
    file=$DIR/extra/w-$RANDOM-$i.bin
    printf 'extra weights %s %s\n' "$RANDOM" "$i" >"$file"
    start=$EPOCHREALTIME
    "$LASTMILE" --registry "$reg" register "$MODEL" "$file" --store reference -q >/dev/null
    end=$EPOCHREALTIME
    times+=("$(awk -v a="${start/,/.}" -v b="${end/,/.}" 'BEGIN { printf "%.3f", (b - a) * 1000 }')")
  done
  printf '%s\n' "${times[@]}" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

row() { printf '| %s | %s ms | %s | %s |\n' "$1" "$2" "$3" "$4"; }
verdict() { awk -v a="$1" -v b="$2" 'BEGIN { print (a <= b) ? "PASS" : "FAIL" }'; }

main() {
  [[ -x $LASTMILE && -x $GENERATOR ]] || { echo "bench_scale: build lastmile first" >&2; exit 1; }
  if [[ ! -f $DIR/.lastmile/registry.db ]]; then
    say "generating 100,000 versions in $DIR (minutes)"
    rm -rf "$DIR"
    "$GENERATOR" "$DIR" 1000 100 100
  fi
  cd "$DIR"  # not a git repository: no provenance to read
  local reg=$DIR/.lastmile versions
  versions=$("$LASTMILE" --registry "$reg" list --json | awk -F': ' '/"versions"/ { n += $2 } END { print n }')
  say "registry: $versions versions, $(du -sh "$reg" | cut -f1)"
  local lm=("$LASTMILE" --registry "$reg")
  "${lm[@]}" list "$MODEL" >/dev/null  # warm the page cache
  local startup list show lineage diff history status status_at gate render render_k8s sed_k8s
  startup=$(median_ms "$LASTMILE" --version)
  list=$(median_ms "${lm[@]}" list "$MODEL")
  show=$(median_ms "${lm[@]}" show "$MODEL")
  lineage=$(median_ms "${lm[@]}" lineage "$MODEL" --depth 50)
  diff=$(median_ms "${lm[@]}" diff "$MODEL@0.50.0" "$MODEL@0.100.0")
  history=$(median_ms "${lm[@]}" history "$MODEL")
  status=$(median_ms "${lm[@]}" status "$MODEL")
  local middle
  middle=$("${lm[@]}" audit "$MODEL" --json | awk -F'"' '/"time":/ { t[++n] = $4 } END { print t[int(n / 2)] }')
  status_at=$(median_ms "${lm[@]}" status "$MODEL" --at "$middle")
  # All five targets for what production holds, in one process.
  render=$(median_ms "${lm[@]}" deploy render "$MODEL@production" -t kubernetes -t kserve -t seldon \
    -t compose -t systemd --set name=model-500 --set model_format=onnx \
    --set image=ghcr.io/acme/server@sha256:5e2c6f9b6b0d4a3b8f1e0c7d2a9b4e6f8c1d3a5b7e9f0a2c4d6e8f1a3b5c7d9e \
    --set 'storage_uri=s3://models/{{name}}/{{version}}' --set 'command=[/usr/bin/serve]')
  # The Kubernetes manifest alone, against what a CI script would otherwise
  # do: sed the values into the same template (no registry, no quoting, no
  # checks), to show what the registry lookup and the safety cost.
  render_k8s=$(median_ms "${lm[@]}" deploy render "$MODEL@production" -t kubernetes --set name=model-500 \
    --set image=ghcr.io/acme/server@sha256:5e2c6f9b6b0d4a3b8f1e0c7d2a9b4e6f8c1d3a5b7e9f0a2c4d6e8f1a3b5c7d9e)
  rm -rf "$DIR/templates" && "$LASTMILE" deploy templates export "$DIR/templates" >/dev/null
  local subst=()
  for var in deploy.name deploy.namespace version_label ref sha256 stage owner description git_commit \
    deploy.replicas deploy.image name version deploy.storage_uri deploy.port deploy.resources.cpu \
    deploy.resources.memory deploy.resources.gpu deploy.probes.live deploy.probes.ready; do
    subst+=(-e "s|{{$var}}|\"value-of-$var\"|g")
  done
  sed_k8s=$(median_ms sed "${subst[@]}" "$DIR/templates/kubernetes.yaml.mustache")

  # Registration: on this registry (from a copy, to leave it as generated),
  # and on an empty one.
  rm -rf "$DIR/copy" "$DIR/empty" && cp -a "$reg" "$DIR/copy"
  "$LASTMILE" --registry "$DIR/empty" init -q >/dev/null
  gate=$(median_ms "$LASTMILE" --registry "$DIR/copy" gate "$MODEL@0.100.0" --stage production)
  local big small
  big=$(register_ms "$DIR/copy")
  small=$(register_ms "$DIR/empty")
  rm -rf "$DIR/copy" "$DIR/empty" "$DIR/extra"

  echo
  echo "## lastmile scale benchmark: $versions versions, $RUNS runs, medians"
  echo
  echo "- machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
  echo "- lastmile: $("$LASTMILE" --version) ($LASTMILE)"
  echo
  echo "| command | median | target | result |"
  echo "|---|---|---|---|"
  row "--version (process start-up, for scale)" "$startup" "" "info"
  row "list $MODEL" "$list" "<= 10 ms" "$(verdict "$list" 10)"
  row "show $MODEL" "$show" "<= 10 ms" "$(verdict "$show" 10)"
  row "lineage $MODEL --depth 50" "$lineage" "<= 10 ms" "$(verdict "$lineage" 10)"
  row "diff $MODEL@0.50.0 $MODEL@0.100.0" "$diff" "<= 10 ms" "$(verdict "$diff" 10)"
  row "history $MODEL" "$history" "<= 10 ms" "$(verdict "$history" 10)"
  row "status $MODEL" "$status" "<= 10 ms" "$(verdict "$status" 10)"
  row "status $MODEL --at (mid-history)" "$status_at" "<= 10 ms" "$(verdict "$status_at" 10)"
  row "deploy render $MODEL@production, all five targets" "$render" "<= 20 ms" "$(verdict "$render" 20)"
  row "deploy render $MODEL@production -t kubernetes" "$render_k8s" "<= 3x sed" \
    "$(awk -v a="$render_k8s" -v b="$sed_k8s" 'BEGIN { printf "%.2fx sed (%.3f ms) %s", a / b, b, (a <= 3 * b) ? "PASS" : "FAIL" }')"
  row "gate $MODEL@0.100.0 --stage production (records an event)" "$gate" "<= 50 ms" "$(verdict "$gate" 50)"
  row "register one more version (empty registry)" "$small" "" "info"
  row "register one more version (this registry)" "$big" "<= 1.5x empty" \
    "$(awk -v a="$big" -v b="$small" 'BEGIN { printf "%.2fx %s", a / b, (a <= 1.5 * b) ? "PASS" : "FAIL" }')"
}

main "$@"
