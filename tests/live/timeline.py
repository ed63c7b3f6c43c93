"""What one environment's route looks like over time, on the API server and in the Gateway.

A test that changes an environment under a request stream (tests/live/load.py) needs to know,
at each moment, which weights the API server's HTTPRoute holds, which weights the Gateway
(Traefik) actually serves, and how many ready endpoints each backend Service has. A
:class:`RouteTimeline` samples all three in a background thread, every ``period_s`` (0.1 s
by default, in-process: no kubectl), on the stream's clock, so a test can line up each
request with the state the Gateway was in when it was sent, and measure:

- how long after the API server held new weights the Gateway served them
  (:meth:`RouteTimeline.switches`: an upper bound, to one sampling period);
- the longest stretch in which the backends the Gateway sends the environment's traffic to
  had no ready endpoint (:meth:`RouteTimeline.longest_unserved_s`).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.live.gateway import Gateway
from tests.live.standins import ApiReader

Weights = dict[str, int]
"""Backend Service name → weight, for the backends with a weight above 0."""


@dataclass(frozen=True)
class Sample:
    at_s: float
    api: Weights  # the weights of the environment's rule in the API server's HTTPRoute
    served: Weights  # the weights Traefik serves for it (its weighted service)
    ready: dict[str, int]  # ready endpoints of each backend Service, from its EndpointSlices


@dataclass(frozen=True)
class Switch:
    """The API server's route changed to ``weights``; Traefik served them ``latency_s`` later
    (at most: the change happened within one period before it was first sampled)."""

    at_s: float
    weights: Weights
    latency_s: float | None  # None: never served before the timeline stopped


def rule_weights(route: Mapping[str, Any], path: str) -> Weights:
    """The backends of ``route``'s rule for ``path`` (a PathPrefix value) and their weights
    (a lone backend: 100; the weight-0 ones left out)."""
    rule = next(r for r in route["spec"]["rules"] if r["matches"][0]["path"]["value"] == path)
    refs = rule["backendRefs"]
    found = {ref["name"]: (ref.get("weight", 1) if len(refs) > 1 else 100) for ref in refs}
    return {name: weight for name, weight in found.items() if weight}


@dataclass
class RouteTimeline:
    """Samples one environment's route (module docstring) while running."""

    gateway: Gateway
    namespace: str
    route: str  # the HTTPRoute's name (the model's)
    path: str  # the environment's path prefix, `/environments/production`
    clock: Callable[[], float]  # the stream's clock (seconds since it started)
    period_s: float = 0.1
    samples: list[Sample] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> RouteTimeline:
        self._api = ApiReader(self.gateway.cluster)
        self._thread = threading.Thread(target=self._run, name="route-timeline", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def latest(self) -> Sample | None:
        return self.samples[-1] if self.samples else None

    def wait_served(self, weights: Weights, timeout_s: float = 30.0) -> float:
        """Until Traefik serves ``weights``; the stream time it was first seen serving them
        (in its current stretch)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            stretches = self.served_states()
            if stretches and stretches[-1][2] == weights:
                return stretches[-1][0]
            time.sleep(self.period_s / 2)
        raise AssertionError(f"Traefik did not serve {weights}: {self.latest()} {self.errors[-3:]}")

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.samples.append(self._sample())
            except Exception as error:  # noqa: BLE001 - kept for the test's message
                self.errors.append(f"{self.clock():.1f}s {type(error).__name__}: {error}")
            self._stop.wait(self.period_s)

    def _sample(self) -> Sample:
        at = self.clock()
        base = f"/apis/gateway.networking.k8s.io/v1/namespaces/{self.namespace}/httproutes/"
        api = rule_weights(self._api.get(base + self.route), self.path)
        slices = self._api.get(
            f"/apis/discovery.k8s.io/v1/namespaces/{self.namespace}/endpointslices"
        )["items"]
        ready: dict[str, int] = {}
        for item in slices:
            service = item["metadata"].get("labels", {}).get("kubernetes.io/service-name", "")
            ready[service] = ready.get(service, 0) + sum(
                1
                for endpoint in item.get("endpoints") or []
                if (endpoint.get("conditions") or {}).get("ready", True)
            )
        return Sample(at, api, self._served(), ready)

    def _served(self) -> Weights:
        """The weights of Traefik's weighted service behind the router of ``path``."""
        port = self.gateway.api_port
        with urllib.request.urlopen(
            f"http://127.0.0.1:{port}/api/http/services?per_page=10000", timeout=5
        ) as response:
            services: list[dict[str, Any]] = json.loads(response.read())
        matcher = f'Path("{self.path}")'
        routers = [
            r
            for r in self.gateway.routers()
            if r.get("provider") == "kubernetesgateway"
            and f"-{self.namespace}-{self.route}-" in r["name"]
            and matcher in r.get("rule", "")
        ]
        if len(routers) != 1:
            return {}
        name = routers[0]["service"] + "@kubernetesgateway"
        weighted = next((s for s in services if s["name"] == name), None)
        if weighted is None:
            return {}
        marker = f"-svc-{self.namespace}-"
        served: Weights = {}
        for child in weighted["weighted"]["services"]:
            # `<router>-svc-<namespace>-<service>-<index>`: Traefik's name for a backendRef.
            service = child["name"].split(marker, 1)[1].rsplit("-", 1)[0]
            if child.get("weight", 1):
                served[service] = child.get("weight", 1)
        if len(served) == 1:
            served = dict.fromkeys(served, 100)
        return served

    def switches(self) -> list[Switch]:
        """Each change of the API server's weights, and when Traefik served them."""
        found: list[Switch] = []
        for index, sample in enumerate(self.samples):
            if index and sample.api != self.samples[index - 1].api:
                before = self.samples[index - 1].at_s
                served = next(
                    (s.at_s for s in self.samples[index:] if s.served == sample.api), None
                )
                found.append(
                    Switch(sample.at_s, sample.api, None if served is None else served - before)
                )
        return found

    def served_states(self) -> list[tuple[float, float, Weights]]:
        """(from, to, weights): the stretches in which Traefik served one set of weights,
        in order (an empty set, seen while it reloads, is left out)."""
        stretches: list[tuple[float, float, Weights]] = []
        for sample in self.samples:
            if not sample.served:
                continue
            if stretches and stretches[-1][2] == sample.served:
                stretches[-1] = (stretches[-1][0], sample.at_s, sample.served)
            else:
                stretches.append((sample.at_s, sample.at_s, sample.served))
        return stretches

    def longest_unserved_s(self) -> float:
        """The longest stretch in which no backend Traefik served the environment with (at
        a weight above 0) had a ready endpoint; 0.0 when there was always one."""
        longest, began = 0.0, None
        for sample in self.samples:
            ready = sum(sample.ready.get(name, 0) for name in sample.served)
            if sample.served and ready == 0:
                began = sample.at_s if began is None else began
                longest = max(longest, sample.at_s - began + self.period_s)
            else:
                began = None
        return longest
