"""What `iac up` runs, in order: the head checked (its policies too) and compiled once, the
release live on the Pulumi stack read back and planned against, the cluster checked for what
the objects need, then the plan's rollouts applied stage by stage. The command line parses
flags, prints, asks before applying and exits; tests call these functions as it does.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from iac.compile import Compiled, compile_release
from iac.diagnostics import Diagnostics
from iac.diff.plan import Plan, make_plan
from iac.policy import check_with_policies
from iac.preflight import Missing, check_cluster
from iac.preflight.cluster import Kubectl, kubeconfig_file
from iac.program.automation import AutomationEngine, live_compiled
from iac.program.outputs import stack_sources
from iac.program.settings import ClusterAccess
from iac.program.sharded import ShardedEngine, reshard
from iac.rollout.executor import Outcome, prometheus_reader, run
from iac.rollout.stages import stages
from iac.spec.resolved import ResolvedStack


@dataclass(frozen=True)
class Head:
    """The stack file as `iac up` applies it: checked, and its release built once."""

    stack: ResolvedStack
    compiled: Compiled


@dataclass(frozen=True)
class Change:
    """The head, the release live on the Pulumi stack (None before the first `iac up`),
    and the plan from one to the other."""

    head: Head
    base: Compiled | None
    plan: Plan


def checked_head(stack: str, diagnostics: Diagnostics) -> Head:
    """Everything `iac validate` checks (policies included), then the release compiled;
    warnings to `diagnostics`, errors raise StackInvalid."""
    checked, release = check_with_policies(stack, diagnostics)
    return Head(checked, compile_release(checked, release))


Engine = AutomationEngine | ShardedEngine


def engine_for(
    head: Head, project_dir: Path, stack_name: str, report: Callable[[str], None]
) -> Engine:
    """The Pulumi stack the head goes to (the stacks, when `cluster.shards` > 1), recording
    the head's stack files as applied: what a later run (and `iac plan --base live`)
    compares with and rolls back to."""
    sources = stack_sources(head.stack)
    count = head.compiled.release.cluster.shards
    if count > 1:
        return ShardedEngine(project_dir.resolve(), stack_name, sources, count, report)
    return AutomationEngine(project_dir.resolve(), stack_name, sources, report)


def planned_change(head: Head, engine: Engine) -> Change:
    """The plan from the live release (the stack files the last run recorded) to the head,
    with the head's policies."""
    base = live_compiled(engine.read_live_sources(), reuse=head.compiled)
    if isinstance(engine, ShardedEngine):
        engine.holding(base)  # of each stage, only the Pulumi stacks that change apply
    return Change(head, base, make_plan(base, head.compiled, policies=head.stack.spec.policies))


def missing_in_cluster(head: Head, access: ClusterAccess, project_dir: Path) -> list[Missing]:
    """What the objects need that the cluster the apply goes to lacks (CRDs, namespaces,
    Secrets, the Gateway); none to check when the stack renders to a folder."""
    if access.render_dir is not None:
        return []
    cluster = head.compiled.release.cluster
    return check_cluster(
        head.compiled.objects, cluster, access.kubeconfig, access.context, project_dir.resolve()
    )


def roll_out(
    change: Change,
    engine: Engine,
    access: ClusterAccess,
    project_dir: Path,
    *,
    rollback: bool,
    ready_timeout: int | None,
    report: Callable[[str], None],
) -> Outcome:
    """Apply the plan's rollouts stage by stage (`iac.rollout.executor.run`), reading
    readiness from the cluster the apply goes to and gates from Prometheus."""
    reader = prometheus_reader(change.head.compiled.release.cluster.prometheus)
    if change.base is not None:  # `cluster.shards` changed: the models' state moves first
        reshard(
            engine.cluster if isinstance(engine, ShardedEngine) else engine,
            change.base,
            change.head.compiled.release.cluster.shards,
            report,
        )
    with ExitStack() as cleanup:
        # Readiness is read from the cluster the apply goes to (none when it renders to a
        # folder): the same kubeconfig and context.
        cluster = None
        if access.render_dir is None:
            kubeconfig = cleanup.enter_context(
                kubeconfig_file(access.kubeconfig, project_dir.resolve())
            )
            cluster = Kubectl(kubeconfig, access.context)
        return run(
            stages(change.head.stack, change.plan.rollouts),
            engine,
            change.base,
            reader,
            rollback=rollback,
            report=report,
            cluster=cluster,
            ready_timeout=ready_timeout,
            reuse=change.head.compiled,
        )
