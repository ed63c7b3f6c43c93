"""`iac up`'s engine: Pulumi's Automation API with an inline program built from the same
compiler, one compiled stage at a time.

Each apply registers the stage's objects exactly as the Pulumi program does
(`iac.program.deploy.deploy`), plus two outputs of its own: `rollout` (the progress, so an
interrupted run resumes) and `sources` (the stack files of the last release applied in
full, so `iac up` and `iac plan --base live` know what is live: while a rollout is between
stages it stays the release the rollout started from, so an interrupted run is resumed or
rolled back from there, never taken as done). The stack's settings (backend, secrets provider,
`iac:*` config such as `renderDir`) are the project's, from its `Pulumi.yaml` folder.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import socket
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc  # type: ignore[import-untyped]  # no stubs; the SDK's own dependency
import pulumi
import yaml
from pulumi import automation as auto
from pulumi.automation._server import LanguageServer
from pulumi.automation._stack import ExecKind
from pulumi.runtime._grpc_settings import _GRPC_CHANNEL_OPTIONS
from pulumi.runtime.proto import language_pb2_grpc

from iac.compile import Compiled, object_id
from iac.errors import IacError
from iac.program import settings
from iac.program.deploy import ProviderSettings, deploy_paced
from iac.program.in_flight import InFlight, ctrl_c_after_the_engine
from iac.program.live import live_compiled
from iac.program.outputs import OUTPUTS, ROLLOUT, SOURCES
from iac.program.sdk_costs import (
    fast_stack_traces,
    mute_debug_messages,
    plain_values_as_they_are,
    settle_outputs,
)
from iac.program.shards import Part, select, whole
from iac.rollout.executor import EngineError, Progress

__all__ = ["ROLLOUT", "SOURCES", "AutomationEngine", "live_compiled"]

Program = Callable[[], Awaitable[None] | None]
"""An inline Pulumi program: registers resources, returns what is left to wait for."""

PATCH_FORCE = "PULUMI_K8S_ENABLE_PATCH_FORCE"
"""The Kubernetes provider forces server-side apply conflicts: a field iac declares stays
iac's after a hand edit took it over (`kubectl scale`, `kubectl edit`), so the apply restores
it instead of failing on the conflict (docs/drift.md). Only the fields iac declares are
applied, so the replicas KEDA sets are never forced. The provider reads this variable only
(its `enablePatchForce` setting is not read by the pinned v4.34.2); a user's own value wins."""

PARALLEL = "PULUMI_PARALLEL"
PARALLEL_OPERATIONS = "64"
"""How many resource operations the engine runs at once (the CLI's default is 4 a core: 8
here). Against an API server most of an apply is waiting: pulumi-kubernetes holds each
Service until its endpoints have settled for 10 s and each Deployment until a replica is
available, so 8 at a time left a first `iac up` of 100 models at 494 s, 64 at 137 s
(`make bench`, the kubectl anchor in docs/benchmarks.md). The CLI reads the variable as the
default of `--parallel`; a user's own value wins."""

SKIP_CHECKPOINTS = "PULUMI_SKIP_CHECKPOINTS"
"""The engine writes the stack's state once, when an update ends (a failed or cancelled one
included), instead of after every step: with a checkpoint per step a first apply costs time
quadratic in the stack's size (the whole state rewritten after each object; docs/program.md,
"Large stacks"). Only the environment variable exists (no Automation API or Pulumi.yaml
option in the pinned CLI, v3.274.1). What it costs: an update killed outright (SIGKILL, out
of memory, a lost machine) saves nothing, so the state does not record the objects it
created; `iac up` keeps its own record of the apply in flight for that (`InFlight`). A
user's own value wins."""

CLIENT_QPS = "PULUMI_K8S_CLIENT_QPS"
CLIENT_BURST = "PULUMI_K8S_CLIENT_BURST"
CLIENT_REQUESTS_A_SECOND = "1000"
"""The Kubernetes provider's client-side limit on its requests to the API server. The
provider's own default, 50 a second (burst 120), was what a first `iac up` waited on: it
sends one server-side apply per object (no read, no dry run: counted from the API server's
`apiserver_request_total`), so 5,406 objects took at least 108 s however fast the API
server answered, and the cores sat half idle (300 models: 150 s, 112 s with this limit;
docs/program.md, "a first apply to a live API server"). At 1,000 a second the limit no
longer binds: what bounds the requests is `PARALLEL_OPERATIONS` (64 operations at once,
each one request at a time) and the API server's own priority and fairness, which queues
a client that sends more than its share. The provider reads these variables only when its
`kubeClientSettings` is not set (iac does not set it: the setting would be in every
stack's provider inputs); a user's own value of either variable wins."""


def engine_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment `iac up` runs the Pulumi CLI in: its own settings (above) under
    `environ`, whose values win."""
    return {
        PATCH_FORCE: "true",
        SKIP_CHECKPOINTS: "true",
        PARALLEL: PARALLEL_OPERATIONS,
        CLIENT_QPS: CLIENT_REQUESTS_A_SECOND,
        CLIENT_BURST: CLIENT_REQUESTS_A_SECOND,
        **environ,
    }


class AutomationEngine:
    """Applies compiled stages to one Pulumi stack of the project in `project_dir`."""

    def __init__(
        self,
        project_dir: Path,
        stack_name: str,
        sources: dict[str, Any],
        report: Callable[[str], None] = print,
        part: Part | None = None,
        access: settings.ClusterAccess | None = None,
    ) -> None:
        """`part`: what of the compiled objects this Pulumi stack holds (all by default);
        `access`: where the provider goes, when not this stack's own `iac:*` config (a model
        shard of `iac up` goes where the cluster's stack goes)."""
        if not (project_dir / "Pulumi.yaml").is_file():
            raise IacError(
                f"{project_dir}: no Pulumi.yaml here; run `iac init` or pass --project-dir"
            )
        self.project_dir = project_dir
        self.stack_name = stack_name
        self.sources = sources
        self.live_sources: dict[str, Any] | None = None
        """The SOURCES output before this run (see `read_live_sources`)."""
        self.report = report
        self.part = part or whole()
        self.access = access
        self._refresh: bool | None = None
        self._outputs: dict[str, Any] | None = None
        self._selected: auto.Stack | None = None
        with (project_dir / "Pulumi.yaml").open(encoding="utf-8") as handle:
            self.project_name = str((yaml.safe_load(handle) or {}).get("name") or project_dir.name)

    def _stack(self) -> auto.Stack:
        """This Pulumi stack, selected (or created) once per engine: each selection is a run
        of the CLI, a third of a second (a hundred shards' first up ran five for each, before
        any update). Its workspace's program does nothing: `apply` passes its own to
        `update`."""
        if self._selected is None:
            self._selected = self._select(auto.create_or_select_stack)
        return self._selected

    def create(self) -> bool:
        """Select this Pulumi stack, trying to create it first; whether it was new. A new
        stack costs one run of the CLI (`create_or_select` tries to select it first: two),
        an existing one two: right for the shards of a first apply, all new."""
        if self._selected is not None:
            return False
        try:
            self._selected = self._select(auto.create_stack)
        except (auto.StackAlreadyExistsError, auto.ConcurrentUpdateError):
            # It exists (locked: by a killed run, which `apply` deals with, or a live one).
            self._selected = self._select(auto.select_stack)
            return False
        return True

    def _select(self, select: Callable[..., auto.Stack]) -> auto.Stack:
        for removed in repair_file_backend(self.project_dir, self.project_name, self.stack_name):
            self.report(
                f"removed {removed}: an empty metadata file a killed update left behind "
                "(Pulumi's file backend writes it in place, and cannot load the stack with it)"
            )
        binary = shutil.which("pulumi")
        command = _pulumi_command(binary) if binary else None
        try:
            return select(
                stack_name=self.stack_name,
                project_name=self.project_name,
                program=_nothing,
                opts=auto.LocalWorkspaceOptions(
                    work_dir=str(self.project_dir),
                    env_vars=engine_environment(os.environ),
                    pulumi_command=command,
                ),
            )
        except FileNotFoundError:
            raise IacError(
                "iac up and iac plan --base live drive the Pulumi CLI, which is not on PATH; "
                "install it (docs/pulumi-engine.md) and try again"
            ) from None

    def select(self) -> auto.Stack:
        """This Pulumi stack (created when it does not exist), for commands other than up."""
        return self._stack()

    def apply(self, compiled: Compiled, progress: Progress) -> None:
        async def program() -> None:
            deployed = await deploy_paced(compiled, self._provider_settings(), self.part)
            for name in OUTPUTS:
                pulumi.export(name, deployed.outputs[name])
            pulumi.export(ROLLOUT, progress.to_dict())
            # Only a finished rollout makes the head the live release.
            finished = progress.status == "done"
            pulumi.export(SOURCES, self.sources if finished else self.live_sources)
            await settle_outputs()

        stack = self._stack()
        self._outputs = None  # this apply writes them
        in_flight = InFlight(self.project_dir, self.stack_name)
        in_flight.clear_if_saved(lambda: self.outputs().get(ROLLOUT))
        ids = {object_id(obj) for obj in select(compiled, self.part).objects}
        declared = sorted(ids | in_flight.check(ids, self.report))
        for attempt in (1, 2):
            # Written before the engine starts; removed once it has ended and saved the
            # state (after a failure or a Ctrl-C too), kept when it was killed.
            before = in_flight.write(
                declared,
                self.live_sources if progress.status == "rolled-back" else self.sources,
                progress,
            )
            try:
                self._up(stack, program, in_flight)
                return
            except auto.ConcurrentUpdateError as exc:
                in_flight.restore(before)  # nothing ran
                dead = dead_lock_holders(str(exc), socket.gethostname())
                if attempt == 1 and dead:
                    # A crashed run (killed, out of memory) leaves a file backend's lock
                    # behind; its progress output says where the rollout stopped.
                    self.report(
                        f"releasing the lock of stack {self.stack_name} left by {dead}, "
                        "which no longer runs on this host"
                    )
                    stack.cancel()
                    continue
                raise IacError(
                    f"stack {self.stack_name} is being updated by someone else (its lock is "
                    "held); one rollout per stack at a time: wait for it, or `pulumi cancel` "
                    f"a dead one\n{_lock_lines(str(exc))}"
                ) from None
            except auto.CommandError as exc:
                in_flight.clear()
                raise EngineError(_last_lines(str(exc))) from None

    def _provider_settings(self) -> ProviderSettings:
        """Read inside the program: the stack's own config, or the access given. The values
        as the program `iac init` writes reads them (a relative `renderDir` stays relative:
        the provider runs in the project folder), so `pulumi preview` after `iac up` shows no
        change to the provider."""
        if self.access is None:
            config = pulumi.Config(settings.NAMESPACE)
            return ProviderSettings(
                kubeconfig=config.get_secret(settings.KUBECONFIG),
                context=config.get(settings.CONTEXT),
                render_dir=config.get(settings.RENDER_DIR),
            )
        kubeconfig = self.access.kubeconfig
        return ProviderSettings(
            kubeconfig=pulumi.Output.secret(kubeconfig) if kubeconfig is not None else None,
            context=self.access.context,
            render_dir=self.access.render_dir,
        )

    def _up(self, stack: auto.Stack, program: Program, in_flight: InFlight) -> None:
        """One `pulumi up`; the record of it goes once the engine has ended (and saved
        the state), a Ctrl-C's included."""
        with ctrl_c_after_the_engine() as interrupted:
            try:
                update(stack, program, WithoutOutputs(self.report), refresh=self._refreshes())
            finally:
                if interrupted:  # the engine ended after the Ctrl-C
                    in_flight.clear()
        in_flight.clear()

    def _refreshes(self) -> bool:
        """Whether an apply refreshes first: on a cluster, so that a hand edit of a declared
        field is drift this apply restores (docs/drift.md; without the refresh Pulumi
        compares with its state only and sees nothing to do). Not when the stack renders to
        a folder: there is no cluster to read, and the provider fails the refresh."""
        if self._refresh is None:
            access = self.access or self.cluster_access()
            self._refresh = access.render_dir is None
        return self._refresh

    def outputs(self) -> dict[str, Any]:
        """The stack's outputs, read once until this engine applies (at a thousand models
        the cluster's stack holds megabytes of them: about a second a read)."""
        if self._outputs is None:
            try:
                found = self._stack().outputs()
            except auto.CommandError:
                return {}
            self._outputs = {name: value.value for name, value in found.items()}
        return self._outputs

    def cluster_access(self) -> settings.ClusterAccess:
        """Where the apply goes: the stack's `iac:kubeconfig`, `iac:context` and
        `iac:renderDir` (secrets decrypted)."""
        try:
            found = self._stack().get_all_config()
        except auto.CommandError as exc:
            raise IacError(
                f"cannot read the config of stack {self.stack_name}: {_last_lines(str(exc))}"
            ) from None
        return settings.cluster_access({key: str(item.value) for key, item in found.items()})

    def read_live_sources(self) -> dict[str, Any] | None:
        """The stack files of the release that is live (None before the first release);
        kept, so that the stages of this run record them until the last one is applied."""
        found = self.outputs().get(SOURCES)
        self.live_sources = found if isinstance(found, dict) else None
        return self.live_sources

    def progress(self) -> Progress | None:
        return Progress.from_dict(self.outputs().get(ROLLOUT))


def update(
    stack: auto.Stack,
    program: Program,
    on_output: Callable[[str], None],
    *,
    refresh: bool,
) -> None:
    """`pulumi up` of `stack` with the inline `program`, as `auto.Stack.up` runs it, without
    what `up` does once the update has ended: it reads the stack's outputs and its last
    update's summary back, two more runs of the CLI (1 to 1.5 s an update at a thousand
    models, docs/program.md, "Large stacks: sharding") for a result iac does not use (its
    own outputs are read when needed, `AutomationEngine.outputs`). The steps are those of
    the pinned SDK's `Stack.up` (pulumi 3.272.0, `automation/_stack.py`): a language server
    for the program on a local port, named to the CLI with `--client` and `--exec-kind`."""
    mute_debug_messages()
    fast_stack_traces()
    plain_values_as_they_are()
    server = grpc.server(ThreadPoolExecutor(max_workers=4), options=_GRPC_CHANNEL_OPTIONS)
    language_pb2_grpc.add_LanguageRuntimeServicer_to_server(LanguageServer(program), server)
    port = server.add_insecure_port(address="127.0.0.1:0")
    server.start()
    args = ["up", "--yes", "--skip-preview", "--color", "never"]
    args += ["--refresh"] if refresh else []
    args += [f"--client=127.0.0.1:{port}", "--exec-kind", ExecKind.INLINE.value]
    try:
        stack._run_pulumi_cmd_sync(args, on_output)
    finally:
        server.stop(0)


@functools.cache
def _pulumi_command(binary: str) -> auto.PulumiCommand:
    """The CLI at `binary`, for every stack of this process: each `PulumiCommand` runs
    `pulumi version` when made (a tenth of a second of CPU; a hundred shards made one each)."""
    return auto.PulumiCommand(root=str(Path(binary).parent.parent), skip_version_check=True)


def _nothing() -> None:
    """The program of the workspaces iac selects stacks with (the Automation API wants one
    for an inline project); each update runs its own (`update`)."""


def repair_file_backend(project_dir: Path, project: str, stack: str) -> list[Path]:
    """Remove the empty `.attrs` files of `stack` in a file backend (the URL from
    PULUMI_BACKEND_URL, else Pulumi.yaml's `backend.url`): a process killed while Pulumi
    rewrote one leaves it empty, and every later command fails with `failed to load
    checkpoint: EOF`. Without it the checkpoint loads (its metadata is optional). Returns
    the files removed."""
    url = os.environ.get("PULUMI_BACKEND_URL")
    if not url:
        with (project_dir / "Pulumi.yaml").open(encoding="utf-8") as handle:
            backend = (yaml.safe_load(handle) or {}).get("backend") or {}
        url = backend.get("url") if isinstance(backend, dict) else None
    if not url or not url.startswith("file://"):
        return []
    root = Path(os.path.expanduser(url.removeprefix("file://"))) / ".pulumi" / "stacks"
    removed = []
    for folder in (root / project, root):  # project-scoped layout, then the legacy one
        for attrs in sorted(folder.glob(f"{stack}.json*.attrs")):
            if attrs.is_file() and attrs.stat().st_size == 0:
                attrs.unlink()
                removed.append(attrs)
    return removed


_LOCK_HOLDER = re.compile(r"created by (?P<user>\S+)@(?P<host>\S+) \(pid (?P<pid>\d+)\)")
"""How the Pulumi CLI names a lock's holder (pkg/backend/diy/lock.go, checkForLock)."""


def dead_lock_holders(message: str, hostname: str) -> str | None:
    """`pid 123 of root@host` when every lock named in a Pulumi "stack is currently locked"
    message was taken by a process of this host that no longer runs; else None (a lock of
    another host, of a live process, or a message naming none is left alone)."""
    holders = list(_LOCK_HOLDER.finditer(message))
    if not holders:
        return None
    for holder in holders:
        pid = int(holder["pid"])
        if holder["host"] != hostname or pid == os.getpid() or _running(pid):
            return None
    return ", ".join(f"pid {h['pid']} of {h['user']}@{h['host']}" for h in holders)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


class WithoutOutputs:
    """Pulumi's output, line by line, without its `Outputs:` section: iac's stack outputs
    are the release and the stack files it was made from, hundreds of lines at every stage
    (`pulumi stack output` and `iac status` show them)."""

    def __init__(self, report: Callable[[str], None]) -> None:
        self.report = report
        self.skipping = False

    def __call__(self, line: str) -> None:
        if line.startswith("Outputs:"):
            self.skipping = True
        elif self.skipping and line.strip() and not line[0].isspace():
            self.skipping = False  # the next section (`Resources:`)
        if not self.skipping:
            self.report(line)


def _lock_lines(message: str) -> str:
    return "\n".join(line.strip() for line in message.splitlines() if _LOCK_HOLDER.search(line))


def _last_lines(text: str, count: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-count:])
