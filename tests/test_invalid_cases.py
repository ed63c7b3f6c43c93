"""Each folder under cases/invalid/ is a stack with problems, and expected.txt is exactly
what `iac validate` must print for it (regenerate with `pytest --update-golden`)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from iac.cli import cli
from tests.conftest import check_golden

CASES = Path(__file__).parent / "cases" / "invalid"
CASE_NAMES = sorted(p.name for p in CASES.iterdir() if p.is_dir())


@pytest.mark.parametrize("case", CASE_NAMES)
def test_invalid_case_is_reported_exactly(
    case: str, monkeypatch: pytest.MonkeyPatch, update_golden: bool
) -> None:
    monkeypatch.chdir(CASES / case)
    result = CliRunner().invoke(cli, ["validate", "stack.yaml"])
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.stderr.splitlines()
    assert lines, "an invalid stack must produce at least one diagnostic"
    for line in lines:
        assert line.startswith("stack.yaml:") or line.startswith("../"), line
        assert ": error: " in line
    check_golden(CASES / case / "expected.txt", result.stderr, update_golden)


def test_required_cases_exist() -> None:
    required = {
        "unknown-key", "wrong-type", "duplicate-key", "unknown-accelerator",
        "dangling-deployment-reference", "deployment-bound-twice", "min-above-max",
        "bad-duration", "yaml-bomb", "empty-file", "not-a-mapping", "non-utf8",
    }  # fmt: skip
    assert required <= set(CASE_NAMES)
