"""`iac render`: golden files for every example, determinism, output forms."""

from __future__ import annotations

import json
import random
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from iac.cli import cli
from iac.compile import compile_stack
from iac.render.text import render
from iac.validate import check_stack
from tests.support.golden import check_golden

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).parents[1] / "golden"
SOURCES = sorted((ROOT / "examples").glob("*/stack.yaml")) + sorted(
    (ROOT / "stacks").glob("*.yaml")
)


def golden_name(path: Path) -> str:
    return (path.parent.name if path.name == "stack.yaml" else path.stem) + ".yaml"


@pytest.mark.parametrize("path", SOURCES, ids=golden_name)
def test_rendered_output_matches_golden(path: Path, update_golden: bool) -> None:
    # On failure, review the change and run `make golden` if it is intended.
    result = CliRunner().invoke(cli, ["render", str(path)])
    assert result.exit_code == 0, result.stderr
    check_golden(GOLDEN / golden_name(path), result.stdout, update_golden)


def test_no_golden_file_is_stale() -> None:
    assert {p.name for p in GOLDEN.glob("*.yaml")} == {golden_name(p) for p in SOURCES}


def _shuffled(value: Any, rng: random.Random) -> Any:
    if isinstance(value, dict):
        items = list(value.items())
        rng.shuffle(items)
        return {k: _shuffled(v, rng) for k, v in items}
    if isinstance(value, list):
        return [_shuffled(v, rng) for v in value]
    return value


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_key_order_never_changes_the_output(seed: int) -> None:
    """The same stack with its mapping keys shuffled renders byte-identical output."""
    source = ROOT / "stacks" / "demo.yaml"
    expected = render(compile_stack(check_stack(str(source))).objects)
    data = yaml.safe_load(source.read_text())
    data["imports"] = [str((source.parent / i).resolve()) for i in data["imports"]]
    shuffled = _shuffled(data, random.Random(seed))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "stack.yaml"
        path.write_text(yaml.safe_dump(shuffled, sort_keys=False))
        actual = render(compile_stack(check_stack(str(path))).objects)
    assert actual == expected


def test_render_to_a_directory_names_files_in_apply_order(tmp_path: Path) -> None:
    """More in tests/render/test_render_directory.py."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "099-deployment-models-gone.yaml").write_text("stale")  # not iac's: kept
    (out / "notes.txt").write_text("kept")
    result = CliRunner().invoke(cli, ["render", str(ROOT / "stacks" / "demo.yaml"), "-o", str(out)])
    assert result.exit_code == 0, result.stderr
    files = sorted(p.name for p in out.iterdir())
    assert files[:2] == [".iac-render", "01-ec2nodeclass-iac-gpu.yaml"]
    assert "04-namespace-models.yaml" in files
    assert {"099-deployment-models-gone.yaml", "notes.txt"} < set(files)
    rendered = [f for f in files if f[:2].isdigit() and f[2] == "-"]
    assert len(rendered) == len(files) - 3
    documents = [yaml.safe_load((out / f).read_text()) for f in rendered]
    stdout = CliRunner().invoke(cli, ["render", str(ROOT / "stacks" / "demo.yaml")]).stdout
    assert sorted(map(str, documents)) == sorted(map(str, yaml.safe_load_all(stdout)))
    assert [d["kind"] for d in documents] == [d["kind"] for d in yaml.safe_load_all(stdout)]
    assert result.stderr.startswith(
        f"{len(documents)} objects in {out}: {len(documents)} written, 0 removed, 0 unchanged\n"
    )


def test_render_json_is_a_kubernetes_list() -> None:
    result = CliRunner().invoke(
        cli, ["render", str(ROOT / "stacks" / "demo.yaml"), "--format", "json"]
    )
    assert result.exit_code == 0
    listing = json.loads(result.stdout)
    assert (listing["apiVersion"], listing["kind"]) == ("v1", "List")
    yaml_stdout = CliRunner().invoke(cli, ["render", str(ROOT / "stacks" / "demo.yaml")]).stdout
    assert listing["items"] == list(yaml.safe_load_all(yaml_stdout))


def test_render_of_an_invalid_stack_exits_1_with_diagnostics() -> None:
    bad = ROOT / "tests" / "cases" / "invalid" / "min-above-max" / "stack.yaml"
    result = CliRunner().invoke(cli, ["render", str(bad)])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "min_replicas (4) is above max_replicas (2)" in result.stderr
    assert "Traceback" not in result.stderr
