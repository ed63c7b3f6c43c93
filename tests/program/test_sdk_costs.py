"""What iac's programs do without of the Python SDK (iac/program/sdk_costs.py): its debug
messages and its quadratic wait for pending outputs (`iac up`), reading source files for
each resource's stack trace, and walking plain values value by value."""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pulumi
import pytest
from pulumi.runtime import resource as sdk_resource
from pulumi.runtime import rpc as sdk_rpc
from pulumi.runtime import stack as sdk_stack
from pulumi.runtime.proto import engine_pb2, source_pb2
from pulumi.runtime.settings import SETTINGS

from iac.compile import compile_stack
from iac.program.kinds import KubernetesObject
from iac.program.outputs import stack_outputs, stack_sources
from iac.program.sdk_costs import (
    SDK_DEBUG,
    SDK_MASSAGE,
    SDK_SERIALIZE_PROPERTY,
    SDK_STACK_TRACE,
    fast_stack_traces,
    is_plain,
    massage,
    mute_debug_messages,
    plain_values_as_they_are,
    serialize_property,
    settle_outputs,
    stack_trace,
)
from iac.validate import check_stack
from tests.support.stacks import ROOT

T = TypeVar("T")


class RecordingEngine:
    """The engine's Log RPC, recorded."""

    def __init__(self) -> None:
        self.logged: list[tuple[int, str]] = []

    def Log(self, request: Any) -> None:  # the RPC's name
        self.logged.append((request.severity, request.message))


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """`coroutine` run to its end on a loop of its own; unlike `asyncio.run`, this leaves the
    thread's current loop as it was (the Pulumi mocks of other tests use it)."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coroutine)
    finally:
        loop.close()


def test_debug_messages_are_dropped_before_the_rpc_and_others_still_sent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine = RecordingEngine()
    monkeypatch.setattr(SETTINGS, "engine", engine)
    # The SDK's own function (an `iac up` run earlier in this process muted it), put back
    # as it was afterwards.
    monkeypatch.setattr(pulumi.log, "debug", SDK_DEBUG)

    pulumi.log.debug("sent")
    mute_debug_messages()
    pulumi.log.debug("registering resource: ty=kubernetes:apps/v1:Deployment")
    pulumi.log.info("a message a user reads")

    assert engine.logged == [
        (engine_pb2.DEBUG, "sent"),
        (engine_pb2.INFO, "a message a user reads"),
    ]


def test_settling_waits_for_every_pending_output_and_those_made_meanwhile() -> None:
    async def scenario() -> list[str]:
        order: list[str] = []
        loop = asyncio.get_running_loop()
        first: asyncio.Future[None] = loop.create_future()
        second: asyncio.Future[None] = loop.create_future()

        def done_first() -> None:
            order.append("first")
            first.set_result(None)
            # An apply's output: made while the wait runs, pending after the first round.
            SETTINGS.outputs.add(second)
            loop.call_later(0.01, lambda: (order.append("second"), second.set_result(None)))

        SETTINGS.outputs.add(first)
        loop.call_later(0.01, done_first)
        await settle_outputs()
        order.append("settled")
        return order

    try:
        assert run(scenario()) == ["first", "second", "settled"]
    finally:
        SETTINGS.outputs.clear()


def test_a_failed_output_is_left_for_the_sdk_to_raise() -> None:
    async def scenario() -> set[Any]:
        failed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        failed.set_exception(RuntimeError("the Deployment did not become available"))
        SETTINGS.outputs.add(failed)
        await settle_outputs()  # does not raise: the SDK's own wait does
        left = set(SETTINGS.outputs)
        with pytest.raises(RuntimeError, match="did not become available"):
            await failed
        return left

    try:
        assert len(run(scenario())) == 1
    finally:
        SETTINGS.outputs.clear()


class Resource:
    """Stands in for the SDK's class chain: each constructor calls its base's, and the
    innermost asks for the stack trace, as `register_resource` does."""

    def __init__(self, ask: Callable[[], Any]) -> None:
        self.trace = ask()


class CustomResource(Resource):
    def __init__(self, ask: Callable[[], Any]) -> None:
        super().__init__(ask)


class Deployment(CustomResource):
    def __init__(self, ask: Callable[[], Any]) -> None:
        super().__init__(ask)


def construct(ask: Callable[[], Any]) -> Any:
    """User code: where the resource is constructed."""
    return Deployment(ask).trace


def test_the_fast_stack_trace_is_the_sdks() -> None:
    ours, sdks = construct(stack_trace), construct(SDK_STACK_TRACE)

    assert ours == sdks
    innermost = ours.frames[0].pc
    assert innermost.uri == Path(__file__).as_uri()
    assert innermost.line == construct.__code__.co_firstlineno + 2


def test_without_three_constructors_both_traces_are_empty() -> None:
    assert CustomResource(stack_trace).trace == CustomResource(SDK_STACK_TRACE).trace
    assert stack_trace() == SDK_STACK_TRACE() == source_pb2.StackTrace()


def test_the_fast_stack_trace_replaces_the_sdks_in_the_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sdk_resource, "_get_stack_trace", SDK_STACK_TRACE)
    fast_stack_traces()
    assert sdk_resource._get_stack_trace is stack_trace


def serialized(
    value: dict[str, Any] | Callable[[], dict[str, Any]],
    ours: bool,
    monkeypatch: pytest.MonkeyPatch,
    **kw: Any,
) -> Any:
    """`value` (or the value it makes, on the loop that serializes it, as an Output must be
    made), as `serialize_properties` sends it to the engine, by our `serialize_property` or
    the SDK's."""
    chosen = serialize_property if ours else SDK_SERIALIZE_PROPERTY
    monkeypatch.setattr(sdk_rpc, "serialize_property", chosen)

    async def serialize() -> Any:
        return await sdk_rpc.serialize_properties(value() if callable(value) else value, {}, **kw)

    return run(serialize())


def test_plain_values_are_sent_as_the_sdk_sends_them(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every object of an example (its models, a chain, node pools, monitoring) as a
    resource's inputs, and the stack's outputs after `massage`: the same message."""
    stack = check_stack(str(ROOT / "examples" / "09-rag-chain" / "stack.yaml"))
    compiled = compile_stack(stack)
    translate = KubernetesObject.translate_input_property.__get__(object())
    for obj in compiled.objects:
        assert is_plain(obj)
        ours = serialized(obj, True, monkeypatch, input_transformer=translate)
        assert ours == serialized(obj, False, monkeypatch, input_transformer=translate)
    outputs = {**stack_outputs(compiled.release), "sources": stack_sources(stack)}
    assert massage(outputs, []) is outputs
    assert serialized(outputs, True, monkeypatch) == serialized(
        SDK_MASSAGE(outputs, []), False, monkeypatch
    )


class Tier(enum.StrEnum):
    GPU = "gpu"


def test_anything_else_is_left_to_the_sdk(monkeypatch: pytest.MonkeyPatch) -> None:
    """A value holding an Output, a tuple or an enum is not plain data: the SDK serializes it
    (awaiting the Output, turning the tuple into a list, the enum into its value) as before;
    so it does when a class renames its properties."""

    def enum_and_tuple() -> dict[str, Any]:
        return {"metadata": {"name": "m", "labels": {"tier": Tier.GPU}}, "ports": (80, 443)}

    def output() -> dict[str, Any]:
        return {"data": {"token": pulumi.Output.secret("token")}}

    assert not is_plain(enum_and_tuple())
    for item in (enum_and_tuple, output):
        assert serialized(item, True, monkeypatch) == serialized(item, False, monkeypatch)
    # Awaited: sent as the secret's value, or as the value alone when the mocks other tests
    # set up are not there to take secrets.
    token = serialized(output, True, monkeypatch)["data"]["token"]
    assert token == "token" or token["value"] == "token"

    def renamed() -> dict[str, Any]:
        return {"spec": {"replica_count": 1}}

    def camel(name: str) -> str:
        return "replicaCount" if name == "replica_count" else name

    ours = serialized(renamed, True, monkeypatch, input_transformer=camel)
    assert ours == serialized(renamed, False, monkeypatch, input_transformer=camel)
    assert "replicaCount" in ours["spec"]


def test_plain_values_replace_the_sdks_functions_in_the_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sdk_rpc, "serialize_property", SDK_SERIALIZE_PROPERTY)
    monkeypatch.setattr(sdk_stack, "massage", SDK_MASSAGE)
    plain_values_as_they_are()
    assert sdk_rpc.serialize_property is serialize_property
    assert sdk_stack.massage is massage
