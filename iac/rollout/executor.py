"""Running a change stage by stage: apply, wait until ready, stabilize, check the gates; on
a failure roll back to the last good release; after an interruption, resume.

Readiness comes from the cluster (`iac.rollout.readiness`): after each stage, the
deployments the rollout moves must have the stage's replicas ready, read from the API server,
within their startup budget; one that does not fails the stage like a failed gate. Without a
cluster to read (an engine rendering to a folder) there is nothing to wait for.

The engine (Pulumi's Automation API in `iac up`, a recording stand-in in tests) applies one
compiled stage at a time and records the progress in the stack's outputs, which is how a
later run knows where an interrupted one stopped. Pulumi's own stack lock keeps two rollouts
of one stack from running at once.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from iac.compile import Compiled
from iac.errors import IacError
from iac.rollout.planner import RolloutPlan
from iac.rollout.readiness import (
    ClusterObjects,
    DeploymentKey,
    NotReady,
    expectations,
    wait_ready,
    without_await,
)
from iac.rollout.stages import Stage
from iac.spec.stack import Gate
from iac.spec.types import format_duration


@dataclass(frozen=True, slots=True)
class Progress:
    """What the stack's outputs record about the change being rolled out."""

    head: str
    """Digest of the head release's objects: which change this progress belongs to."""
    stage: int
    """The last stage applied."""
    stages: int
    status: str
    """`rolling`, `done` or `rolled-back`."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> Progress | None:
        try:
            return cls(
                str(data["head"]), int(data["stage"]), int(data["stages"]), str(data["status"])
            )
        except (KeyError, TypeError, ValueError):
            return None


class Engine(Protocol):
    def apply(self, compiled: Compiled, progress: Progress) -> None:
        """Apply the objects and wait for the engine's readiness checks; raise on failure."""

    def progress(self) -> Progress | None:
        """The progress recorded by the last apply, if any."""


class EngineError(IacError):
    """An apply failed (the engine's message says why)."""


class GateFailed(IacError):
    pass


MetricReader = Callable[[str], float]
"""PromQL → its value (one number)."""


def digest(compiled: Compiled) -> str:
    """Which change a recorded progress belongs to: everything the stage applies (cloud
    resources such as GKE node pools included)."""
    applied: Any = compiled.objects if not compiled.cloud else [compiled.objects, compiled.cloud]
    text = json.dumps(applied, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Outcome:
    status: str
    """`done`, `rolled-back` or `failed` (failed and not rolled back)."""
    applied: tuple[int, ...]
    """Stages applied in this run."""
    reason: str = ""


def run(
    stages: list[Stage],
    engine: Engine,
    base: Compiled | None,
    read_metric: MetricReader,
    rollback: bool = True,
    report: Callable[[str], None] = print,
    sleep: Callable[[float], None] = time.sleep,
    cluster: ClusterObjects | None = None,
    ready_timeout: int | None = None,
    clock: Callable[[], float] = time.monotonic,
    reuse: Compiled | None = None,
) -> Outcome:
    """Apply `stages` in order (resuming after the last applied one of the same change).
    With `cluster`, wait after each stage until the deployments the rollout moves are ready
    (`ready_timeout` seconds at most, else each one's startup budget). `reuse`: the head's
    compile, whose unchanged models' objects the stages take as they are."""
    compiled = [stage.compile(reuse=reuse) for stage in stages]
    head = digest(compiled[-1])
    # The deployments the rollout holds at a replica count: the candidates and those they
    # replace. Their readiness is waited for here, so Pulumi does not await them before the
    # head (which is registered as compiled: it is what `pulumi up` and the digest see).
    moved: set[DeploymentKey] = {key for stage in stages for key in stage.floors}
    if cluster is not None:
        compiled[:-1] = [without_await(objects, moved) for objects in compiled[:-1]]

    def ready(objects: Compiled) -> None:
        if cluster is not None:
            wanted = expectations(objects, moved, ready_timeout)
            wait_ready(wanted, cluster, report, clock, sleep)

    def restore(objects: Compiled) -> None:  # the base, after a failed stage
        restored = without_await(objects, moved) if cluster is not None else objects
        engine.apply(restored, Progress(head, current, len(stages), "rolled-back"))

    start = _resume_from(engine, head, report)
    applied: list[int] = []
    current = start
    try:
        for stage, objects in zip(stages[start:], compiled[start:], strict=True):
            current = stage.index
            last = stage.index == len(stages) - 1
            report(f"stage {stage.index + 1}/{len(stages)}: {stage.description}")
            status = "done" if last else "rolling"
            engine.apply(objects, Progress(head, stage.index, len(stages), status))
            applied.append(stage.index)
            ready(objects)
            if stage.wait_seconds:
                _stabilize(stage.wait_seconds, report, sleep)
            for rollout, gate in stage.gates:
                _check_gate(rollout, gate, read_metric, report)
    except (EngineError, GateFailed, NotReady, KeyboardInterrupt) as exc:
        reason = "interrupted" if isinstance(exc, KeyboardInterrupt) else str(exc)
        report(f"stage {current + 1} failed: {reason}")
        return _after_failure(reason, tuple(applied), rollback, base, restore, ready, report)
    return Outcome("done", tuple(applied))


def _resume_from(engine: Engine, head: str, report: Callable[[str], None]) -> int:
    """The first stage to apply: after the last one applied of the same change, if a run of
    it was interrupted; else the first."""
    recorded = engine.progress()
    if recorded and recorded.head == head and recorded.status == "rolling":
        report(f"resuming after stage {recorded.stage + 1} of {recorded.stages}")
        return recorded.stage + 1
    return 0


def _after_failure(
    reason: str,
    applied: tuple[int, ...],
    rollback: bool,
    base: Compiled | None,
    restore: Callable[[Compiled], None],
    ready: Callable[[Compiled], None],
    report: Callable[[str], None],
) -> Outcome:
    """After a failed stage: roll back to `base` (applied by `restore`, then waited ready
    for), unless told not to or there is none."""
    if not rollback:
        report("not rolling back (--no-rollback): the next `iac up` resumes from here")
        return Outcome("failed", applied, reason)
    if base is None:
        report("nothing to roll back to: this was the stack's first release")
        return Outcome("failed", applied, reason)
    report("rolling back to the last good release")
    restore(base)
    try:
        ready(base)
    except NotReady as again:
        report(f"rolled back, but {again}")
        return Outcome("failed", applied, f"{reason}; after the rollback: {again}")
    return Outcome("rolled-back", applied, reason)


def _stabilize(seconds: int, report: Callable[[str], None], sleep: Callable[[float], None]) -> None:
    """Wait `seconds`, saying how long is left every minute (or every tenth of the wait)."""
    tick = max(1, min(60, seconds // 10 or 1))
    left = seconds
    while left > 0:
        report(f"  stabilizing: {format_duration(left)} left")
        step = min(tick, left)
        sleep(step)
        left -= step


def _check_gate(
    rollout: RolloutPlan, gate: Gate, read_metric: MetricReader, report: Callable[[str], None]
) -> None:
    query = (
        gate.query.replace("$environment", rollout.environment)
        .replace("$model", rollout.model)
        .replace("$deployment", rollout.candidate)
    )
    try:
        value = read_metric(query)
    except Exception as exc:  # noqa: BLE001 - any failure to read a gate fails it, safely
        raise GateFailed(f"gate {gate.name}: could not read {query!r}: {exc}") from None
    if gate.max is not None and value > gate.max:
        raise GateFailed(f"gate {gate.name}: {value:g} is above {gate.max:g}")
    if gate.min is not None and value < gate.min:
        raise GateFailed(f"gate {gate.name}: {value:g} is below {gate.min:g}")
    report(f"  gate {gate.name}: {value:g} ok")


def prometheus_reader(server: str, timeout: float = 10.0) -> MetricReader:
    """Read one number from Prometheus' HTTP API (`/api/v1/query`)."""
    import urllib.parse
    import urllib.request

    def read(query: str) -> float:
        url = f"{server.rstrip('/')}/api/v1/query?{urllib.parse.urlencode({'query': query})}"
        with urllib.request.urlopen(url, timeout=timeout) as response:
            body = json.load(response)
        result = body.get("data", {}).get("result", [])
        if body.get("status") != "success" or len(result) != 1:
            raise ValueError(f"expected one series, got {len(result)}")
        return float(result[0]["value"][1])

    return read
