"""The Pulumi program: `pulumi up` from stack files, as a thin layer over the compiler.

A stack file is checked and compiled exactly as `iac render` does it, and every compiled
object is registered as one pulumi_kubernetes resource whose inputs are that object, so
what a reviewer reads in `iac render` is what Pulumi applies. Around the objects the program
adds only resource options: one provider per cluster, a component per model (and one for
the cluster), `depends_on` where order matters, and longer await timeouts for model servers.

- `iac.program.deploy`   the Pulumi layer (`main`, `deploy`); imports Pulumi
- `iac.program.layout`   owners, logical names, dependencies, timeouts; pure
- `iac.program.kinds`    which pulumi_kubernetes class registers each kind
- `iac.program.outputs`  stack output names (`OUTPUTS`) and values; pure
- `iac.program.settings` config keys and the stack file to compile; pure

This module imports nothing heavy, so `from iac.program.outputs import OUTPUTS` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from iac.program.deploy import Deployed

__all__ = ["main"]


def main() -> Deployed:
    """Run the program (inside a Pulumi program run, or under mocks in tests)."""
    from iac.program.deploy import main as run

    return run()
