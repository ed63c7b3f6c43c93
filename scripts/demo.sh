#!/usr/bin/env bash
# The main job on the bundled example, as a user runs it (no cluster needed):
# validate the stack, render its objects, promote a deployment in a copy of the stack file,
# and show the plan of that change. `make demo` runs this after setting up .venv.
#
# --live (`make demo-live`): the Pulumi part against a local live cluster (built from Go
# modules like the tests' one, docs/live-cluster.md) instead of rendering to a folder:
# pods scheduled on kwok GPU nodes, KEDA at work, `iac status` reading the cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
IAC=${IAC:-.venv/bin/iac}
OUT=$(realpath -m "${DEMO_OUT:-out/demo}")
LIVE=false
[ "${1:-}" = "--live" ] && LIVE=true

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
export PULUMI_HOME="$OUT/pulumi-home" PULUMI_BACKEND_URL="file://$OUT/pulumi-state"
export PULUMI_CONFIG_PASSPHRASE=demo-only PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true PULUMI_PYTHON_CMD="$(dirname "$IAC")/python"
mkdir -p "$PULUMI_HOME" "$OUT/pulumi-state"
(cd "$project" && pulumi stack init demo --non-interactive >/dev/null)

if [ "$LIVE" = true ]; then
  step "a local live cluster: etcd, kube-apiserver, controllers, kwok GPU nodes, KEDA (built from Go modules if not cached)"
  cp_bin=$(scripts/install-control-plane)
  export PATH="$cp_bin:$PATH"  # its kubectl: iac up's preflight and iac status read the cluster with it
  kubeconfig_out="$OUT/live-cluster.out"
  "$(dirname "$IAC")/python" scripts/live_cluster.py --bin "$cp_bin" --work "$OUT/live" \
    "$project/stacks/demo.yaml" > "$kubeconfig_out" 2> "$OUT/live-cluster.log" &
  cluster_pid=$!
  trap 'kill $cluster_pid 2>/dev/null; wait $cluster_pid 2>/dev/null' EXIT
  for _ in $(seq 120); do [ -s "$kubeconfig_out" ] && break; kill -0 $cluster_pid 2>/dev/null || break; sleep 1; done
  [ -s "$kubeconfig_out" ] || { echo "the live cluster did not start: $OUT/live-cluster.log" >&2; tail -n 20 "$OUT/live-cluster.log" >&2; exit 1; }
  export KUBECONFIG=$(cat "$kubeconfig_out")
  (cd "$project" && pulumi config set --secret iac:kubeconfig "$KUBECONFIG" --non-interactive)

  step "iac up: the first release, applied to the live cluster"
  "$IAC" up "$project/stacks/demo.yaml" --stack demo --project-dir "$project" --yes 2>&1 | tail -n 5
  kubectl get pods -n models -l app.kubernetes.io/component=model-server -o wide | cut -c1-110

  step "iac status: who serves each environment, read from the cluster"
  "$IAC" status "$project/stacks/demo.yaml"

  step "iac promote, then iac plan --base live"
  "$IAC" promote "$project/stacks/demo.yaml" llama-3-8b v4 --to production --copy >/dev/null
  "$IAC" plan "$project/stacks/demo.yaml" --base live --stack demo --project-dir "$project" | head -n 12

  step "iac up: the promotion, stage by stage, on the live cluster"
  "$IAC" up "$project/stacks/demo.yaml" --stack demo --project-dir "$project" --yes 2>&1 | grep -E '^(stage|done|rolled)' || true
  "$IAC" status "$project/stacks/demo.yaml"
  step "done: the cluster stops now; its logs are in $OUT/live/logs"
  exit 0
fi

(cd "$project" && pulumi config set iac:renderDir rendered --non-interactive)

step "iac up: the first release (no cluster: the provider renders to $project/rendered)"
"$IAC" up "$project/stacks/demo.yaml" --stack demo --project-dir "$project" --yes 2>&1 | tail -n 5

step "iac promote, then iac plan --base live: what the Pulumi stack runs vs the edited file"
"$IAC" promote "$project/stacks/demo.yaml" llama-3-8b v4 --to production --copy >/dev/null
"$IAC" plan "$project/stacks/demo.yaml" --base live --stack demo --project-dir "$project" | head -n 12

step "iac up: the promotion, stage by stage"
"$IAC" up "$project/stacks/demo.yaml" --stack demo --project-dir "$project" --yes 2>&1 | grep -E '^(stage|done|rolled)' || true

step "done: manifests in $OUT/manifests and $project/rendered, the promoted stack in $OUT/stacks/demo.yaml"
