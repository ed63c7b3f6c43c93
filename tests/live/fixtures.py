"""Fixtures for a live control plane: ``control_plane_bin`` and ``live_cluster`` (session).

Imported by tests/live/conftest.py and tests/e2e/conftest.py. The binaries come from
``scripts/install-control-plane``: built from Go modules on first use (10-25 minutes on a
cold Go cache, see docs/live-cluster.md) and reused from the cache afterwards. A failed build
fails the session; nothing is skipped.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.live.cluster import (
    INSTALL_SCRIPT,
    REPO_ROOT,
    REQUIRED_BINARIES,
    LiveCluster,
    start_cluster,
)

INSTALL_TIMEOUT_S = int(os.environ.get("IAC_CONTROL_PLANE_INSTALL_TIMEOUT", "3600"))
CRD_DIR = Path(os.environ.get("IAC_CRD_DIR", REPO_ROOT.parent / "shared" / "crds"))


def _install_control_plane(log_path: Path) -> Path:
    """Run the install script; return its bin dir or fail the test session (never skip)."""
    if not os.access(INSTALL_SCRIPT, os.X_OK):
        pytest.fail(f"{INSTALL_SCRIPT} is missing or not executable", pytrace=False)
    with log_path.open("w") as log:
        try:
            proc: subprocess.CompletedProcess[str] | None = subprocess.run(
                [str(INSTALL_SCRIPT)],
                cwd=REPO_ROOT,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                timeout=INSTALL_TIMEOUT_S,
            )
        except subprocess.TimeoutExpired:
            proc = None
    log_tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-40:])
    if proc is None or proc.returncode != 0:
        why = "timed out" if proc is None else f"exited {proc.returncode}"
        pytest.fail(
            f"could not provide the control plane: {INSTALL_SCRIPT} {why} "
            f"(full log: {log_path})\n{log_tail}",
            pytrace=False,
        )
    lines = proc.stdout.splitlines()
    if len(lines) != 1 or not Path(lines[0]).is_absolute():
        pytest.fail(f"{INSTALL_SCRIPT} must print one absolute bin dir, got {proc.stdout!r}")
    bin_dir = Path(lines[0])
    missing = [b for b in REQUIRED_BINARIES if not os.access(bin_dir / b, os.X_OK)]
    if missing:
        pytest.fail(f"{bin_dir} lacks {', '.join(missing)}", pytrace=False)
    return bin_dir


@pytest.fixture(scope="session")
def control_plane_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The control plane's bin dir, built once (cached across sessions)."""
    work = tmp_path_factory.mktemp("control-plane")
    return _install_control_plane(work / "install-control-plane.log")


@pytest.fixture(scope="session")
def live_cluster(
    control_plane_bin: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveCluster]:
    """A running cluster with the CRDs iac's objects need, stopped at the end of the session.

    Cluster prerequisites as the README lists them are installed the way their own
    installers would: the CRDs from IAC_CRD_DIR, and the `keda` namespace that the KEDA
    HTTP add-on is installed into (iac writes a ReferenceGrant there but does not own it).
    """
    if not CRD_DIR.is_dir():
        pytest.fail(f"no CRDs in {CRD_DIR} (set IAC_CRD_DIR)", pytrace=False)
    cluster = start_cluster(control_plane_bin, tmp_path_factory.mktemp("live-cluster"))
    try:
        crds = sorted(str(p) for p in CRD_DIR.glob("*.yaml"))
        cluster.kubectl("apply", "--server-side", *(a for p in crds for a in ("-f", p)))
        cluster.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
        cluster.kubectl("create", "namespace", "keda")
        yield cluster
    finally:
        cluster.stop()
