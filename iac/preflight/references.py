"""What the objects name that iac does not create: the namespaces they live in, the Secrets
their pods read and those holding the API keys their SecurityPolicies accept, and the
Services their routes send to, each of which must already exist."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from iac.preflight.cluster import ClusterReader
from iac.preflight.missing import Missing, missing, needed_by
from iac.spec.stack import Cluster

Objects = Sequence[Mapping[str, Any]]


def missing_namespaces(objects: Objects, cluster: Cluster, reader: ClusterReader) -> list[Missing]:
    """A `Missing` per namespace that objects live in, that neither exists nor is created
    by a Namespace among the objects."""
    created = _created(objects, "Namespace")
    wanted: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for obj in objects:
        namespace = obj.get("metadata", {}).get("namespace")
        if namespace and namespace not in created:
            wanted[namespace].append(obj)
    if not wanted:
        return []
    existing = reader.names("namespaces")
    found = []
    for namespace, users in sorted(wanted.items()):
        if namespace in existing:
            continue
        if namespace == cluster.scale_from_zero.namespace:
            fix = (
                "it is the KEDA HTTP add-on's namespace, created by its install (Helm chart "
                f"kedacore/keda-add-ons-http, --namespace {namespace} --create-namespace); or "
                "set cluster.scale_from_zero.namespace to the namespace the add-on runs in"
            )
        elif namespace == cluster.namespace:
            fix = (
                f"create it (kubectl create namespace {namespace}), or set "
                "cluster.create_namespace: true so that iac creates it"
            )
        else:
            fix = f"create it (kubectl create namespace {namespace})"
        found.append(
            missing(
                "missing-namespace",
                f"namespace {namespace} does not exist, needed by {needed_by(users)}: {fix}",
                users,
            )
        )
    return found


SECRET_FIXES = {
    "envFrom": (
        "create it (kubectl create secret generic {name} -n {namespace} "
        "--from-literal=KEY=VALUE); iac names it (secrets:, weights.secret) but never holds "
        "its values"
    ),
    "env": (
        "create it (kubectl create secret generic {name} -n {namespace} "
        "--from-literal=KEY=VALUE); iac names it but never holds its values"
    ),
    "imagePullSecrets": (
        "create it (kubectl create secret docker-registry {name} -n {namespace} "
        "--docker-server=REGISTRY --docker-username=USER --docker-password=TOKEN); iac names "
        "it (image_pull_secrets:) but never holds its values"
    ),
    "volume": (
        "create it (kubectl create secret generic {name} -n {namespace} "
        "--from-file=PATH); iac names it but never holds its values"
    ),
    "apiKeyAuth": (
        "create it (kubectl create secret generic {name} -n {namespace} "
        "--from-literal=CLIENT=KEY, one entry per client); iac names it (auth.key_sets) but "
        "never holds its keys. Until it exists, Envoy Gateway answers every request to those "
        "endpoints with 500, whatever key it carries"
    ),
}
"""How to create a Secret, by how the pods use it."""


def missing_secrets(objects: Objects, reader: ClusterReader) -> list[Missing]:
    """A `Missing` per Secret the objects' pods read (not marked optional), or whose API
    keys a SecurityPolicy accepts, that neither exists nor is among the objects."""
    created = _created(objects, "Secret")
    wanted: dict[tuple[str, str], dict[str, list[Mapping[str, Any]]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for obj in objects:
        namespace = obj.get("metadata", {}).get("namespace")
        pod = _pod_spec(obj)
        if not namespace:
            continue
        references = secret_references(pod) if pod is not None else key_secret_references(obj)
        for name, use in references:
            if (namespace, name) not in created:
                wanted[(namespace, name)][use].append(obj)
    found = []
    existing: dict[str, set[str]] = {}
    for (namespace, name), uses in sorted(wanted.items()):
        if namespace not in existing:
            existing[namespace] = reader.names("secrets", namespace)
        if name in existing[namespace]:
            continue
        users = [o for objs in uses.values() for o in objs]
        how = ", ".join(sorted(uses))
        fix = SECRET_FIXES[sorted(uses)[0]].format(name=name, namespace=namespace)
        found.append(
            missing(
                "missing-secret",
                f"Secret {namespace}/{name} does not exist, read by {needed_by(users)} "
                f"through {how}: {fix}",
                users,
            )
        )
    return found


def secret_references(pod: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(Secret name, how it is used) for each Secret a pod spec needs: `envFrom`, `env`,
    `imagePullSecrets`, `volume`. A reference marked `optional: true` is left out (the pod
    starts without it)."""
    for container in [*pod.get("initContainers", []), *pod.get("containers", [])]:
        for source in container.get("envFrom") or []:
            ref = source.get("secretRef")
            if ref and not ref.get("optional"):
                yield ref["name"], "envFrom"
        for variable in container.get("env") or []:
            ref = (variable.get("valueFrom") or {}).get("secretKeyRef")
            if ref and not ref.get("optional"):
                yield ref["name"], "env"
    for ref in pod.get("imagePullSecrets") or []:
        yield ref["name"], "imagePullSecrets"
    for volume in pod.get("volumes") or []:
        secret = volume.get("secret")
        if secret and not secret.get("optional"):
            yield secret["secretName"], "volume"
        for source in (volume.get("projected") or {}).get("sources") or []:
            projected = source.get("secret")
            if projected and not projected.get("optional"):
                yield projected["name"], "volume"


def key_secret_references(obj: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(Secret name, `apiKeyAuth`) for each Secret of API keys an Envoy Gateway
    SecurityPolicy accepts (its namespace's)."""
    if obj.get("kind") != "SecurityPolicy":
        return
    auth = (obj.get("spec") or {}).get("apiKeyAuth") or {}
    for ref in auth.get("credentialRefs") or []:
        if ref.get("group", "") == "" and ref.get("kind", "Secret") == "Secret":
            yield ref["name"], "apiKeyAuth"


def missing_services(objects: Objects, cluster: Cluster, reader: ClusterReader) -> list[Missing]:
    """A `Missing` per Service an HTTPRoute sends to that neither exists (with the port the
    route names) nor is among the objects: the KEDA HTTP add-on's interceptor."""
    created = _created(objects, "Service")
    wanted: dict[tuple[str, str], dict[int | None, list[Mapping[str, Any]]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for route in (o for o in objects if o.get("kind") == "HTTPRoute"):
        namespace = route["metadata"].get("namespace", "default")
        for rule in route.get("spec", {}).get("rules", []):
            for ref in rule.get("backendRefs") or []:
                if ref.get("group", "") != "" or ref.get("kind", "Service") != "Service":
                    continue
                key = (ref.get("namespace", namespace), ref["name"])
                if key not in created:
                    wanted[key][ref.get("port")].append(route)
    found = []
    interceptor = (cluster.scale_from_zero.namespace, cluster.scale_from_zero.interceptor_service)
    for (namespace, name), ports in sorted(wanted.items()):
        users = [o for objs in ports.values() for o in objs]
        service = reader.get("services", name, namespace)
        if service is None:
            fix = (
                "it is the KEDA HTTP add-on's interceptor, installed by its Helm chart "
                "(kedacore/keda-add-ons-http); or set cluster.scale_from_zero (namespace, "
                "interceptor_service) to the add-on's"
                if (namespace, name) == interceptor
                else "create it"
            )
            found.append(
                missing(
                    "missing-service",
                    f"Service {namespace}/{name} does not exist, a backend of "
                    f"{needed_by(users)}: {fix}",
                    users,
                )
            )
            continue
        offered = {p.get("port") for p in service.get("spec", {}).get("ports") or []}
        for port in sorted(p for p in ports if p is not None and p not in offered):
            fix = (
                "set cluster.scale_from_zero.interceptor_port to the port of its proxy"
                if (namespace, name) == interceptor
                else "name a port it has"
            )
            listed = ", ".join(str(p) for p in sorted(o for o in offered if o is not None))
            found.append(
                missing(
                    "missing-service",
                    f"Service {namespace}/{name} has no port {port} (it has {listed or 'none'})"
                    f", a backend of {needed_by(ports[port])}: {fix}",
                    ports[port],
                )
            )
    return found


def _created(objects: Objects, kind: str) -> set[Any]:
    """Names (namespaced: (namespace, name)) of the objects of `kind` among `objects`."""
    found: set[Any] = set()
    for obj in objects:
        if obj.get("kind") == kind and obj.get("apiVersion") == "v1":
            meta = obj.get("metadata", {})
            found.add((meta["namespace"], meta["name"]) if meta.get("namespace") else meta["name"])
    return found


def _pod_spec(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The pod spec of a workload (Deployment, DaemonSet...) or PodTemplate; None otherwise."""
    template = obj.get("template") if obj.get("kind") == "PodTemplate" else None
    template = template or (obj.get("spec") or {}).get("template")
    spec = template.get("spec") if isinstance(template, Mapping) else None
    return spec if isinstance(spec, Mapping) else None
