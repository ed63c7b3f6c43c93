"""Fixtures for end-to-end tests that drive a real Pulumi engine.

The engine (pulumi CLI, Python language host, Kubernetes provider) comes from
``scripts/install-pulumi-engine``: an official install of the pinned versions
if one is on PATH, else a build from source with Go (cached; the first build
takes several minutes). See docs/pulumi-engine.md.

Everything a test runs goes through :class:`PulumiEngine`: its ``env`` is
hermetic (state in a local ``file://`` backend, a private ``PULUMI_HOME``, no
update check, no plugin downloads) and its Python is ``sys.executable``, so the
Pulumi program sees the same ``pulumi``/``pulumi_kubernetes`` packages as the
tests.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.live.fixtures import control_plane_bin, gateway_bin, live_cluster
from tests.support.install_scripts import install

__all__ = ["PulumiEngine", "control_plane_bin", "gateway_bin", "live_cluster", "pulumi_engine"]

REPO_ROOT = Path(__file__).resolve().parents[2]
INSTALL_SCRIPT = REPO_ROOT / "scripts" / "install-pulumi-engine"
REQUIRED_BINARIES = (
    "pulumi",
    "pulumi-language-python",
    "pulumi-language-python-exec",
    "pulumi-resource-kubernetes",
)
# A cold build compiles the CLI, the language host and the provider: ~20 min on 2 cores.
INSTALL_TIMEOUT_S = int(os.environ.get("IAC_ENGINE_INSTALL_TIMEOUT", "3600"))
COMMAND_TIMEOUT_S = 600

# Variables that could point the engine at a real backend, account, stack or cluster.
# (KUBECONFIG is dropped, not redirected: the Kubernetes provider treats it as its
# `kubeconfig` setting, which it refuses together with `renderYamlToDirectory`.)
_SCRUBBED_PREFIXES = ("PULUMI_",)
_SCRUBBED_NAMES = ("KUBECONFIG", "KUBE_CONTEXT")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "e2e: end-to-end test that runs a real Pulumi engine "
        "(built from source by scripts/install-pulumi-engine on first use)",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test in this directory must be marked e2e, so `-m "not e2e"` skips the engine build."""
    here = Path(__file__).parent
    unmarked = [
        item.nodeid
        for item in items
        if item.path.is_relative_to(here) and item.get_closest_marker("e2e") is None
    ]
    if unmarked:
        raise pytest.UsageError(
            "tests in tests/e2e must be marked @pytest.mark.e2e: " + ", ".join(unmarked)
        )


@dataclass(frozen=True)
class PulumiEngine:
    """A Pulumi engine ready to run, with a hermetic environment for subprocesses."""

    bin_dir: Path
    env: dict[str, str]
    home: Path
    backend_dir: Path

    @property
    def pulumi(self) -> Path:
        return self.bin_dir / "pulumi"

    def run(
        self,
        *args: str,
        cwd: Path,
        check: bool = True,
        timeout: float = COMMAND_TIMEOUT_S,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``pulumi <args> --non-interactive --color never`` in ``cwd``.

        With ``check`` (the default) a non-zero exit fails the test, showing the
        command's output.
        """
        cmd = [str(self.pulumi), *args, "--non-interactive", "--color", "never"]
        proc = subprocess.run(
            cmd,
            cwd=cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            pytest.fail(
                f"{' '.join(cmd)} exited {proc.returncode}\n"
                f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}",
                pytrace=False,
            )
        return proc


def _engine_env(bin_dir: Path, home: Path, backend_dir: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(_SCRUBBED_PREFIXES) and k not in _SCRUBBED_NAMES
    }
    python_dir = str(Path(sys.executable).parent)
    env.update(
        {
            # The engine's binaries first (the provider is found there as an
            # "ambient" plugin), then the test interpreter's bin dir.
            "PATH": os.pathsep.join([str(bin_dir), python_dir, env.get("PATH", "")]),
            # The language host runs programs with this interpreter, so programs
            # import the same pulumi/pulumi_kubernetes as the tests.
            "PULUMI_PYTHON_CMD": sys.executable,
            "PULUMI_HOME": str(home),
            "PULUMI_BACKEND_URL": backend_dir.as_uri(),
            "PULUMI_CONFIG_PASSPHRASE": "iac-e2e-not-a-secret",
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            # Never download plugins: a missing plugin must be an error, not a network call.
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
            "PULUMI_SKIP_CONFIRMATIONS": "true",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


@pytest.fixture(scope="session")
def pulumi_engine(tmp_path_factory: pytest.TempPathFactory) -> PulumiEngine:
    """The Pulumi engine, installed or built once per test session."""
    work = tmp_path_factory.mktemp("pulumi-engine")
    log = work / "install-pulumi-engine.log"
    bin_dir = install(INSTALL_SCRIPT, log, INSTALL_TIMEOUT_S, REQUIRED_BINARIES)
    home = work / "pulumi-home"
    backend_dir = work / "state"
    home.mkdir()
    backend_dir.mkdir()
    return PulumiEngine(
        bin_dir=bin_dir,
        env=_engine_env(bin_dir, home, backend_dir),
        home=home,
        backend_dir=backend_dir,
    )
