#!/usr/bin/env bash
# The main job end to end on a small generated model, in a throwaway git
# repository: init -> register -> list/show -> verify -> a retrained version
# -> history -> checkout -> a policy: a gate fails, a better version passes,
# is approved, promoted to production -> manifests for production, recorded
# as deployed -> a rollback that leaves the cluster behind, flagged by status,
# and put right -> tampering caught by verify.
#
#   scripts/demo.sh [path/to/lastmile]
#
# Exits non-zero if any step does not behave as shown.
set -euo pipefail

lastmile=$(realpath "${1:-build/lastmile}")
work=$(mktemp -d "${TMPDIR:-/tmp}/lastmile-demo.XXXXXX")
[ "${LASTMILE_DEMO_KEEP:-0}" = 1 ] || trap 'chmod -R u+w "$work"; rm -rf "$work"' EXIT

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
shown() {  # the arguments as a shell would need them, for the step lines
  local out=() a
  for a in "$@"; do [[ $a == *[[:space:]]* ]] && out+=("\"$a\"") || out+=("$a"); done
  echo "${out[*]}"
}
run() { step "lastmile $(shown "$@")"; "$lastmile" "$@"; }
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

# The team writes its bar down: lastmile.yaml, next to the code.
cat > lastmile.yaml <<'YAML'
stages:
  - name: sandbox
  - name: staging
    from: [sandbox]
    gates:
      - {metric: auc, min: 0.92}
      - {require: [owner, description]}
  - name: production
    from: [staging]
    approvals: {count: 1, distinct_from_registrant: true}
    gates:
      - {metric: auc, no_worse_than: incumbent, tolerance: 0.005}
      - {metric: eval.latency_p95_ms, max: 40}
# No gate names the loss; diff and report must know lower is better.
metrics:
  eval.loss: {better: lower}
# What the registry does not know about running the model.
deploy:
  image: ghcr.io/acme/mlserver@sha256:5e2c6f9b6b0d4a3b8f1e0c7d2a9b4e6f8c1d3a5b7e9f0a2c4d6e8f1a3b5c7d9e
  storage_uri: "s3://models/{{name}}/{{version}}"
  namespace: growth
  replicas: 2
# Registrations and promotions also become git tags, in GTO's names, so CI
# can run on a tag push.
git:
  tags: true
YAML
run policy check

# The baseline does not clear the bar: the gate says why, and exits 1.
step "lastmile gate churn@0.1.0 --stage staging"
if "$lastmile" gate churn@0.1.0 --stage staging; then fail "a failing gate passed"; else status=$?; fi
[ "$status" -eq 1 ] || fail "gate exited $status, expected 1"

# The retrained version does; production wants someone else's approval.
run promote churn@0.2.0 --to staging --reason "auc 0.93 on the q3 holdout"
# What is learnt later is said on the version itself, as an event; its bytes
# and metrics stay as registered.
run annotate churn@0.2.0 --label eval=q3-holdout --label reviewer=grace
step "lastmile promote churn@0.2.0 --to production"
if "$lastmile" promote churn@0.2.0 --to production; then fail "promoted without approval"; fi
step "LASTMILE_ACTOR=grace lastmile approve churn@0.2.0 --stage production"
LASTMILE_ACTOR=grace "$lastmile" approve churn@0.2.0 --stage production --comment "reviewed the eval"
run promote churn@0.2.0 --to production --reason "weekly release"

# A third version reaches production and is deployed: manifests pinned to
# its digest, and a record of where it runs.
write_model model 3
printf '{"auc": 0.94, "eval": {"loss": 0.2, "latency_p95_ms": 30}}\n' > metrics.json
run register churn model --metrics metrics.json --owner ada --description "more data"
run promote churn@0.3.0 --to staging
LASTMILE_ACTOR=grace "$lastmile" -q approve churn@0.3.0 --stage production
run promote churn@0.3.0 --to production
step "git tag --list 'churn*'"
git tag --list 'churn*'
run check-ref 'churn#production#4'
"$lastmile" check-ref 'churn#production#4' --json | grep -q '"version": "0.3.0"' ||
  fail "check-ref does not say the tag promotes 0.3.0"
run deploy targets
run deploy render churn@production --target kubernetes --target kserve --set model_format=sklearn \
  --out deploy/production
step "head -30 deploy/production/kubernetes.yaml"
head -30 deploy/production/kubernetes.yaml
digest=$("$lastmile" show churn@0.3.0 --json | awk -F'"' '/"digest":/ { print $4; exit }')
grep -q "lastmile.dev/model-sha256: \"${digest#sha256:}\"" deploy/production/kubernetes.yaml ||
  fail "the manifest does not carry the production digest"
run deploy record churn@production --env prod-eu --manifest deploy/production/kubernetes.yaml

# It misbehaves and is rolled back: production moves, the cluster has not yet,
# and status says so until the manifests for what production holds now are
# rendered, applied and recorded.
run rollback churn --stage production --reason "p99 latency spike in the canary"
run status
"$lastmile" status --json | grep -q '"stale": true' || fail "status did not flag prod-eu"
run deploy render churn@production --target kubernetes --out deploy/production
run deploy record churn@production --env prod-eu --manifest deploy/production/kubernetes.yaml
run status churn
"$lastmile" status --json | grep -q '"stale": true' && fail "status still flags prod-eu"
[ "$("$lastmile" show churn@production --json | awk -F'"' '/"version":/ { print $4; exit }')" = 0.2.0 ] ||
  fail "production does not hold 0.2.0 after the rollback"

# After deployment it is watched: a profile of the data it was trained on,
# today's traffic compared with it (exit 1: drift, time to retrain), and
# what the business observed, beside what the model scored offline.
write_rows() {  # write_rows FILE ROWS SHIFT
  awk -v rows="$2" -v shift="$3" 'BEGIN {
    srand(rows); print "tenure_months,monthly_spend,plan"
    for (i = 0; i < rows; i++) printf "%d,%.2f,%s\n", 1 + int(rand() * 48) + shift, 20 + rand() * 60 + shift, (rand() < 0.5 + shift / 40 ? "basic" : "pro")
  }' > "$1"
}
write_rows train.csv 5000 0
write_rows traffic.csv 2000 12
run profile churn@0.2.0 --data train.csv
step "lastmile drift churn@production --current traffic.csv --env production"
if "$lastmile" drift churn@production --current traffic.csv --env production; then fail "drift missed the shift"; fi
run feedback churn@production --metric auc=0.84 --env production --time 2026-12-01
run report churn
"$lastmile" report churn --json | grep -q '"degraded": true' || fail "report did not flag the lower live auc"
run audit verify

# The team shares the registry with no server: the log through a git remote
# (here a bare repository), the bytes through a shared directory. A
# teammate's fresh clone pulls the log and checks out production, its bytes
# fetched from the shared directory and checked.
git init -q --bare "$work/team-log.git"
mkdir "$work/team-bytes"
run remote add origin "$work/team-log.git"
run remote add shared "file://$work/team-bytes"
run push
git clone -q . "$work/teammate"
(
  cd "$work/teammate"
  step "cd ../teammate   # a fresh clone of the project"
  run init
  run remote add origin "$work/team-log.git"
  run pull
  run status churn
  run checkout churn@production --to model
  "$lastmile" -C "$work/churn-project" checkout churn@production --to "$work/production-here" >/dev/null
  diff -r model "$work/production-here" >/dev/null || fail "the teammate's checkout differs from production's files"
  [ "$("$lastmile" show churn@production --json | awk -F'"' '/"version":/ { print $4; exit }')" = 0.2.0 ] ||
    fail "the teammate's registry does not say production holds 0.2.0"
  run audit verify
)

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
