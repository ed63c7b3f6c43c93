"""Reading the cluster for preflight: a small interface, answered by `kubectl` (the
kubeconfig and context the apply uses) or, in tests, by recorded answers.

Only what the checks need is read: which API groups and kinds are served (discovery, as
`kubectl api-versions` does), the names of Namespaces and Secrets (`-o name`: a Secret's
data is never fetched), and single objects (a Service, a Gateway, a Namespace's labels).
`iac up` reads through the same `Kubectl` while a rollout waits for readiness (Deployments
and their pods: `iac.rollout.readiness`).
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from iac.errors import IacError


class ClusterReader(Protocol):
    def api_groups(self) -> dict[str, list[str]]:
        """Each API group the server serves → its served versions (`keda.sh` →
        `["v1alpha1"]`); the core group is `""`."""

    def kinds(self, group_version: str) -> list[str]:
        """The kinds served at `group_version` (`keda.sh/v1alpha1`, `v1`)."""

    def names(self, resource: str, namespace: str | None = None) -> set[str]:
        """Names of the objects of `resource` (`namespaces`, `secrets`) in `namespace`."""

    def get(self, resource: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        """One object (`services`, `gateways.v1.gateway.networking.k8s.io`), None if absent."""


_NOT_SERVED = '{"resources": []}'
"""A group version's discovery document serving no kind."""


class ClusterUnreadable(IacError):
    """kubectl could not answer: not installed, the cluster unreachable, access refused."""


@dataclass
class Kubectl:
    """Reads with `kubectl` under the given kubeconfig file and context (unset: kubectl's
    own defaults, `$KUBECONFIG` or `~/.kube/config` and its current context, which are
    the Kubernetes provider's defaults too)."""

    kubeconfig: str | None = None
    context: str | None = None
    run: Callable[..., subprocess.CompletedProcess[str]] = subprocess.run
    _groups: dict[str, list[str]] | None = field(default=None, repr=False)
    _kinds: dict[str, list[str]] = field(default_factory=dict, repr=False)

    def api_groups(self) -> dict[str, list[str]]:
        if self._groups is None:
            listed = json.loads(self._kubectl("get", "--raw", "/apis"))
            groups = {"": ["v1"]}
            for group in listed.get("groups", []):
                groups[group["name"]] = [v["version"] for v in group.get("versions", [])]
            self._groups = groups
        return self._groups

    def kinds(self, group_version: str) -> list[str]:
        if group_version not in self._kinds:
            path = "/api/v1" if group_version == "v1" else f"/apis/{group_version}"
            # Not found though `/apis` listed it: its CRDs were deleted (or created) between
            # the two reads, and the discovery lists lag. It serves nothing now.
            answer = self._kubectl("get", "--raw", path, not_found=_NOT_SERVED)
            resources = json.loads(answer).get("resources", [])
            # `deployments/scale` and the like are subresources, not kinds of their own.
            self._kinds[group_version] = sorted(
                {r["kind"] for r in resources if "/" not in r.get("name", "")}
            )
        return self._kinds[group_version]

    def names(self, resource: str, namespace: str | None = None) -> set[str]:
        where = ["-n", namespace] if namespace else []
        listed = self._kubectl("get", resource, *where, "-o", "name")
        return {line.partition("/")[2] for line in listed.splitlines() if line.strip()}

    def get(self, resource: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        where = ["-n", namespace] if namespace else []
        found = self._kubectl("get", resource, name, *where, "-o", "json", "--ignore-not-found")
        return json.loads(found) if found.strip() else None

    def items(self, resource: str, namespace: str, selector: str) -> list[dict[str, Any]]:
        """The objects of `resource` in `namespace` with the labels `selector` (`a=b,c=d`)."""
        found = self._kubectl("get", resource, "-n", namespace, "-l", selector, "-o", "json")
        items: list[dict[str, Any]] = json.loads(found).get("items", [])
        return items

    def _kubectl(self, *args: str, not_found: str | None = None) -> str:
        """kubectl's output; `not_found` (when given) in place of a NotFound answer."""
        command = ["kubectl", *args]
        if self.kubeconfig:
            command += ["--kubeconfig", self.kubeconfig]
        if self.context:
            command += ["--context", self.context]
        try:
            done = self.run(command, capture_output=True, text=True, check=False, timeout=60)
        except FileNotFoundError:
            raise ClusterUnreadable(
                "preflight reads the cluster with kubectl, which is not on PATH; install it"
            ) from None
        except subprocess.TimeoutExpired:
            raise ClusterUnreadable(
                f"preflight could not read the cluster: `kubectl {' '.join(args)}` took over 60 s"
            ) from None
        if done.returncode != 0 and not_found is not None and "(NotFound)" in done.stderr:
            return not_found
        if done.returncode != 0:
            raise ClusterUnreadable(
                f"preflight could not read the cluster: `kubectl {' '.join(args)}`: "
                f"{done.stderr.strip()}"
            )
        return str(done.stdout)


@contextmanager
def kubeconfig_file(value: str | None, root: Path) -> Iterator[str | None]:
    """A kubeconfig file for kubectl from a setting that, like the Kubernetes provider's
    `kubeconfig`, holds a path (`~` expanded, relative to `root`) or a kubeconfig's
    contents (written to a private temporary file, removed afterwards). None: unset."""
    if not value:
        yield None
        return
    path = Path(os.path.expanduser(value))
    path = path if path.is_absolute() else root / path
    if "\n" not in value and path.is_file():
        yield str(path)
        return
    handle, name = tempfile.mkstemp(prefix="iac-kubeconfig-", suffix=".yaml")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:  # mkstemp's mode is 0600
            file.write(value)
        yield name
    finally:
        os.unlink(name)
