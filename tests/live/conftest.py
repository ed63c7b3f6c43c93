"""The live-cluster tests: a real control plane on loopback (tests/live/cluster.py).

Fixtures (tests/live/fixtures.py): the binaries come from ``scripts/install-control-plane``,
built from Go modules on first use (see docs/live-cluster.md) and reused from the cache
afterwards. A failed build fails the session; nothing is skipped.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.live.fixtures import control_plane_bin, gateway, gateway_bin, live_cluster

__all__ = ["control_plane_bin", "gateway", "gateway_bin", "live_cluster"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test in this directory must be marked live, so `-m "not live"` skips the build."""
    here = Path(__file__).parent
    unmarked = [
        item.nodeid
        for item in items
        if item.path.is_relative_to(here) and item.get_closest_marker("live") is None
    ]
    if unmarked:
        raise pytest.UsageError(
            "tests in tests/live must be marked @pytest.mark.live: " + ", ".join(unmarked)
        )
