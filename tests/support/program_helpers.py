"""Run the Pulumi program under `pulumi.runtime.set_mocks` and record what it registers.

`MockResourceArgs` carries no resource options, so a `MockMonitor` subclass records each
`RegisterResource` request (parent, dependencies, provider, custom timeouts) next to the
inputs the mocks see. The mock monitor is semi-internal Pulumi API: the SDK is pinned.
"""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi.runtime
import pulumi.runtime.settings
from google.protobuf import json_format
from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockCallArgs, MockMonitor, MockResourceArgs

import iac.program
from iac.program.deploy import Deployed

PROJECT = "iac-test"


READ_STACK_OUTPUTS = "pulumi:pulumi:readStackOutputs"


class RecordingMocks(pulumi.runtime.Mocks):
    """Every resource gets its inputs back as its state, like a provider that echoes. The
    engine's `readStackOutputs` returns `live` (the stack's last outputs), or fails with
    `live_failure`; every call is recorded."""

    def __init__(
        self, live: Mapping[str, Any] | None = None, live_failure: str | None = None
    ) -> None:
        super().__init__()
        self.live = dict(live or {})
        self.live_failure = live_failure
        self.calls: list[MockCallArgs] = []

    def new_resource(self, args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
        return f"{args.name}-id", args.inputs

    def call(self, args: MockCallArgs) -> Any:
        self.calls.append(args)
        if args.token == READ_STACK_OUTPUTS:
            if self.live_failure:
                return {}, [("name", self.live_failure)]
            return {"name": args.args["name"], "outputs": self.live, "secretOutputNames": []}
        return {}


@dataclass(frozen=True)
class Registration:
    type: str
    name: str
    urn: str
    parent: str
    dependencies: tuple[str, ...]
    provider: str
    custom: bool
    custom_timeouts: dict[str, str] | None
    inputs: dict[str, Any]
    wire: dict[str, Any] = field(default_factory=dict)
    """The inputs as sent to the engine (secrets still wrapped in their signature)."""
    protect: bool = False
    alias_specs: list[dict[str, Any]] = field(default_factory=list)
    """Aliases as sent to the engine (`{"name": ...}` and whatever else the SDK fills)."""


class RecordingMonitor(MockMonitor):
    def __init__(self, mocks: pulumi.runtime.Mocks) -> None:
        super().__init__(mocks)
        self.registrations: list[Registration] = []
        self._lock = threading.Lock()

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        timeouts = request.customTimeouts
        recorded = Registration(
            type=request.type,
            name=request.name,
            urn=response.urn,
            parent=request.parent,
            dependencies=tuple(request.dependencies),
            provider=request.provider,
            custom=request.custom,
            custom_timeouts=(
                {"create": timeouts.create, "update": timeouts.update, "delete": timeouts.delete}
                if request.HasField("customTimeouts")
                else None
            ),
            inputs=rpc.deserialize_properties(request.object)
            if request.type != "pulumi:pulumi:Stack"
            else {},
            wire=json_format.MessageToDict(request.object),
            protect=bool(request.protect),
            alias_specs=[json_format.MessageToDict(a) for a in request.aliases],
        )
        with self._lock:
            self.registrations.append(recorded)
        return response


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@dataclass
class ProgramRun:
    deployed: Deployed | None
    registrations: list[Registration]
    logs: list[logging.LogRecord] = field(default_factory=list)
    exports: dict[str, Any] = field(default_factory=dict)
    """The stack's outputs, resolved (as the engine would record them)."""
    calls: list[MockCallArgs] = field(default_factory=list)
    """Functions the program invoked (`readStackOutputs`)."""

    def warnings(self) -> list[str]:
        return [r.getMessage() for r in self.logs if r.levelno == logging.WARNING]

    def infos(self) -> list[str]:
        return [r.getMessage() for r in self.logs if r.levelno == logging.INFO]

    def kubernetes(self) -> list[Registration]:
        """Registrations of Kubernetes objects (not the provider, not components)."""
        return [
            r
            for r in self.registrations
            if r.type.startswith("kubernetes:") and not r.type.startswith("pulumi:")
        ]

    def by_urn(self) -> dict[str, Registration]:
        return {r.urn: r for r in self.registrations}

    def one(self, type_: str, name: str) -> Registration:
        found = [r for r in self.registrations if r.type == type_ and r.name == name]
        assert len(found) == 1, (type_, name, [(r.type, r.name) for r in self.registrations])
        return found[0]


def run_program(
    stack_file: Path | None,
    *,
    stack: str = "dev",
    config: Mapping[str, str] | None = None,
    secret_config: Mapping[str, str] | None = None,
    preview: bool = False,
    entry: Callable[[], Deployed] = iac.program.main,
    live: Mapping[str, Any] | None = None,
    live_failure: str | None = None,
) -> ProgramRun:
    """Run the program (`entry`: `iac.program.main()`) as `pulumi up` (or preview) would,
    under mocks, on a stack whose last outputs are `live`. Raises what the program raises
    (pulumi.RunError for a user error)."""
    mocks = RecordingMocks(live, live_failure)
    monitor = RecordingMonitor(mocks)
    handler = _Records()
    logger = logging.getLogger(f"iac-program-test-{id(handler)}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)  # the program's info notes too
    logger.addHandler(handler)
    # A fresh root stack: set_mocks keeps the one of an earlier run, with its exports.
    pulumi.runtime.settings.ROOT.set(None)
    pulumi.runtime.set_mocks(
        mocks, project=PROJECT, stack=stack, preview=preview, monitor=monitor, logger=logger
    )
    values = {"iac:stack": str(stack_file)} if stack_file is not None else {}
    values.update(config or {})
    values.update(secret_config or {})
    # Keys set with `pulumi config set --secret`: config.get_secret() returns them as secret
    # outputs, as the engine's config does.
    pulumi.runtime.set_all_config(dict(values), list(secret_config or {}))
    result: dict[str, Any] = {}

    @pulumi.runtime.test
    def program() -> Any:
        deployed = entry()
        result["deployed"] = deployed
        # The exports, with the outputs inside them resolved (`ready_at`).
        root = pulumi.runtime.get_root_resource()
        exported = pulumi.Output.from_input(dict(getattr(root, "outputs", {}) or {}))
        return pulumi.Output.all(deployed.provider.urn, exported).apply(
            lambda values: result.__setitem__("exports", values[1])
        )

    threshold = gc.get_threshold()
    try:
        program()
    finally:
        pulumi.runtime.set_all_config({}, [])
        logger.removeHandler(handler)
        # main() tunes the collector for a large run; give the test process its own back.
        gc.unfreeze()
        gc.set_threshold(*threshold)
    return ProgramRun(
        result.get("deployed"),
        monitor.registrations,
        handler.records,
        dict(result.get("exports") or {}),
        mocks.calls,
    )
