"""Run the tests' live cluster for a person: `make demo-live` (scripts/demo.sh --live).

Starts what tests/live starts (etcd, kube-apiserver, the controller manager, the scheduler,
kwok, the KEDA operator and the stand-in for the HTTP add-on's scaler; CRDs, the `keda`
namespace, the add-on's interceptor Service; docs/live-cluster.md), adds kwok GPU nodes
for every replica STACK may run and what a platform team creates first (its Gateway and
Secrets), prints the kubeconfig's path on stdout, and runs until SIGTERM or SIGINT, when it
stops every component.

    python scripts/live_cluster.py --bin BIN_DIR --work DIR STACK
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from iac.compile import compile_stack
from iac.validate import check_stack
from tests.live.cluster import nodes_for
from tests.live.fixtures import start_prepared_cluster
from tests.live.prerequisites import stack_prerequisites


def _at_most(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each Deployment at its ScaledObject's maximum, for sizing the nodes (and one more:
    a rolling promotion surges)."""
    maxima = {
        o["spec"]["scaleTargetRef"]["name"]: int(o["spec"]["maxReplicaCount"]) + 1
        for o in objects
        if o["kind"] == "ScaledObject"
    }
    return [
        {**o, "spec": {**o["spec"], "replicas": maxima.get(o["metadata"]["name"], 1)}}
        if o["kind"] == "Deployment"
        else o
        for o in objects
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--bin", type=Path, required=True, help="scripts/install-control-plane's output"
    )
    parser.add_argument("--work", type=Path, required=True, help="a folder for the cluster's files")
    parser.add_argument("stack", help="the stack file whose nodes and prerequisites to create")
    args = parser.parse_args()

    objects = list(compile_stack(check_stack(args.stack)).objects)
    args.work.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    cluster = start_prepared_cluster(args.bin, args.work)
    try:
        cluster.apply(nodes_for(_at_most(objects), prefix="gpu"))
        cluster.apply(stack_prerequisites(objects))
        print(cluster.kubeconfig, flush=True)
        while not stop.wait(1.0):
            cluster.check_running()
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
