#!/usr/bin/env bash
# The main job end to end on a small generated model, in a throwaway git
# repository: init -> register -> list/show -> verify -> a retrained version
# -> history -> checkout -> tampering caught by verify.
#
#   scripts/demo.sh [path/to/lastmile]
#
# Exits non-zero if any step does not behave as shown.
set -euo pipefail

lastmile=$(realpath "${1:-build/lastmile}")
work=$(mktemp -d "${TMPDIR:-/tmp}/lastmile-demo.XXXXXX")
[ "${LASTMILE_DEMO_KEEP:-0}" = 1 ] || trap 'chmod -R u+w "$work"; rm -rf "$work"' EXIT

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
run() { step "lastmile $*"; "$lastmile" "$@"; }
fail() { echo "demo: $*" >&2; exit 1; }

# A project repository with a committed training script.
cd "$work"
git init -q -b main churn-project
cd churn-project
git config user.name "Ada Lovelace"
git config user.email "ada@example.com"
printf 'print("training...")\n' > train.py
git add train.py
git commit -q -m "training script"

# A small "trained model": weights, a config and the evaluation metrics.
write_model() {  # write_model DIR SEED
  mkdir -p "$1"
  awk -v seed="$2" 'BEGIN { srand(seed); printf "{\"weights\": ["; for (i = 0; i < 2000; i++) printf "%s%.6f", (i ? ", " : ""), rand() - 0.5; print "]}" }' > "$1/model.json"
  printf '{"features": 2000, "threshold": 0.5}\n' > "$1/config.json"
}
write_model model 1
printf '{"auc": 0.91, "eval": {"loss": 0.24, "latency_p95_ms": 31}}\n' > metrics.json

run init
run register churn model --metrics metrics.json --param lr=0.01 --label team=growth \
  --owner ada --description "first logistic baseline"
run list
run show churn
run verify

# Retrain: new weights, a new version; the old one is untouched.
write_model model 2
printf '{"auc": 0.93, "eval": {"loss": 0.21, "latency_p95_ms": 29}}\n' > metrics.json
run register churn model --metrics metrics.json --param lr=0.005 --owner ada \
  --description "lower learning rate"
run list churn
run history

run checkout churn@0.1.0 --to "$work/restored"
diff -q "$work/restored/config.json" model/config.json >/dev/null || fail "checkout differs"

# Registering the same bytes again under the same version changes nothing.
run register churn model --version 0.2.0

# Someone edits a stored object behind lastmile's back: verify names it.
object=$("$lastmile" show churn@0.1.0 --json | awk -F'"' '/"sha256":/ { print $4; exit }')
file=.lastmile/objects/sha256/${object:0:2}/${object:2}
chmod u+w "$file"
printf 'X' | dd of="$file" bs=1 seek=10 conv=notrunc status=none
step "lastmile verify   # after one byte of a stored file was changed"
if "$lastmile" verify; then fail "verify missed a changed byte"; else status=$?; fi
[ "$status" -eq 1 ] || fail "verify exited $status, expected 1"
echo
echo "verify exited 1 and named the damaged file: the demo worked."
