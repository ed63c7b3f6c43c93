"""`iac up`'s steps as the library runs them (`iac.up`), without the Pulumi engine: the
engine is a stand-in that answers what the Pulumi stack's outputs would."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from iac.diagnostics import Diagnostics
from iac.program.automation import AutomationEngine
from iac.program.outputs import stack_sources
from iac.program.settings import ClusterAccess
from iac.up import checked_head, missing_in_cluster, planned_change
from tests.support.compile_helpers import ROOT

EXAMPLE = str(ROOT / "examples" / "01-single-model")


class _Outputs:
    """The part of AutomationEngine `planned_change` reads: the stack files last applied."""

    def __init__(self, sources: dict[str, Any] | None) -> None:
        self.sources = sources

    def read_live_sources(self) -> dict[str, Any] | None:
        return self.sources


def test_the_first_up_plans_everything_as_new_and_the_next_nothing() -> None:
    head = checked_head(EXAMPLE, Diagnostics())
    first = planned_change(head, cast(AutomationEngine, _Outputs(None)))
    assert first.base is None
    assert first.plan.changed
    assert not first.plan.failed
    again = planned_change(head, cast(AutomationEngine, _Outputs(stack_sources(head.stack))))
    assert again.base is not None
    assert not again.plan.changed


def test_a_stack_that_renders_to_a_folder_has_no_cluster_to_check(tmp_path: Path) -> None:
    head = checked_head(EXAMPLE, Diagnostics())
    access = ClusterAccess(kubeconfig=None, context=None, render_dir=str(tmp_path))
    assert missing_in_cluster(head, access, tmp_path) == []
