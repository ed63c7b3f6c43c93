"""Costs of the Pulumi Python SDK (pinned: pulumi 3.272.0) that iac's programs do without.
Each scales with the resources registered; figures in docs/program.md ("Large stacks: what
the Python SDK costs").

- **Debug messages.** The SDK logs three debug messages a resource (`pulumi.log.debug`:
  registering, prepared, registered), each a blocking RPC to the engine, which drops them
  unless the CLI runs with `--debug`. `iac up` never passes it, so they are dropped here,
  before the RPC. Only `iac up`'s process does this: a project's own `pulumi up --debug`
  still gets them.
- **The final wait.** When a program's body has returned, the SDK's `wait_for_rpcs` waits
  for every output still pending with `asyncio.wait(..., FIRST_COMPLETED)` in a loop, which
  hooks a callback on every one of them again each time one completes: quadratic in the
  outputs, of which each resource has several. `iac up`'s programs end by awaiting them all
  themselves, all at once, so that loop finds nothing left to wait for.
- **Stack traces.** For each resource the SDK records where it was constructed (the
  engine keeps the innermost frame as the resource's source position): it takes
  `traceback.extract_stack()`, which reads every frame's source line and asks `linecache`
  to check each frame's file on disk (an `os.stat` a file), then keeps only file names and
  line numbers. `fast_stack_traces` puts in its place a walk over the frames that builds
  the same message from the same frames, without the source lines. Unlike the two above,
  nothing observable changes, so both `iac up` and a project's `pulumi up` use it.
- **Plain values.** Every resource's inputs and the stack's outputs are serialized by the
  SDK's `serialize_property`, a coroutine awaited for every value in them, leaves included,
  and the outputs are first copied whole by `massage`, which looks for Outputs and
  resources in them. iac's inputs (Kubernetes objects) and outputs (the release, its
  endpoints, the stack files) are plain data: JSON's types, nothing to await.
  `plain_values_as_they_are` passes such a value on as it is, which is what the SDK makes
  of it (tested equal on every object of a compiled stack). Nothing observable changes:
  both `iac up` and a project's `pulumi up` use it.
"""

from __future__ import annotations

import asyncio
import functools
import pathlib
import sys
from types import FrameType
from typing import Any

import pulumi
from pulumi.runtime import resource as sdk_resource
from pulumi.runtime import rpc as sdk_rpc
from pulumi.runtime import stack as sdk_stack
from pulumi.runtime.proto import source_pb2
from pulumi.runtime.settings import SETTINGS

SDK_DEBUG = pulumi.log.debug
"""The SDK's own `pulumi.log.debug`, as this module found it (before any mute)."""
SDK_STACK_TRACE = sdk_resource._get_stack_trace
"""The SDK's own stack trace of a resource's construction, as this module found it."""
SDK_SERIALIZE_PROPERTY = sdk_rpc.serialize_property
"""The SDK's own `serialize_property`, as this module found it."""
SDK_MASSAGE = sdk_stack.massage
"""The SDK's own `massage` of the stack's outputs, as this module found it."""
CONSTRUCTORS = 3
"""`__init__` frames between the SDK's call and the code that constructs a resource: the
SDK's `Resource`, `CustomResource` (or `ComponentResource`), the resource's own class, as
the SDK's `_get_stack_trace` counts them."""


def mute_debug_messages() -> None:
    """Drop the SDK's debug messages in this process (every inline program in it)."""
    pulumi.log.debug = _dropped


def _dropped(*_args: object, **_kwargs: object) -> None:
    """Stands in for `pulumi.log.debug`."""


async def settle_outputs() -> None:
    """Wait until no output of this program is pending. Each round waits for the outputs
    pending at its start, at once; outputs created meanwhile (an `apply`'s) make another
    round. A failed output is left to the SDK, which raises its error as before: the SDK
    keeps it among the outputs to wait for, and this wait ignores what is done."""
    while True:
        with SETTINGS.lock:  # per program (a context variable), as is `outputs`
            pending = [output for output in SETTINGS.outputs if not output.done()]
        if not pending:
            return
        await asyncio.gather(*pending, return_exceptions=True)


def fast_stack_traces() -> None:
    """Record where each resource is constructed without reading source files, in this
    process (every program it runs): same frames, same message (`stack_trace`)."""
    sdk_resource._get_stack_trace = stack_trace


def stack_trace() -> source_pb2.StackTrace:
    """What the SDK's `_get_stack_trace` returns when called from here: the frames outside
    the third `__init__` from the top of the stack, innermost first, each with its file (as
    a URI) and line; none when there is no such `__init__`."""
    frame: FrameType | None = sys._getframe(1)
    inits = 0
    while frame is not None:
        if frame.f_code.co_name == "__init__":
            inits += 1
            if inits == CONSTRUCTORS:
                break
        frame = frame.f_back
    if frame is None:
        return source_pb2.StackTrace()
    frames = []
    caller = frame.f_back
    while caller is not None:
        position = _position(caller.f_code.co_filename, caller.f_lineno)
        frames.append(source_pb2.StackFrame(pc=position))
        caller = caller.f_back
    return source_pb2.StackTrace(frames=frames)


def _position(filename: str, line: int | None) -> source_pb2.SourcePosition | None:
    """A frame's position as the SDK writes it (`_get_source_position_for_frame`)."""
    uri = _uri(filename)
    if uri is None or line is None:
        return None
    return source_pb2.SourcePosition(uri=uri, line=line)


@functools.cache
def _uri(filename: str) -> str | None:
    """`file:///...` for an absolute file name; None for the others (`<frozen runpy>`),
    as the SDK's `pathlib.Path(filename).as_uri()` fails for them."""
    if filename == "":
        return None
    try:
        return pathlib.Path(filename).as_uri()
    except ValueError:
        return None


def plain_values_as_they_are() -> None:
    """Serialize plain data as it is, in this process (every program it runs): the SDK's
    functions for anything else (`serialize_property`, `massage`)."""
    sdk_rpc.serialize_property = serialize_property
    sdk_stack.massage = massage


async def serialize_property(
    value: Any,
    deps: Any,
    property_key: Any,
    resource_obj: Any = None,
    input_transformer: Any = None,
    typ: Any = None,
    keep_output_values: bool = False,
    exclude_resource_refs_from_deps: bool = False,
    return_protobuf_value: bool = False,
) -> Any:
    """The SDK's `serialize_property` (same parameters), except for a dict or list of plain
    data whose keys are not renamed (no input type, no translation but the SDK's default,
    which keeps them): that is returned as it is, as the SDK would rebuild it."""
    if (
        type(value) in _CONTAINERS
        and typ is None
        and not return_protobuf_value
        and _keeps_names(input_transformer)
        and is_plain(value)
    ):
        return value
    return await SDK_SERIALIZE_PROPERTY(
        value,
        deps,
        property_key,
        resource_obj,
        input_transformer,
        typ,
        keep_output_values,
        exclude_resource_refs_from_deps,
        return_protobuf_value,
    )


def massage(attr: Any, seen: list[Any]) -> Any:
    """The SDK's `massage` of a stack output, except for plain data, which it would copy
    as it is."""
    if type(attr) in _CONTAINERS and is_plain(attr):
        return attr
    return SDK_MASSAGE(attr, seen)


_CONTAINERS = (dict, list)
_LEAVES = (str, int, float, bool, type(None))


def is_plain(value: Any) -> bool:
    """Whether `value` is JSON's kind of data: dicts with string keys, lists, strings,
    numbers, booleans and None, exactly those types (no subclass, such as an enum)."""
    kind = type(value)
    if kind is dict:
        return all(type(key) is str and is_plain(item) for key, item in value.items())
    if kind is list:
        return all(is_plain(item) for item in value)
    return kind in _LEAVES


def _keeps_names(translate: Any) -> bool:
    """Whether `translate` (a resource's `translate_input_property`, or None) keeps every
    property's name: the SDK's default does; a class's own may not."""
    if translate is None:
        return True
    return getattr(translate, "__func__", None) is pulumi.Resource.translate_input_property
