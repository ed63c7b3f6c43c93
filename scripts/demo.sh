#!/usr/bin/env bash
# The main job on the bundled example, as a user runs it (no cluster needed):
# validate the stack, render its objects, promote a deployment in a copy of the stack file,
# and show the plan of that change. `make demo` runs this after setting up .venv.
set -euo pipefail
cd "$(dirname "$0")/.."
IAC=${IAC:-.venv/bin/iac}
OUT=${DEMO_OUT:-out/demo}

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "iac validate: the demo stack and every example"
"$IAC" validate stacks/demo.yaml examples/*/stack.yaml

step "iac render: the demo stack's Kubernetes objects, one file each, in apply order"
rm -rf "$OUT" && mkdir -p "$OUT/stacks"
"$IAC" render stacks/demo.yaml -o "$OUT/manifests"
ls "$OUT/manifests" | head -n 12; echo "..."

step "iac cost: what the demo stack costs per month"
"$IAC" cost stacks/demo.yaml

step "iac promote: v4 to production of llama-3-8b (in a copy of the stack file)"
cp stacks/demo.yaml "$OUT/stacks/demo.yaml"
cp -r modules "$OUT/modules"
"$IAC" promote "$OUT/stacks/demo.yaml" llama-3-8b v4 --to production --copy

step "iac plan: what that promotion will do"
set +e
"$IAC" plan "$OUT/stacks/demo.yaml" --base stacks/demo.yaml --detailed-exitcode
code=$?
set -e
if [ "$code" -ne 2 ]; then
  echo "expected the plan to report changes (exit 2), got $code" >&2
  exit 1
fi
step "Pulumi: the same loop through a real engine (built from source if not installed)"
bin=$(scripts/install-pulumi-engine)
project="$OUT/pulumi"
mkdir -p "$project/stacks"
cp -r modules "$project/modules"
# The demo's 5-minute stabilization would be waited for real: none in the demo.
sed 's/stabilization: 5m/stabilization: 0s/' stacks/demo.yaml > "$project/stacks/demo.yaml"
printf 'name: iac-demo\nruntime: python\n' > "$project/Pulumi.yaml"
export PATH="$bin:$(dirname "$IAC"):$PATH"
export PULUMI_HOME="$PWD/$OUT/pulumi-home" PULUMI_BACKEND_URL="file://$PWD/$OUT/pulumi-state"
export PULUMI_CONFIG_PASSPHRASE=demo-only PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true PULUMI_PYTHON_CMD="$(dirname "$IAC")/python"
mkdir -p "$PULUMI_HOME" "$OUT/pulumi-state"
(cd "$project" && pulumi stack init demo --non-interactive >/dev/null && \
  pulumi config set iac:renderDir rendered --non-interactive)

step "iac up: the first release (no cluster: the provider renders to $project/rendered)"
"$IAC" up "$project/stacks/demo.yaml" --stack demo --project-dir "$project" --yes 2>&1 | tail -n 5

step "iac promote, then iac plan --base live: what the Pulumi stack runs vs the edited file"
"$IAC" promote "$project/stacks/demo.yaml" llama-3-8b v4 --to production --copy >/dev/null
"$IAC" plan "$project/stacks/demo.yaml" --base live --stack demo --project-dir "$project" | head -n 12

step "iac up: the promotion, stage by stage"
"$IAC" up "$project/stacks/demo.yaml" --stack demo --project-dir "$project" --yes 2>&1 | grep -E '^(stage|done|rolled)' || true

step "done: manifests in $OUT/manifests and $project/rendered, the promoted stack in $OUT/stacks/demo.yaml"
