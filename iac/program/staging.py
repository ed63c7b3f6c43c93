"""Plain `pulumi up` and rolling promotions: one stage per update.

`iac up` rolls a promotion out stage by stage (`iac.rollout.stages`). A plain `pulumi up` of
the same edit would register the head in one update, which for `strategy: rolling` moves all
of the environment's traffic at once. So before registering anything the program reads its
stack's last outputs and, when the change holds a rolling promotion, registers one stage of
it: the first; on each later `pulumi up` the next, once the stage before has been ready for
its stabilization. The Pulumi output says so, and what runs the rest.

Where the rollout stands comes from the `rollout` output, the progress record `iac up` keeps
(the head's digest, the last stage applied), so the stages, their order and the record are
`iac up`'s own and either can take over a rollout the other started: `iac up` resumes after
the last stage a `pulumi up` applied, and `pulumi up` continues an interrupted `iac up`.
While the rollout is between stages, `sources` stays the release it started from (as with
`iac up`), so `iac plan --base live` still shows the whole change. Gates (Prometheus checks
between stages) are checked by `iac up` only: a `pulumi up` never goes past a stage that a
gate follows.

No Pulumi import: the program reads the outputs, logs the notes and registers; this decides.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from iac.compile import Compiled
from iac.compile.release import Release
from iac.diff.chain_events import chain_rollouts
from iac.diff.events import lifecycle_events
from iac.diff.plan import promotion_rollouts
from iac.program.live import live_compiled
from iac.program.outputs import READY_AT, RELEASE, ROLLOUT, SOURCES
from iac.rollout.executor import Progress, digest
from iac.rollout.planner import RolloutPlan
from iac.rollout.stages import Stage, stages
from iac.spec.resolved import ResolvedStack
from iac.spec.types import format_duration

__all__ = ["Note", "Update", "declares_rolling", "format_time", "plan_update"]


@dataclass(frozen=True, slots=True)
class Note:
    """A message for the Pulumi output."""

    level: Literal["info", "warning"]
    text: str


@dataclass(frozen=True, slots=True)
class Update:
    """What one run of the program registers and exports."""

    compiled: Compiled
    """Registered: the head, or one stage of a rolling promotion."""
    progress: Progress | None = None
    """The ROLLOUT output; None exports none."""
    ready_at: str | None = None
    """READY_AT carried over: the stage is kept while it stabilizes."""
    stamp_ready: bool = False
    """Record, as READY_AT, when the objects of this update are ready: its stage's
    stabilization counts from then."""
    sources: Mapping[str, Any] | None = None
    """The SOURCES output when it is not the head's: while a rollout is between stages, the
    live release's (the one the rollout started from)."""
    notes: tuple[Note, ...] = ()


def declares_rolling(release: Release) -> bool:
    """Whether any environment is promoted with `strategy: rolling` (only then does the
    program read its stack's outputs)."""
    return any(
        env.promotion.strategy == "rolling"
        for model in release.models.values()
        for env in model.environments.values()
    )


def plan_update(
    stack: ResolvedStack,
    head: Compiled,
    live: Mapping[str, Any],
    now: datetime,
    command: str,
) -> Update:
    """What this `pulumi up` registers, given the stack's last outputs `live` ({} before the
    first update). `command` is the `iac up` command line that runs the rest."""
    if not _rolling_traffic_moves(head.release, live.get(RELEASE)):
        return Update(head)  # cheap: no live release compiled
    base = live_compiled(live.get(SOURCES))
    if base is None:
        return Update(head)
    events = lifecycle_events(base.release, head.release)
    rollouts = chain_rollouts(promotion_rollouts(events, head), head.release)  # as `iac up`
    rolling = [r for r in rollouts if r.strategy == "rolling"]
    if not rolling:
        return Update(head)  # immediate promotions: Pulumi routes only to ready deployments
    staged = stages(stack, rollouts)
    last = len(staged) - 1
    head_digest = digest(head)
    record = live.get(ROLLOUT)
    recorded = Progress.from_dict(record)
    promotions = "; ".join(_promotion(r) for r in rolling)

    if not (
        recorded is not None
        and recorded.head == head_digest
        and recorded.status == "rolling"
        and recorded.stages == len(staged)
        and 0 <= recorded.stage < last
    ):
        return _apply(head, staged, 0, head_digest, live, promotions, command)

    done = staged[recorded.stage]
    ready_at = _time(record.get(READY_AT)) if isinstance(record, dict) else None
    keep = _reason_to_keep(done, len(staged), ready_at, now, command)
    if keep is None:
        return _apply(head, staged, done.index + 1, head_digest, live, promotions, command)
    text, stamp = keep
    position = f"stage {done.index + 1}/{len(staged)} ({done.description})"
    return Update(
        done.compile(),
        progress=recorded,
        ready_at=None if stamp else format_time(ready_at) if ready_at else None,
        stamp_ready=stamp,
        sources=live.get(SOURCES),
        notes=(Note("warning", f"{promotions}: {position} {text}"),),
    )


def _apply(
    head: Compiled,
    staged: list[Stage],
    at: int,
    head_digest: str,
    live: Mapping[str, Any],
    promotions: str,
    command: str,
) -> Update:
    """Register stage `at` (the head when it is the last)."""
    count = len(staged)
    stage = staged[at]
    if at == count - 1:
        return Update(
            head,
            progress=Progress(head_digest, at, count, "done"),
            notes=(
                Note(
                    "info",
                    f"{promotions}: this update applies the last stage {count}/{count} "
                    f"({stage.description}); the promotion is complete",
                ),
            ),
        )
    if stage.gates:
        rest = (
            f"`{command}`, which checks {_gates(stage)} after this stage; `pulumi up` keeps "
            "this stage until then"
        )
    else:
        after = (
            f"{format_duration(stage.wait_seconds)} after this update (the stabilization)"
            if stage.wait_seconds
            else "after this update"
        )
        rest = (
            f"`{command}` (each stage, its stabilization and gates, a rollback on failure), "
            f"or `pulumi up` again {after} for stage {at + 2}/{count}"
        )
    applied_at_once = (
        "applied in one update, all of its traffic would move at once, so `pulumi up` "
        "applies one stage per update: "
        if at == 0
        else ""
    )
    return Update(
        stage.compile(),
        progress=Progress(head_digest, at, count, "rolling"),
        stamp_ready=stage.wait_seconds > 0,
        sources=live.get(SOURCES),
        notes=(
            Note(
                "warning",
                f"{promotions}: {applied_at_once}this update applies stage {at + 1}/{count} "
                f"({stage.description}). The rest: {rest}",
            ),
        ),
    )


def _reason_to_keep(
    done: Stage, count: int, ready_at: datetime | None, now: datetime, command: str
) -> tuple[str, bool] | None:
    """Why the last stage applied stays for this update (and whether to record when it is
    ready), or None when the next one may go."""
    following = f"stage {done.index + 2}/{count}"
    if done.gates:
        return (
            f"is followed by {_gates(done)}, which only `iac up` checks; this update keeps "
            f"it. The rest: `{command}`",
            False,
        )
    wait = done.wait_seconds
    if not wait:
        return None
    if ready_at is None:
        # An `iac up` stopped between stages records no time: count from now.
        return (
            f"has no record of when it was ready (an interrupted `iac up`); its stabilization "
            f"({format_duration(wait)}) counts from the end of this update, which keeps it. "
            f"The rest: `pulumi up` again {format_duration(wait)} after this update for "
            f"{following}, or `{command}`",
            True,
        )
    until = ready_at + timedelta(seconds=wait)
    if now >= until:
        return None
    return (
        f"is stabilizing until {format_time(until)} ({_left((until - now).total_seconds())} "
        f"left of {format_duration(wait)}); this update keeps it. The rest: `pulumi up` again "
        f"after then for {following}, or `{command}`",
        False,
    )


def _rolling_traffic_moves(head: Release, live_release: object) -> bool:
    """Whether an environment promoted with `strategy: rolling` is served otherwise than the
    head says, by the live `release` output (its traffic shares)."""
    if not isinstance(live_release, Mapping):
        return False
    models = live_release.get("models")
    if not isinstance(models, Mapping):
        return False
    for model in head.models.values():
        live_model = models.get(model.name)
        environments = live_model.get("environments") if isinstance(live_model, Mapping) else None
        if not isinstance(environments, Mapping):
            continue
        for env in model.environments.values():
            live_env = environments.get(env.name)
            if (
                env.promotion.strategy == "rolling"
                and isinstance(live_env, Mapping)
                and live_env.get("traffic") != dict(env.traffic)
            ):
                return True
    return False


def _promotion(rollout: RolloutPlan) -> str:
    return (
        f"{rollout.model}/{rollout.environment} is promoted from {rollout.previous} to "
        f"{rollout.candidate} with `strategy: rolling`"
    )


def _gates(stage: Stage) -> str:
    names = ", ".join(
        dict.fromkeys(f"{r.model}/{r.environment} {gate.name}" for r, gate in stage.gates)
    )
    return f"the gates ({names})"


def _left(seconds: float) -> str:
    minutes, secs = divmod(math.ceil(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def format_time(moment: datetime) -> str:
    """READY_AT's form: `2026-08-21T12:00:00Z`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _time(text: object) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        found = datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return None
    return found.replace(tzinfo=UTC)
