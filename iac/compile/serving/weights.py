"""Model weights downloaded once and cached, before the server starts.

An init container runs the source's own tool (resumable: a restarted download continues),
checks the size when the stack declares one, and fills a volume that the server mounts
read-only. The cache outlives pods: a directory on the node (`cache: node`), or a shared
volume (`cache: cluster`); `none` downloads per pod.
"""

from __future__ import annotations

import hashlib
from typing import Any

from iac.compile import labels
from iac.compile.quantity import format_mebibytes, memory_bytes
from iac.compile.release import DeploymentRelease
from iac.spec.container import Weights
from iac.spec.stack import Cluster

HF_IMAGE = "python:3.12.8-slim-bookworm"
HF_HUB = "huggingface_hub[cli]==0.27.1"
AWS_IMAGE = "amazon/aws-cli:2.22.35"
GCLOUD_IMAGE = "gcr.io/google.com/cloudsdktool/google-cloud-cli:504.0.1-slim"
NODE_CACHE_ROOT = "/var/lib/iac/weights"
DOWNLOAD_TO = "/weights"


def cache_key(weights: Weights) -> str:
    """Stable per source: a new revision gets a new cache, an old one is reused."""
    return hashlib.sha256(weights.source.encode()).hexdigest()[:12]


def claim_name(weights: Weights) -> str:
    return f"iac-weights-{cache_key(weights)}"


def cluster_cached(release: DeploymentRelease) -> Weights | None:
    """The weights of an active deployment cached `cluster`-wide (in a shared claim)."""
    weights = release.container.weights
    if weights is None or weights.cache != "cluster" or not release.active:
        return None
    return weights


def download_container(release: DeploymentRelease) -> dict[str, Any]:
    weights = release.container.weights
    assert weights is not None
    scheme, _, rest = weights.source.partition("://")
    if scheme == "hf":
        repo, _, revision = rest.partition("@")
        fetch = (
            f"pip install --quiet --no-cache-dir '{HF_HUB}' && huggingface-cli download "
            f"'{repo}' --revision '{revision or 'main'}' --local-dir {DOWNLOAD_TO}"
        )
        image = HF_IMAGE
    elif scheme == "s3":
        fetch = f"aws s3 sync '{weights.source}' {DOWNLOAD_TO} --no-progress"
        image = AWS_IMAGE
    else:
        fetch = f"gcloud storage rsync --recursive '{weights.source}' {DOWNLOAD_TO}"
        image = GCLOUD_IMAGE
    script = f"set -eu; {fetch}"
    size = release.container.weights_size
    if size:
        # Most of the declared size must be there: a truncated download fails the pod.
        least = memory_bytes(size) * 9 // 10
        script += (
            f'; got=$(du -sb {DOWNLOAD_TO} | cut -f1); if [ "$got" -lt {least} ]; then '
            f'echo "weights: $got bytes, expected about {size}" >&2; exit 1; fi'
        )
    container: dict[str, Any] = {
        "name": "fetch-weights",
        "image": image,
        "command": ["sh", "-c", script],
        "env": [{"name": "HF_HUB_ENABLE_HF_TRANSFER", "value": "0"}],
        "resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"memory": "4Gi"}},
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
        "volumeMounts": [{"name": "weights", "mountPath": DOWNLOAD_TO}],
    }
    if weights.secret:
        container["envFrom"] = [{"secretRef": {"name": weights.secret}}]
    return container


def weights_volume(release: DeploymentRelease) -> dict[str, Any]:
    weights = release.container.weights
    assert weights is not None
    if weights.cache == "node":
        return {
            "name": "weights",
            "hostPath": {
                "path": f"{NODE_CACHE_ROOT}/{cache_key(weights)}",
                "type": "DirectoryOrCreate",
            },
        }
    if weights.cache == "cluster":
        return {"name": "weights", "persistentVolumeClaim": {"claimName": claim_name(weights)}}
    return {"name": "weights", "emptyDir": {}}


def weights_mount(release: DeploymentRelease) -> dict[str, Any]:
    weights = release.container.weights
    assert weights is not None
    return {"name": "weights", "mountPath": weights.path, "readOnly": True}


def weights_claims(releases: list[DeploymentRelease], cluster: Cluster) -> list[dict[str, Any]]:
    """One shared volume per source cached `cluster`-wide."""
    claims: dict[str, dict[str, Any]] = {}
    for release in releases:
        weights = cluster_cached(release)
        if weights is None:
            continue
        size = release.container.weights_size
        # Room for the files plus a revision being fetched beside them.
        request = format_mebibytes(memory_bytes(size) * 3 // 2 // 2**20) if size else "200Gi"
        spec: dict[str, Any] = {
            "accessModes": ["ReadWriteMany"],
            "resources": {"requests": {"storage": request}},
        }
        if weights.storage_class:
            spec["storageClassName"] = weights.storage_class
        claims[claim_name(weights)] = {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {
                "name": claim_name(weights),
                "namespace": cluster.namespace,
                "labels": {labels.MANAGED_BY: "iac", labels.MODEL: release.model},
            },
            "spec": spec,
        }
    return [claims[name] for name in sorted(claims)]
