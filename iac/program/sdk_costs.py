"""Two costs of the Pulumi Python SDK (pinned: pulumi 3.272.0) that `iac up`'s inline
programs do without. Both scale with the resources registered; figures in docs/program.md
("Large stacks: what the Python SDK costs").

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
"""

from __future__ import annotations

import asyncio

import pulumi
from pulumi.runtime.settings import SETTINGS

SDK_DEBUG = pulumi.log.debug
"""The SDK's own `pulumi.log.debug`, as this module found it (before any mute)."""


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
