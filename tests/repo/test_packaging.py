"""What `pip install iac` gets: the wheel carries everything the commands read at run time
(catalog data, the policy pack's PulumiPolicy.yaml, `iac init`'s starter files), so they
work with no source checkout around the package."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from this tree, unpacked as site-packages would hold it."""
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         "-w", str(out), str(ROOT)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    (wheel,) = out.glob("iac-*.whl")
    site = out / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    return site


def run_installed(site: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`iac ARGS` importing iac from `site` only (not from this checkout)."""
    code = (
        "import sys, iac; from iac.cli import main; "
        f"assert iac.__file__.startswith({str(site)!r}), iac.__file__; "
        "sys.argv = ['iac', *sys.argv[1:]]; main()"
    )
    return subprocess.run(
        [sys.executable, "-P", "-c", code, *args],
        cwd=cwd,
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )


def test_the_wheel_holds_the_files_read_at_run_time(installed: Path) -> None:
    package = installed / "iac"
    for relative in (
        "catalog/accelerators.yaml",
        "catalog/instances.yaml",
        "policy_pack/PulumiPolicy.yaml",
        "_starter/examples/01-single-model/stack.yaml",
        "_starter/modules/vllm.yaml",
        "_starter/schema/stack.schema.json",
    ):
        assert (package / relative).is_file(), relative


def test_iac_init_from_an_installed_wheel_writes_a_valid_project(
    installed: Path, tmp_path: Path
) -> None:
    created = run_installed(installed, "init", "project", "--no-virtualenv", cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    project = tmp_path / "project"
    stack = project / "stacks" / "dev.yaml"
    assert (project / "modules" / "vllm.yaml").is_file()
    # The editor's schema comment points at the project's copy of the packaged schema, not
    # into the installation (which a clone of the project does not have).
    first = stack.read_text().splitlines()[0]
    schema = (stack.parent / first.partition("$schema=")[2]).resolve()
    assert schema == (project / "schema" / "stack.schema.json").resolve(), first
    assert schema.read_text() == (installed / "iac/_starter/schema/stack.schema.json").read_text()
    # Installed from a wheel with no record of where it came from (as from an index).
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert (project / "requirements.txt").read_text().splitlines()[-1] == f"iac=={version}"
    checked = run_installed(installed, "validate", "stacks/dev.yaml", cwd=project)
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout == "stacks/dev.yaml: ok (1 model, 1 deployment, 1 environment)\n"
