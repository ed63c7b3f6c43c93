"""`iac up`'s engine for a sharded stack (`cluster.shards` > 1): one `AutomationEngine` per
Pulumi stack (`iac.program.shards`), and of each stage only the Pulumi stacks whose objects
change are updated.

What changes is known without asking Pulumi: `iac up` starts from the release that is live
(compiled from the stack files the cluster's stack recorded) and applies compiled stages, so
each stage's objects are compared, part by part, with what the last apply left. Per stage:

1. the cluster's stack, when it gains objects (a new node pool, say), first: the models'
   pods need them. It records the progress of the stage before, so a run killed after it
   applies this stage again;
2. the model shards whose objects change, `SHARDS_AT_ONCE` at a time (their lines prefixed
   with the Pulumi stack's name); when one fails, those running end and no other starts;
3. the cluster's stack, last, with the changes to its existing objects (a pool's limits, the
   images it pre-pulls: the pods do not wait for them), the deletions (after the pods that
   used them), the stage's progress and (once the rollout is done) the stack files as live:
   the outputs `iac plan --base live`, `iac status` and the next `iac up` read. Until then
   they say the run is not finished, whatever a shard holds.

Each Pulumi stack keeps its own in-flight record (`InFlight`) and lock.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

from pulumi import automation as auto

from iac.compile import Compiled, object_id
from iac.program.automation import AutomationEngine
from iac.program.in_flight import InFlight, ctrl_c_after_the_engine
from iac.program.layout import owner
from iac.program.settings import ClusterAccess
from iac.program.shards import Part, parts, select, shard_of, split
from iac.rollout.executor import Progress

_CLUSTER = -1
"""The key of the cluster's part in `_fingerprints` (shards are 0..K-1)."""

UNKNOWN = object()
"""What a model shard holds, in `ShardedEngine.applied`, when no compile says it: an update
of it failed, was interrupted or was killed. Equal to no fingerprint, so the next apply
applies that shard again."""

SHARDS_AT_ONCE = 2
"""How many model shards' Pulumi updates run side by side: each is a Pulumi CLI, a provider
and the program's thread here, and while one starts or saves another works. Two fill two
cores: a first `iac up` of 1,000 models in 100 shards took 211 and 216 s two at a time,
220 and 232 s four at a time (docs/program.md, "Large stacks: sharding")."""


class ShardedEngine:
    """The Engine protocol (`iac.rollout.executor.Engine`) over every Pulumi stack of a
    sharded iac stack."""

    def __init__(
        self,
        project_dir: Path,
        stack_name: str,
        sources: dict[str, Any],
        count: int,
        report: Callable[[str], None] = print,
    ) -> None:
        self.cluster = AutomationEngine(project_dir, stack_name, sources, report, Part(None, count))
        self.project_dir = project_dir
        self.stack_name = stack_name
        self.sources = sources
        self.count = count
        self.report = report
        self.applied: dict[int, Any] | None = None
        """What each Pulumi stack holds, by `_fingerprints` (None: not known, all apply)."""
        self._shards: dict[int, AutomationEngine] = {}
        self._configured: set[str] = set()
        self.config: dict[str, auto.ConfigValue] | None = None
        """The cluster's stack's config, which a new shard's stack is given."""
        self._recorded: Progress | None = None
        self._access: ClusterAccess | None = None
        self._checked = False

    # What the cluster's stack records, read as from an unsharded stack.

    def read_live_sources(self) -> dict[str, Any] | None:
        return self.cluster.read_live_sources()

    def cluster_access(self) -> ClusterAccess:
        if self._access is None:
            self._access = self.cluster.cluster_access()
        return self._access

    def progress(self) -> Progress | None:
        self._recorded = self.cluster.progress()
        if self._recorded is not None and self._recorded.status == "rolling":
            # A run was interrupted between stages: its shards may hold any of that run's
            # stages, not the release recorded as live. Every Pulumi stack applies once.
            self.applied = None
        return self._recorded

    def holding(self, live: Compiled | None) -> None:
        """What the Pulumi stacks hold before the first apply: `live`, the release the
        cluster's stack recorded (None: unknown, so every stack is applied)."""
        if live is not None and live.release.cluster.shards == self.count:
            self.applied = _fingerprints(live, self.count)
            for index in range(self.count):
                # A record of an update in flight: it was killed, and the shard holds
                # anything between what its state says and what that update applied.
                name = Part(index, self.count).stack_name(self.stack_name)
                if InFlight(self.project_dir, name).path.is_file():
                    self.applied[index] = UNKNOWN

    def apply(self, compiled: Compiled, progress: Progress) -> None:
        wanted = _fingerprints(compiled, self.count)
        before = self.applied or {}
        changed = [i for i in range(self.count) if before.get(i) != wanted.get(i)]
        if not self._checked:
            self._check_records(compiled, changed)
        if self.applied is not None:
            # Until this apply has ended, the shards it changes hold anything between: after
            # a failure or a Ctrl-C, the next apply (a rollback's) applies them again.
            self.applied.update(dict.fromkeys(changed, UNKNOWN))
        if changed and _adds(before.get(_CLUSTER), wanted[_CLUSTER]):
            # New cluster-wide objects (a node pool, the Namespace) come before the pods
            # that need them; changes to existing ones (a pool's limits, the images it
            # pre-pulls) go with the outputs at the end, saving an update per stage.
            self.cluster.apply(compiled, self._before(progress))
        self._apply_shards(changed, compiled, progress)
        self.cluster.apply(compiled, progress)
        self._recorded = progress
        self.applied = wanted

    def _before(self, progress: Progress) -> Progress:
        """What the cluster's stack records while the shards of `progress`'s stage apply: the
        stage before, so a run killed meanwhile applies this stage again (and a rollback
        killed half way goes on from the last stage recorded, as on one Pulumi stack)."""
        if progress.status == "rolled-back" and self._recorded is not None:
            return self._recorded
        return Progress(progress.head, progress.stage - 1, progress.stages, "rolling")

    def _check_records(self, compiled: Compiled, changed: list[int]) -> None:
        """Before anything is applied: no Pulumi stack about to apply has the record of a
        killed update whose objects this apply would leave unknown (`InFlight.check`,
        which each apply repeats; here, so that a refusal comes before any stack moved)."""
        self._checked = True
        for part in [Part(None, self.count)] + [Part(i, self.count) for i in changed]:
            record = InFlight(self.project_dir, part.stack_name(self.stack_name))
            if record.path.is_file():
                declared = {object_id(obj) for obj in select(compiled, part).objects}
                record.check(declared, lambda _: None)

    def _apply_shards(self, changed: list[int], compiled: Compiled, progress: Progress) -> None:
        """Apply the model shards `changed`, `SHARDS_AT_ONCE` at a time. A Ctrl-C reaches
        every running engine (one process group): each cancels and saves its state, and is
        waited for, as on one stack (`ctrl_c_after_the_engine`)."""
        if not changed:
            return
        access = self.cluster_access()  # read once, before the threads share it
        if self.config is None:
            self.config = dict(self.cluster.select().get_all_config())
        engines = [self._shard(index, access) for index in changed]
        with (
            ThreadPoolExecutor(max_workers=SHARDS_AT_ONCE) as pool,
            ctrl_c_after_the_engine() as interrupted,
        ):
            held = split(compiled, self.count)  # once for every shard of the stage
            running: set[Future[None]] = {
                pool.submit(self._apply_shard, engine, held[engine.part.index], progress)
                for engine in engines
            }
            failed: BaseException | None = None
            while running:
                done, running = wait(running, timeout=0.5, return_when=FIRST_EXCEPTION)
                errors = (f.exception() for f in done if not f.cancelled())
                failed = failed or next((e for e in errors if e is not None), None)
                if failed is not None or interrupted:
                    for future in running:
                        future.cancel()  # those not started; the others end
            if failed is not None:
                raise failed

    def _apply_shard(self, engine: AutomationEngine, compiled: Compiled, p: Progress) -> None:
        if engine.stack_name not in self._configured:
            self._configure(engine)
            self._configured.add(engine.stack_name)
        engine.apply(compiled, p)

    def _shard(self, index: int, access: ClusterAccess) -> AutomationEngine:
        if index not in self._shards:
            part = Part(index, self.count)
            name = part.stack_name(self.stack_name)
            engine = AutomationEngine(
                self.project_dir,
                name,
                self.sources,
                lambda line: self.report(f"{name} | {line}".rstrip()),
                part,
                access=access,
            )
            engine.live_sources = self.cluster.live_sources
            self._shards[index] = engine
        return self._shards[index]

    def _configure(self, shard: AutomationEngine) -> None:
        """A model shard's Pulumi stack (created the first time) with the cluster stack's
        config, so that plain `pulumi up --stack NAME.sNN` goes where `iac up` went (`iac up`
        itself passes the cluster stack's settings to the program: `access`). Compared
        first, and set only when it differs: setting rewrites the stack's config file (a
        secret with a new ciphertext). Each run checks: a run interrupted between creating
        a shard's stack and setting its config, or a kubeconfig changed since, is mended."""
        assert self.config is not None
        new = shard.create()
        stack = shard.select()
        wanted = {k: (v.value, v.secret) for k, v in self.config.items()}
        found = {} if new else {k: (v.value, v.secret) for k, v in stack.get_all_config().items()}
        if any(found.get(k) != v for k, v in wanted.items()):
            stack.set_all_config(
                {k: auto.ConfigValue(v.value, secret=v.secret) for k, v in self.config.items()}
            )


def _adds(before: Any, wanted: Any) -> bool:
    """Whether the cluster's part `wanted` (a `_fingerprints` value) declares an object or
    cloud resource that `before` does not."""
    if before is None:
        return True

    def ids(fingerprint: Any) -> set[str]:
        items, _ = fingerprint
        return {object_id(obj) for obj, _ in items or ()}

    return not ids(wanted) <= ids(before) or wanted[1] != before[1]


def _fingerprints(compiled: Compiled, count: int) -> dict[int, Any]:
    """Per part (`_CLUSTER`, then shard numbers): everything its Pulumi stack registers
    (objects in order, their resource options, its models' aliases, cloud resources), as a
    value two compiles compare equal by exactly when the stack would see no change."""
    grouped: dict[int, list[Any]] = {}
    for obj in compiled.objects:
        model = owner(obj)
        key = _CLUSTER if model is None or count == 1 else shard_of(model, count)
        grouped.setdefault(key, []).append((obj, compiled.options.get(object_id(obj))))
    result: dict[int, Any] = {key: tuple(items) for key, items in grouped.items()}
    result[_CLUSTER] = (result.get(_CLUSTER), compiled.cloud)
    for model, aliases in compiled.model_aliases.items():
        key = shard_of(model, count) if count > 1 else _CLUSTER
        result[key] = (result.get(key), model, aliases)
    return result


__all__ = ["ShardedEngine"]


MODEL_URN = "urn:pulumi:{stack}::{project}::iac:serving:Model::{model}"
"""A model's component (`iac.program.deploy.MODEL_TYPE`, no parent): moving it moves every
object of the model, its children."""


def reshard(
    cluster: AutomationEngine, live: Compiled, count: int, report: Callable[[str], None]
) -> None:
    """Move the state of every model of `live` (the release the Pulumi stacks hold) to the
    Pulumi stack it belongs to with `count` shards, when `cluster.shards` changed: a change
    of Pulumi's state only (`pulumi state move`), so the next apply finds each object where
    it registers it and changes nothing in the cluster. Pulumi stacks of the old layout left
    without a model are removed. `cluster`: the engine of the cluster's stack."""
    before = live.release.cluster.shards
    if before == count:
        return
    base = cluster.stack_name
    names = set(live.release.models) | {m for m in map(owner, live.objects) if m is not None}
    moves: dict[tuple[str, str], list[str]] = {}
    for model in sorted(names):
        source = _part(model, before).stack_name(base)
        dest = _part(model, count).stack_name(base)
        if source != dest:
            urn = MODEL_URN.format(stack=source, project=cluster.project_name, model=model)
            moves.setdefault((source, dest), []).append(urn)
    stack = cluster.select()
    workspace = stack.workspace
    existing = {summary.name for summary in workspace.list_stacks()}
    config = stack.get_all_config()
    for (source, dest), urns in sorted(moves.items()):
        if source not in existing:
            continue  # nothing of it was ever applied
        if dest not in existing:
            AutomationEngine(cluster.project_dir, dest, {}, cluster.report).select().set_all_config(
                {k: auto.ConfigValue(v.value, secret=v.secret) for k, v in config.items()}
            )
            existing.add(dest)
        report(
            f"moving {len(urns)} model(s) from Pulumi stack {source} to {dest} "
            f"(cluster.shards {before} → {count}; Pulumi's state only, the objects stay)"
        )
        # The Automation API has no `state move`: the workspace runs the CLI as it does.
        assert isinstance(workspace, auto.LocalWorkspace)
        workspace._run_pulumi_cmd_sync(
            ["state", "move", "--source", source, "--dest", dest, "--yes", *urns]
        )
    kept = {part.stack_name(base) for part in parts(count)}
    for part in parts(before):
        name = part.stack_name(base)
        if name not in kept and name in existing:
            report(f"removing Pulumi stack {name}: cluster.shards is {count}, its models moved")
            workspace.remove_stack(name, force=True)


def _part(model: str, count: int) -> Part:
    return Part(shard_of(model, count) if count > 1 else None, count)
