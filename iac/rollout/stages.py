"""From rollout plans to the desired states `iac up` applies one after another.

A stage is the head stack with each promoting environment held at one step of its plan:
traffic split between the previous deployment and the candidate by the step's weight, and
both held at the step's replica counts. The last stage is the head itself (traffic moved,
cleanup applied). Several promotions in one change advance in lockstep.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

from iac.compile import Compiled, compile_release
from iac.compile.release import Release, build_release, needs_interceptor
from iac.compile.release.split import apportion
from iac.diagnostics import Diagnostics
from iac.rollout.planner import RolloutPlan, Step
from iac.spec.resolved import ResolvedStack
from iac.spec.stack import Gate

Floors = Mapping[tuple[str, str], tuple[int, int]]
"""(model, deployment) → (min, max) replicas held during a stage."""


@dataclass(frozen=True, slots=True)
class Stage:
    index: int
    description: str
    stack: ResolvedStack
    floors: Floors
    wait_seconds: int
    """Stabilization after the stage is ready, before the next."""
    gates: tuple[tuple[RolloutPlan, Gate], ...]
    """Checked after the wait."""

    def compile(
        self, diagnostics: Diagnostics | None = None, *, reuse: Compiled | None = None
    ) -> Compiled:
        """The stage's objects; `reuse`: a compile of the same stack (the head) whose
        models the stage leaves as they are keep their objects (`compile_release`)."""
        diagnostics = diagnostics if diagnostics is not None else Diagnostics()
        release = hold(build_release(self.stack, diagnostics), self.floors)
        return compile_release(self.stack, release, diagnostics, reuse=reuse)


def stages(head: ResolvedStack, rollouts: list[RolloutPlan]) -> list[Stage]:
    """The stages of a change: each step of every rollout, then the head."""
    # A deployment the head deletes cannot be held through the steps (the head has none of
    # its settings): such a promotion is applied with the head, all at once (its plan says so:
    # iac.diff.plan.promotion_rollouts), and Pulumi deletes the old deployment last.
    moving = [
        r
        for r in rollouts
        if r.previous is not None
        and all(name in head.models[r.model].deployments for name in r.leaving)
    ]
    shifts = {id(r): [s for s in r.steps if s.action != "cleanup"] for r in moving}
    count = max((len(steps) for steps in shifts.values()), default=0)
    found = []
    for index in range(count):
        stack = head
        floors: dict[tuple[str, str], tuple[int, int]] = {}
        parts = []
        wait = 0
        gates: list[tuple[RolloutPlan, Gate]] = []
        for rollout in moving:
            steps = shifts[id(rollout)]
            if not steps:
                continue  # the candidate had every request already: only its cleanup is left
            step = steps[min(index, len(steps) - 1)]
            # A chain's chainlets are held at the same step of their own plans: every
            # candidate chainlet is up (and waited for) before the entrypoint's route moves.
            held = []
            for plan in rollout.moved:
                own = [s for s in plan.steps if s.action != "cleanup"]
                if not own:
                    continue
                at = own[min(index, len(own) - 1)]
                stack = _at_step(stack, plan, at)
                floors[(plan.model, plan.candidate)] = (at.candidate_replicas,) * 2
                floors[(plan.model, plan.previous or "")] = (at.previous_replicas,) * 2
                whose = f"{plan.model} " if rollout.chainlets else ""
                held.append(
                    f"{whose}{at.candidate_replicas} replicas, {plan.previous} "
                    f"{at.previous_replicas}"
                )
            parts.append(
                f"{rollout.label}/{rollout.environment}: {step.candidate_weight}% to "
                f"{rollout.candidate} ({'; '.join(held)})"
            )
            if index < len(steps):
                wait = max(wait, step.wait_seconds)
            if index < len(steps) and step.action == "shift":
                # Gates judge the candidate on its traffic: a step that moved none (headroom,
                # replicas coming up) has nothing to judge.
                env = head.models[rollout.model].environments[rollout.environment]
                gates.extend((rollout, gate) for gate in env.promotion.gates or [])
        found.append(Stage(index, "; ".join(parts), stack, floors, wait, tuple(gates)))
    cleanup = "; ".join(
        f"{r.label}/{r.environment}: {', '.join(r.leaving)} {r.cleanup.replace('_', ' ')}"
        for r in moving
    )
    found.append(Stage(count, cleanup or "apply", head, {}, 0, ()))
    return found


def _at_step(stack: ResolvedStack, rollout: RolloutPlan, step: Step) -> ResolvedStack:
    """`stack` with the rollout's environment split by the step's weight: the candidate's,
    the rest on the deployment(s) it replaces (shared as their weights were in a split)."""
    model = stack.models[rollout.model]
    env = model.environments[rollout.environment]
    weight = step.candidate_weight
    leaving = [
        (name, share) for name, share in rollout.from_traffic if name != rollout.candidate
    ] or [(rollout.previous or "", 100)]
    rest = apportion(100 - weight, leaving)
    traffic = (*((name, rest[name]) for name, _ in leaving), (rollout.candidate, weight))
    environments = {**model.environments, env.name: dataclasses.replace(env, traffic=traffic)}
    deployments = dict(model.deployments)
    # What it replaces serves until cleanup, whatever the head says of it.
    for name, _ in leaving:
        deployments[name] = dataclasses.replace(deployments[name], state="active")
    models = {
        **stack.models,
        model.name: dataclasses.replace(model, environments=environments, deployments=deployments),
    }
    return dataclasses.replace(stack, models=models)


def hold(release: Release, floors: Floors) -> Release:
    """The release with some deployments held at fixed replica counts."""
    if not floors:
        return release
    models = {}
    for name, model in release.models.items():
        deployments = {}
        for key, deployment in model.deployments.items():
            held = floors.get((name, key))
            if held is not None:
                low, high = held
                scaling = deployment.autoscaling.model_copy(
                    update={"min_replicas": low, "max_replicas": max(high, 1)}
                )
                # Held up, a side the stage leaves at weight 0 (dark: 0..1, behind the
                # interceptor in the head) is reached directly, as it will be once it serves.
                via = needs_interceptor(deployment.state, scaling, deployment.in_flight)
                deployment = dataclasses.replace(
                    deployment, autoscaling=scaling, via_interceptor=via
                )
            deployments[key] = deployment
        models[name] = dataclasses.replace(model, deployments=deployments)
    return dataclasses.replace(release, models=models)
