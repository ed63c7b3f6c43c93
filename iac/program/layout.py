"""Where each compiled object goes in the Pulumi program, decided from the objects alone.

For every object: the component that owns it (its model, or the cluster), a logical name that
is unique and stable across runs, the objects it must wait for (`depends_on`), and how long
Pulumi may wait for it to become ready (`custom_timeouts`). Pure functions over the compiled
dicts, with no Pulumi import, so the Pulumi layer stays one loop and these rules are tested
directly. Nothing here changes an object: registered inputs are the rendered objects.

Dependencies are read from references the objects themselves make (a ScaledObject's
`scaleTargetRef`, an HTTPRoute's `backendRefs`, a Service's selector, a Deployment's
`nodeSelector`...), and only to objects of the same stack; a reference to something managed
elsewhere (the KEDA interceptor's Service, the Gateway) orders nothing.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from iac.compile import labels
from iac.compile.names import logical_name
from iac.compile.serving.scaling import COLD_NODE_SECONDS
from iac.compile.serving.workload import SKIP_AWAIT

NODE_PROVISIONING_SECONDS = COLD_NODE_SECONDS
"""Budget for a GPU node to be provisioned and the image pulled before a server starts."""
PULUMI_DEFAULT_TIMEOUT_SECONDS = 600
"""pulumi-kubernetes waits 10 minutes for a Deployment or Service unless told otherwise."""

Key = tuple[str, str, str, str]
"""(API group, kind, namespace, name); namespace '' for cluster-scoped objects."""


@dataclass(frozen=True, slots=True)
class Timeouts:
    """How long Pulumi waits for an object to become ready, in seconds."""

    create: int
    update: int


@dataclass(frozen=True, slots=True)
class Placement:
    """One object and how the program registers it."""

    obj: dict[str, Any]
    """The compiled object, unchanged: its fields are the resource's inputs."""
    logical_name: str
    """`Deployment/models/llama-3-8b-v3`: kind, namespace and name, unique per type."""
    model: str | None
    """The model whose component owns it, or None for the cluster's component."""
    depends_on: tuple[int, ...]
    """Indexes (into the layout) of the objects it waits for, always earlier ones. Only the
    direct ones: a dependency that another dependency already waits for is left out
    (Pulumi orders creates, deletes and replacements by the transitive graph anyway)."""
    timeouts: Timeouts | None
    """Raised await timeouts, for objects that wait for model servers to become ready."""


class LayoutError(ValueError):
    """The objects cannot be registered as they are (a compiler bug, never user input)."""


def group(api_version: str) -> str:
    """`apps/v1` → `apps`; `v1` → `` (the core group)."""
    return api_version.rpartition("/")[0]


def key(obj: Mapping[str, Any]) -> Key:
    metadata = obj["metadata"]
    return (group(obj["apiVersion"]), obj["kind"], metadata.get("namespace", ""), metadata["name"])


def owner(obj: Mapping[str, Any]) -> str | None:
    """The model an object belongs to (its `iac.dev/model` label), or None: cluster-wide."""
    object_labels = obj["metadata"].get("labels") or {}
    model = object_labels.get(labels.MODEL)
    return model if isinstance(model, str) else None


def layout(objects: Sequence[dict[str, Any]]) -> list[Placement]:
    """Placements of `objects`, in an order where every dependency comes first (the
    compiler's apply order when it already is one)."""
    index = _Index(objects)
    names = [logical_name(obj) for obj in objects]
    models = [owner(obj) for obj in objects]
    seen: dict[tuple[bool, str, str, str], int] = {}
    for position, obj in enumerate(objects):
        identity = (models[position] is None, obj["apiVersion"], obj["kind"], names[position])
        if identity in seen:
            raise LayoutError(
                f"two objects would have the same Pulumi URN: {obj['apiVersion']} "
                f"{names[position]} (objects {seen[identity] + 1} and {position + 1})"
            )
        seen[identity] = position
    dependencies = [sorted(set(_dependencies(obj, index)) - {i}) for i, obj in enumerate(objects)]
    order = _topological(dependencies)
    direct = _reduced(dependencies, order)
    position_of = {old: new for new, old in enumerate(order)}
    return [
        Placement(
            obj=objects[old],
            logical_name=names[old],
            model=models[old],
            depends_on=tuple(sorted(position_of[d] for d in direct[old])),
            timeouts=_timeouts(objects[old], index),
        )
        for old in order
    ]


# --- references between objects ---------------------------------------------------------


class _Index:
    """Lookups over one stack's objects, each built once (a stack may hold thousands)."""

    def __init__(self, objects: Sequence[dict[str, Any]]) -> None:
        self.objects = objects
        self.by_key: dict[Key, int] = {}
        self.by_kind: dict[tuple[str, str], list[int]] = {}
        for i, obj in enumerate(objects):
            self.by_key[key(obj)] = i
            self.by_kind.setdefault((group(obj["apiVersion"]), obj["kind"]), []).append(i)
        self._pods: dict[tuple[str, str, Any], list[int]] | None = None
        self._scalers: dict[tuple[str, str, str], int] | None = None
        self._header_routes: dict[tuple[str, str, str], list[int]] | None = None

    def find(self, api_group: str, kind: str, namespace: str, name: str) -> int | None:
        return self.by_key.get((api_group, kind, namespace, name))

    def of_kind(self, api_group: str, kind: str) -> list[int]:
        return self.by_kind.get((api_group, kind), [])

    def workloads_of_service(self, service: int) -> list[int]:
        """Deployments whose pods a Service selects (same namespace, selector ⊆ pod labels)."""
        obj = self.objects[service]
        selector = _get(obj, "spec", "selector") or {}
        if not selector:
            return []
        namespace = obj["metadata"].get("namespace", "")
        if self._pods is None:
            self._pods = {}
            for i in self.of_kind("apps", "Deployment"):
                deployment = self.objects[i]
                pod_labels = _get(deployment, "spec", "template", "metadata", "labels") or {}
                ns = deployment["metadata"].get("namespace", "")
                for label in pod_labels.items():
                    self._pods.setdefault((ns, *label), []).append(i)
        pods = self._pods
        candidates = min((pods.get((namespace, k, v), []) for k, v in selector.items()), key=len)
        return [
            i
            for i in candidates
            if _subset(selector, _get(self.objects[i], "spec", "template", "metadata", "labels"))
        ]

    def service_and_workloads(self, namespace: str, name: str) -> list[int]:
        service = self.find("", "Service", namespace, name)
        return [] if service is None else [service, *self.workloads_of_service(service)]

    def scaler_of(self, namespace: str, kind: str, name: str) -> int | None:
        """The ScaledObject whose scaleTargetRef names this workload."""
        if self._scalers is None:
            self._scalers = {}
            for i in self.of_kind("keda.sh", "ScaledObject"):
                scaled = self.objects[i]
                target = _get(scaled, "spec", "scaleTargetRef") or {}
                if target.get("name"):
                    ns = scaled["metadata"].get("namespace", "")
                    found = (ns, target.get("kind", "Deployment"), target["name"])
                    self._scalers.setdefault(found, i)
        return self._scalers.get((namespace, kind, name))

    def routes_for_header(self, namespace: str, name: str, value: str) -> list[int]:
        """InterceptorRoutes with a rule whose headers include `name: value`."""
        if self._header_routes is None:
            self._header_routes = {}
            for i in self.of_kind("http.keda.sh", "InterceptorRoute"):
                route = self.objects[i]
                ns = route["metadata"].get("namespace", "")
                for match in _get(route, "spec", "rules") or []:
                    for header in match.get("headers") or []:
                        found = (ns, str(header["name"]).lower(), str(header["value"]))
                        self._header_routes.setdefault(found, []).append(i)
        return self._header_routes.get((namespace, name, value), [])


def _dependencies(obj: dict[str, Any], index: _Index) -> Iterable[int]:
    namespace = obj["metadata"].get("namespace", "")
    if namespace:
        found = index.find("", "Namespace", "", namespace)
        if found is not None:
            yield found
    kind = (group(obj["apiVersion"]), obj["kind"])
    rule = _RULES.get(kind)
    if rule is not None:
        yield from rule(obj, namespace, index)


def _workload(obj: dict[str, Any], namespace: str, index: _Index) -> Iterable[int]:
    """Pods wait for what they need to be scheduled and started: the node pools their
    nodeSelector picks (⊆ the pool's node labels), their PriorityClass, ServiceAccount,
    the claims and ConfigMaps they mount."""
    template = _get(obj, "spec", "template") if obj["kind"] != "PodTemplate" else obj["template"]
    pod = _get(template, "spec") or {}
    selector = pod.get("nodeSelector") or {}
    if selector:
        for i in index.of_kind("karpenter.sh", "NodePool"):
            pool = index.objects[i]
            node_labels = dict(_get(pool, "spec", "template", "metadata", "labels") or {})
            node_labels["karpenter.sh/nodepool"] = pool["metadata"]["name"]
            if _subset(selector, node_labels):
                yield i
    refs = [("scheduling.k8s.io", "PriorityClass", "", pod.get("priorityClassName"))]
    refs.append(("", "ServiceAccount", namespace, pod.get("serviceAccountName")))
    for volume in pod.get("volumes") or []:
        claim = (volume.get("persistentVolumeClaim") or {}).get("claimName")
        refs.append(("", "PersistentVolumeClaim", namespace, claim))
        refs.append(("", "ConfigMap", namespace, (volume.get("configMap") or {}).get("name")))
    for container in (pod.get("initContainers") or []) + (pod.get("containers") or []):
        for source in container.get("envFrom") or []:
            config_map = (source.get("configMapRef") or {}).get("name")
            refs.append(("", "ConfigMap", namespace, config_map))
    for api_group, kind, ns, name in refs:
        found = index.find(api_group, kind, ns, name) if isinstance(name, str) else None
        if found is not None:
            yield found


def _capacity_buffer(obj: dict[str, Any], namespace: str, index: _Index) -> Iterable[int]:
    """Placeholder capacity is shaped by its PodTemplate."""
    name = _get(obj, "spec", "podTemplateRef", "name")
    found = index.find("", "PodTemplate", namespace, name) if isinstance(name, str) else None
    if found is not None:
        yield found


def _node_pool(obj: dict[str, Any], namespace: str, index: _Index) -> Iterable[int]:
    """A NodePool waits for the node class it launches nodes with."""
    ref = _get(obj, "spec", "template", "spec", "nodeClassRef") or {}
    if ref.get("name"):
        found = index.find(ref.get("group", ""), ref.get("kind", ""), "", ref["name"])
        if found is not None:
            yield found


def _interceptor_route(obj: dict[str, Any], namespace: str, index: _Index) -> Iterable[int]:
    """The KEDA HTTP add-on routes to a Service: wait for it and the workload behind it."""
    service = _get(obj, "spec", "target", "service")
    if isinstance(service, str):
        yield from index.service_and_workloads(namespace, service)


def _scaled_object(obj: dict[str, Any], namespace: str, index: _Index) -> Iterable[int]:
    """KEDA scales an existing workload, and an interceptor-fed trigger needs its route."""
    target = _get(obj, "spec", "scaleTargetRef") or {}
    if target.get("name"):
        api_group = group(target.get("apiVersion", "apps/v1"))
        found = index.find(api_group, target.get("kind", "Deployment"), namespace, target["name"])
        if found is not None:
            yield found
    for trigger in _get(obj, "spec", "triggers") or []:
        route = (trigger.get("metadata") or {}).get("interceptorRoute")
        if isinstance(route, str):
            found = index.find("http.keda.sh", "InterceptorRoute", namespace, route)
            if found is not None:
                yield found


def _http_route(obj: dict[str, Any], namespace: str, index: _Index) -> Iterable[int]:
    """A route sends traffic only once what it routes to exists and is ready: its Services
    and their workloads; through the interceptor, the InterceptorRoute its header selects
    (and that route's Service and workload); in another namespace, the grant allowing it.
    It also waits for the SecurityPolicies that target it: a route created before the
    policy asking for its API keys would answer without one meanwhile."""
    route = obj["metadata"]["name"]
    for i in index.of_kind("gateway.envoyproxy.io", "SecurityPolicy"):
        policy = index.objects[i]
        if policy["metadata"].get("namespace", "") == namespace and any(
            ref.get("kind") == "HTTPRoute" and ref.get("name") == route
            for ref in _get(policy, "spec", "targetRefs") or []
        ):
            yield i
    for rule in _get(obj, "spec", "rules") or []:
        for ref in rule.get("backendRefs") or []:
            if ref.get("group", "") != "" or ref.get("kind", "Service") != "Service":
                continue
            target_namespace = ref.get("namespace", namespace)
            yield from index.service_and_workloads(target_namespace, ref["name"])
            if target_namespace != namespace:
                yield from _grants(index, namespace, target_namespace, ref["name"])
        headers = _set_headers(rule)
        if headers:
            yield from _interceptor_routes(index, namespace, headers)


def _grants(index: _Index, source: str, target: str, service: str) -> Iterable[int]:
    for i in index.of_kind("gateway.networking.k8s.io", "ReferenceGrant"):
        grant = index.objects[i]
        if grant["metadata"].get("namespace", "") != target:
            continue
        spec = grant.get("spec") or {}
        allows_from = any(
            f.get("kind") == "HTTPRoute" and f.get("namespace") == source
            for f in spec.get("from") or []
        )
        allows_to = any(
            t.get("group", "") == ""
            and t.get("kind") == "Service"
            and t.get("name", service) == service
            for t in spec.get("to") or []
        )
        if allows_from and allows_to:
            yield i


def _set_headers(rule: Mapping[str, Any]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for f in rule.get("filters") or []:
        if f.get("type") == "RequestHeaderModifier":
            for header in (f.get("requestHeaderModifier") or {}).get("set") or []:
                headers[str(header["name"]).lower()] = str(header["value"])
    return headers


def _interceptor_routes(index: _Index, namespace: str, headers: Mapping[str, str]) -> Iterable[int]:
    candidates = {
        i
        for name, value in headers.items()
        for i in index.routes_for_header(namespace, name, value)
    }
    for i in sorted(candidates):
        route = index.objects[i]
        for match in _get(route, "spec", "rules") or []:
            wanted = {str(h["name"]).lower(): str(h["value"]) for h in match.get("headers") or []}
            if wanted and _subset(wanted, headers):
                yield i
                yield from _interceptor_route(route, namespace, index)
                break


_RULES = {
    ("apps", "Deployment"): _workload,
    ("apps", "DaemonSet"): _workload,
    ("apps", "StatefulSet"): _workload,
    ("", "PodTemplate"): _workload,
    ("autoscaling.x-k8s.io", "CapacityBuffer"): _capacity_buffer,
    ("karpenter.sh", "NodePool"): _node_pool,
    ("http.keda.sh", "InterceptorRoute"): _interceptor_route,
    ("keda.sh", "ScaledObject"): _scaled_object,
    ("gateway.networking.k8s.io", "HTTPRoute"): _http_route,
}


def _topological(dependencies: Sequence[Sequence[int]]) -> list[int]:
    """Indexes ordered so dependencies come first; otherwise the given order is kept."""
    order: list[int] = []
    state = [0] * len(dependencies)  # 0 new, 1 in progress, 2 done
    for start in range(len(dependencies)):
        if state[start]:
            continue
        stack = [(start, iter(dependencies[start]))]
        state[start] = 1
        while stack:
            node, pending = stack[-1]
            for dep in pending:
                if state[dep] == 1:
                    raise LayoutError("objects depend on each other in a cycle")
                if state[dep] == 0:
                    state[dep] = 1
                    stack.append((dep, iter(dependencies[dep])))
                    break
            else:
                stack.pop()
                state[node] = 2
                order.append(node)
    return order


def _reduced(dependencies: Sequence[Sequence[int]], order: Sequence[int]) -> list[list[int]]:
    """The transitive reduction: each node's dependencies minus those reachable through
    another of its dependencies. `order` is topological (dependencies first)."""
    reach: list[set[int]] = [set() for _ in dependencies]
    direct: list[list[int]] = [[] for _ in dependencies]
    for node in order:
        implied: set[int] = set()
        for dep in dependencies[node]:
            implied |= reach[dep]
        direct[node] = [dep for dep in dependencies[node] if dep not in implied]
        reach[node] = implied.union(dependencies[node])
    return direct


# --- await timeouts ------------------------------------------------------------------------


def _timeouts(obj: dict[str, Any], index: _Index) -> Timeouts | None:
    """Workloads, and the Services in front of Deployments (pulumi-kubernetes waits for
    their endpoints to be ready too) unless they skip Pulumi's await, wait for model
    servers: longer than the default."""
    kind = (group(obj["apiVersion"]), obj["kind"])
    if kind == ("apps", "Deployment"):
        return deployment_timeouts(obj, _max_replicas(obj, index))
    if kind == ("apps", "DaemonSet"):
        budget = pod_budget(obj)
        return Timeouts(create=budget, update=budget)
    if kind == ("", "Service") and not _skips_await(obj):
        own = key(obj)
        workloads = index.workloads_of_service(index.by_key[own])
        found = [
            deployment_timeouts(index.objects[i], _max_replicas(index.objects[i], index))
            for i in workloads
        ]
        if found:
            return Timeouts(
                create=max(t.create for t in found), update=max(t.update for t in found)
            )
    return None


def _skips_await(obj: Mapping[str, Any]) -> bool:
    annotations = _get(obj, "metadata", "annotations") or {}
    return bool(annotations.get(SKIP_AWAIT) == "true")


def pod_budget(workload: Mapping[str, Any]) -> int:
    """How long one new pod may take to become ready: a node (NODE_PROVISIONING_SECONDS,
    image pull included) plus the server's startup (its startup probe's initialDelaySeconds
    + failureThreshold × periodSeconds), and never less than the workload's own
    progressDeadlineSeconds (the compiler's word on how long a pod may take to progress,
    which may count more than the probe, such as downloading weights)."""
    pod = _get(workload, "spec", "template", "spec") or {}
    startup = max((_startup_seconds(c) for c in pod.get("containers") or []), default=0)
    deadline = int(_get(workload, "spec", "progressDeadlineSeconds") or 0)
    return max(startup + NODE_PROVISIONING_SECONDS, deadline, PULUMI_DEFAULT_TIMEOUT_SECONDS)


def deployment_timeouts(deployment: Mapping[str, Any], max_replicas: int) -> Timeouts:
    """Create waits for one pod (`pod_budget`): a Deployment without `replicas` (KEDA owns
    it) starts one. Update waits for a rolling update of up to `max_replicas` pods, in waves
    of `maxSurge` new pods: the first wave may need a new node (a pod's budget), each later
    one lands on nodes freed by the pods it replaced and needs a server start (the budget
    without the node)."""
    budget = pod_budget(deployment)
    strategy = _get(deployment, "spec", "strategy") or {}
    waves = 1
    if strategy.get("type", "RollingUpdate") == "RollingUpdate":
        surge = (strategy.get("rollingUpdate") or {}).get("maxSurge", "25%")
        waves = max(1, math.ceil(max_replicas / _surge_pods(surge, max_replicas)))
    start = budget - NODE_PROVISIONING_SECONDS
    return Timeouts(create=budget, update=budget + (waves - 1) * start)


def _startup_seconds(container: Mapping[str, Any]) -> int:
    probe = container.get("startupProbe")
    if not probe:
        return 0
    # Kubernetes defaults: periodSeconds 10, failureThreshold 3.
    return int(
        probe.get("initialDelaySeconds", 0)
        + probe.get("failureThreshold", 3) * probe.get("periodSeconds", 10)
    )


def _surge_pods(surge: Any, replicas: int) -> int:
    if isinstance(surge, str) and surge.endswith("%"):
        return max(1, math.ceil(replicas * float(surge[:-1]) / 100))
    return max(1, int(surge))


def _max_replicas(deployment: Mapping[str, Any], index: _Index) -> int:
    """The most pods a rollout may replace: the ScaledObject's maxReplicaCount, else the
    Deployment's own replicas (1 when unset)."""
    metadata = deployment["metadata"]
    scaler = index.scaler_of(metadata.get("namespace", ""), "Deployment", metadata["name"])
    if scaler is not None:
        return int(_get(index.objects[scaler], "spec", "maxReplicaCount") or 100)  # KEDA default
    return int(_get(deployment, "spec", "replicas") or 1)


# --- helpers -------------------------------------------------------------------------------


def _get(obj: Mapping[str, Any], *path: str) -> Any:
    value: Any = obj
    for part in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _subset(small: Mapping[str, Any], big: Mapping[str, Any] | None) -> bool:
    return big is not None and all(big.get(k) == v for k, v in small.items())
