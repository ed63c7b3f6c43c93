"""What `iac up`'s inline programs do without of the Python SDK (iac/program/sdk_costs.py):
its debug messages, and its quadratic wait for pending outputs."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import pulumi
import pytest
from pulumi.runtime.proto import engine_pb2
from pulumi.runtime.settings import SETTINGS

from iac.program.sdk_costs import SDK_DEBUG, mute_debug_messages, settle_outputs

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
