#!/usr/bin/env bash
# What lastmile's git hooks add to a commit and a push, on a registry of
# 1,000 versions (10 models, parent chains 100 deep). Run by hand, never in CI.
#
#   tests/bench/bench_hooks.sh [LASTMILE_BINARY] [GENERATOR_BINARY]
#
# BENCH_RUNS   runs per measurement, the median is reported (default 30)
#
# Target (from the issue): the pre-commit hook adds <= 50 ms to a commit.
# Both sides of each comparison are the real git in the same run: a commit
# with the hooks, and the same commit with --no-verify.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
LASTMILE=$(realpath "${1:-$root/build/lastmile}")
GENERATOR=$(realpath "${2:-$root/build/tests/lastmile_generate_registry}")
RUNS=${BENCH_RUNS:-30}
# shellcheck source=tests/bench/lib.sh
source "$root/tests/bench/lib.sh"


work=$(mktemp -d "${TMPDIR:-/tmp}/lastmile-bench-hooks.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
git init -q repo && cd repo
git config user.name bench && git config user.email bench@example.com
"$GENERATOR" "$work/repo" 10 100 1 >/dev/null
printf 'stages:\n  - name: sandbox\n  - name: staging\n    from: [sandbox]\n  - name: production\n    from: [staging]\n' > lastmile.yaml
git add lastmile.yaml && git commit -q -m policy --no-verify
"$LASTMILE" hooks install -q

# A commit that changes lastmile.yaml (so the policy is checked) each time.
n=0
commit() {
  n=$((n + 1))
  printf '# %d\n' "$n" >> lastmile.yaml
  git add lastmile.yaml
  git commit -q -m "change $n" "$@"
}
with=$(median_ms commit)
without=$(median_ms commit --no-verify)
run=$(median_ms "$LASTMILE" hooks run pre-commit)
versions=$("$LASTMILE" list --json | awk -F': ' '/"versions"/ { n += $2 } END { print n }')

echo
echo "## lastmile hooks benchmark: $versions versions, $RUNS runs, medians"
echo
echo "| measurement | median | target | result |"
echo "|---|---|---|---|"
echo "| git commit (changing lastmile.yaml), hooks skipped | $without ms | | info |"
echo "| the same commit with lastmile's pre-commit hook | $with ms | | info |"
awk -v a="$with" -v b="$without" 'BEGIN { d = a - b; printf "| added by the hook | %.1f ms | <= 50 ms | %s |\n", d, (d <= 50) ? "PASS" : "FAIL" }'
echo "| lastmile hooks run pre-commit alone | $run ms | | info |"
