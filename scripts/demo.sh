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
step "done: manifests in $OUT/manifests, the promoted stack in $OUT/stacks/demo.yaml"
