"""Each folder under cases/invalid/ is a stack with problems, and expected.txt is exactly
what `iac validate` must print for it on stderr (regenerate with `pytest --update-golden`).

A case that checks more than its stack.yaml lists the files `iac validate` is given in
args.txt (one a line: module files, several stacks), and what it must print on stdout for
the valid ones in stdout.txt (nothing when absent)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from iac.cli import cli
from tests.support.golden import check_golden

CASES = Path(__file__).parents[1] / "cases" / "invalid"
CASE_NAMES = sorted(p.name for p in CASES.iterdir() if p.is_dir())


def validate_args(case: Path) -> list[str]:
    """The files `iac validate` is given for `case`."""
    args = case / "args.txt"
    return args.read_text(encoding="utf-8").split() if args.exists() else ["stack.yaml"]


@pytest.mark.parametrize("case", CASE_NAMES)
def test_invalid_case_is_reported_exactly(
    case: str, monkeypatch: pytest.MonkeyPatch, update_golden: bool
) -> None:
    folder = CASES / case
    monkeypatch.chdir(folder)
    args = validate_args(folder)
    result = CliRunner().invoke(cli, ["validate", *args])
    assert result.exit_code == 1, result.output
    stdout = folder / "stdout.txt"
    assert result.stdout == (stdout.read_text(encoding="utf-8") if stdout.exists() else "")
    assert "Traceback" not in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.stderr.splitlines()
    assert lines, "an invalid stack must produce at least one diagnostic"
    for line in lines:
        # A file of the case (a stack, a module it imports) or a shared module (../).
        assert line.startswith("../") or Path(line.split(":", 1)[0]).is_file(), line
        assert ": error: " in line
    check_golden(folder / "expected.txt", result.stderr, update_golden)


def test_required_cases_exist() -> None:
    required = {
        "unknown-key", "wrong-type", "duplicate-key", "unknown-accelerator",
        "dangling-deployment-reference", "deployment-bound-twice", "min-above-max",
        "bad-duration", "yaml-bomb", "empty-file", "not-a-mapping", "non-utf8",
        # issue 21, item 4: messages that point at the cause
        "import-twice", "import-same-file-twice", "import-folder", "invalid-template",
        "module-file", "tab-indentation",
        # issue 27: chains
        "chain-entrypoint-missing", "chain-entrypoint-unknown", "chain-call-unknown",
        "chain-calls-cycle", "chain-override-unknown", "chain-name-taken",
        # issue 27: a chain's endpoint messages name the chain, at its lines
        "chain-hostname-collision", "chain-host-without-domain", "chain-host-too-long",
    }  # fmt: skip
    assert required <= set(CASE_NAMES)
