"""Preflight: before anything is applied, check that the cluster has what the compiled
objects need and iac does not create (issue #22, item 7):

- each kind that Kubernetes does not build in, served at the version the objects use
  (`iac.preflight.apis`: KEDA's, the HTTP add-on's, Gateway API's, Envoy Gateway's,
  Karpenter's, the Prometheus Operator's CRDs), and an HTTPRoute CRD with rule names;
- the namespaces the objects live in, the Secrets their pods read (`secrets:`,
  `image_pull_secrets:`, `weights.secret`) and those holding the API keys their
  SecurityPolicies accept (`auth.key_sets`), and the Services their routes send to (the
  HTTP add-on's interceptor) (`iac.preflight.references`);
- the Gateway the routes attach to, with a listener that takes each route, and an HTTPS
  one for the models' hosts (`iac.preflight.gateways`).

Each missing thing is one `Missing`, naming it, the objects that need it and what installs
or creates it (or which stack key to change), at a level: `iac up` stops on any error
before it applies and prints the warnings (a Gateway serving the hosts over HTTP only);
`iac plan --base live` lists them as findings. The checks are pure over the objects and a
`ClusterReader` (`kubectl`, or recorded answers in the tests).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from iac.diagnostics import Severity
from iac.diff.findings import Finding
from iac.diff.plan import DRIFT
from iac.preflight.apis import missing_apis, old_route_crd
from iac.preflight.cluster import ClusterReader, ClusterUnreadable, Kubectl, kubeconfig_file
from iac.preflight.drift import Drift, find_drift
from iac.preflight.gateways import gateway_findings
from iac.preflight.missing import Missing
from iac.preflight.references import missing_namespaces, missing_secrets, missing_services
from iac.spec.stack import Cluster

__all__ = [
    "ClusterReader",
    "ClusterUnreadable",
    "Drift",
    "Kubectl",
    "Missing",
    "as_findings",
    "check_cluster",
    "check_drift",
    "cluster_findings",
    "drift_findings",
    "kubeconfig_file",
    "not_checked",
    "preflight",
]


def preflight(
    objects: Sequence[Mapping[str, Any]], cluster: Cluster, reader: ClusterReader
) -> list[Missing]:
    """Everything the cluster lacks that `objects` (a compiled stack's, in apply order)
    need, CRDs first. `cluster` is the stack's: which namespace and Service are the KEDA
    HTTP add-on's, which the models'."""
    return [
        *missing_apis(objects, reader),
        *old_route_crd(objects, reader),
        *missing_namespaces(objects, cluster, reader),
        *missing_secrets(objects, reader),
        *missing_services(objects, cluster, reader),
        *gateway_findings(objects, cluster, reader),
    ]


def check_cluster(
    objects: Sequence[Mapping[str, Any]],
    cluster: Cluster,
    kubeconfig: str | None,
    context: str | None,
    root: Path,
) -> list[Missing]:
    """`preflight` with kubectl under the kubeconfig (a path relative to `root`, or the
    contents, as the Kubernetes provider takes it) and context the apply uses."""
    with kubeconfig_file(kubeconfig, root) as path:
        return preflight(objects, cluster, Kubectl(path, context))


def check_drift(
    objects: Sequence[Mapping[str, Any]],
    kubeconfig: str | None,
    context: str | None,
    root: Path,
) -> list[Drift]:
    """`find_drift` of the objects iac last applied, read with kubectl as `check_cluster`."""
    with kubeconfig_file(kubeconfig, root) as path:
        return find_drift(objects, Kubectl(path, context))


def drift_findings(found: Sequence[Drift]) -> list[Finding]:
    """Plan findings (warnings: the cluster serves other than declared until `iac up`)."""
    return [
        Finding(DRIFT, Severity.WARNING, d.message, model=d.model, deployment=d.deployment)
        for d in found
    ]


def as_findings(found: Sequence[Missing]) -> list[Finding]:
    """Plan findings at their level (errors: the apply would fail, serve nothing or serve
    without keys; warnings: it would serve, less safely)."""
    return [
        Finding(m.id, m.level, m.message, model=m.model, deployment=m.deployment) for m in found
    ]


def cluster_findings(
    live: Sequence[Mapping[str, Any]] | None,
    head: Sequence[Mapping[str, Any]],
    cluster: Cluster,
    kubeconfig: str | None,
    context: str | None,
    root: Path,
) -> list[Finding]:
    """For a plan against the live release: what `iac up`'s preflight would stop on (the
    head's objects) and what was changed by hand since the live release was applied (its
    objects: drift, which `iac up` restores); a note when the cluster cannot be read (the
    plan stands without it)."""
    try:
        missing = check_cluster(head, cluster, kubeconfig, context, root)
        drifted = check_drift(live, kubeconfig, context, root) if live is not None else []
    except ClusterUnreadable as exc:
        return [not_checked(str(exc))]
    return [*as_findings(missing), *drift_findings(drifted)]


def not_checked(reason: str) -> Finding:
    """The finding of a plan whose cluster could not be read: the plan stands, unchecked."""
    return Finding("preflight-not-run", Severity.INFO, f"the cluster was not checked: {reason}")
