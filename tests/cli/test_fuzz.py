"""A bounded fuzz run: mutated stacks never crash iac (issue #11). The long run is
scripts/fuzz.py; its figures are in docs/security.md."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings

from tests.support.fuzz_harness import mutations, run_one


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutations())
def test_mutated_stacks_exit_cleanly_with_located_diagnostics(text: str) -> None:
    assert run_one(text) in (0, 1)


@settings(max_examples=60, deadline=None)
@given(__import__("hypothesis").strategies.binary(max_size=400))
def test_arbitrary_bytes_exit_cleanly(raw: bytes) -> None:
    import tempfile
    from pathlib import Path

    from click.testing import CliRunner

    from iac.cli import cli
    from tests.support.fuzz_harness import check_outcome

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "stack.yaml"
        path.write_bytes(raw)
        result = CliRunner().invoke(cli, ["validate", str(path)])
        check_outcome(result, "validate")
        assert result.exit_code == 1
