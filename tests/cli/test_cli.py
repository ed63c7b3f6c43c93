"""The command line: exit codes, where output goes, and no traceback for user errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from iac.cli import cli
from iac.spec.schema import render_schema

ROOT = Path(__file__).resolve().parents[2]
BAD = ROOT / "tests" / "cases" / "invalid" / "unknown-key" / "stack.yaml"


def test_validate_ok_prints_a_summary_and_exits_0() -> None:
    result = CliRunner().invoke(cli, ["validate", str(ROOT / "stacks" / "demo.yaml")])
    assert result.exit_code == 0, result.output
    assert result.stdout.endswith("demo.yaml: ok (2 models, 5 deployments, 3 environments)\n")
    assert result.stderr == ""


def test_validate_several_reports_each_and_fails_if_one_fails() -> None:
    good = str(ROOT / "examples" / "01-single-model")
    result = CliRunner().invoke(cli, ["validate", good, str(BAD)])
    assert result.exit_code == 1
    assert "01-single-model/stack.yaml: ok" in result.stdout
    assert "error: models.llama.autoscaling.min_replica: unknown key" in result.stderr


def test_validate_needs_a_stack() -> None:
    result = CliRunner().invoke(cli, ["validate"])
    assert result.exit_code == 2
    assert "Missing argument 'FILE...'" in result.stderr


def test_missing_file_is_a_located_error() -> None:
    result = CliRunner().invoke(cli, ["validate", "no/such/stack.yaml"])
    assert result.exit_code == 1
    assert result.stderr == "no/such/stack.yaml:1:1: error: no such file\n"


def test_real_process_has_no_traceback_and_exit_1() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "iac", "validate", str(BAD)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    assert ": error: models.llama.autoscaling.min_replica: unknown key 'min_replica'" in run.stderr


def test_schema_command_prints_the_committed_schema() -> None:
    result = CliRunner().invoke(cli, ["schema"])
    assert result.exit_code == 0
    assert result.stdout == render_schema("stack")
    assert result.stdout == (ROOT / "schema" / "stack.schema.json").read_text()
    module = CliRunner().invoke(cli, ["schema", "--kind", "module"])
    assert module.stdout == (ROOT / "schema" / "module.schema.json").read_text()


def test_a_command_loads_only_its_own_modules() -> None:
    """Commands are imported when they run: `iac render` never loads the simulator's numpy
    or the planner (a third of a second of every run)."""
    code = (
        "import sys, contextlib, io\n"
        "from iac.cli import cli\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        f"    cli(['render', {str(ROOT / 'examples' / '01-single-model')!r}], prog_name='iac')\n"
        "loaded = [m for m in ('numpy', 'iac.simulate', 'iac.diff', 'iac.program') if m in sys.modules]\n"
        "print(loaded, 'iac.render.text' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[] True"


def _iac(*args: str) -> subprocess.CompletedProcess[str]:
    """The `iac` executable's entry point (`iac.cli.main`) in a process of its own."""
    return subprocess.run(
        [sys.executable, "-m", "iac", *args], capture_output=True, text=True, check=False
    )


def test_leaving_without_teardown_keeps_all_output_and_the_exit_code(tmp_path: Path) -> None:
    """`iac render`, `plan` and `validate` leave with `os._exit` (no freeing at exit):
    what they printed is flushed first, and the exit code is the command's."""
    example = str(ROOT / "examples" / "01-single-model")
    render = _iac("render", example)
    assert (render.returncode, render.stderr) == (0, "")
    assert render.stdout == (ROOT / "tests" / "golden" / "01-single-model.yaml").read_text()
    missing = _iac("render", "no/such/stack.yaml")
    assert (missing.returncode, missing.stdout) == (1, "")
    assert missing.stderr == "no/such/stack.yaml:1:1: error: no such file\n"
    head = ROOT / "examples" / "01-single-model" / "stack.yaml"  # its imports are relative
    written = head.read_text()
    head = tmp_path / "examples" / "head" / "stack.yaml"
    head.parent.mkdir(parents=True)
    head.write_text(written.replace("max_replicas: 2}", "max_replicas: 4}"))
    (tmp_path / "modules").symlink_to(ROOT / "modules")
    changed = _iac("plan", str(head), "--base", example, "--detailed-exitcode")
    assert changed.returncode == 2, changed.stderr
    assert changed.stdout.startswith("iac plan: ")
    assert changed.stdout.endswith("Objects: 0 to add, 2 to change, 0 to remove\n")
    same = _iac("plan", example, "--base", example, "--detailed-exitcode")
    assert same.returncode == 0, same.stderr
    assert _iac("validate", str(BAD)).returncode == 1
    usage = _iac("render")  # click's usage error, exit 2
    assert usage.returncode == 2
    assert "Missing argument 'STACK'" in usage.stderr


def test_validate_checks_module_files_as_modules_beside_stacks() -> None:
    files = ["modules/vllm.yaml", "stacks/demo.yaml", "modules/tei.yaml"]
    result = CliRunner().invoke(cli, ["validate", *(str(ROOT / f) for f in files)])
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert [line.split(str(ROOT) + "/")[1] for line in result.stdout.splitlines()] == [
        "modules/vllm.yaml: ok (module, 1 template)",
        "stacks/demo.yaml: ok (2 models, 5 deployments, 3 environments)",
        "modules/tei.yaml: ok (module, 1 template)",
    ]


def test_a_file_with_templates_and_a_cluster_is_a_stack(tmp_path: Path) -> None:
    """A stray `templates:` in a stack is the stack's unknown key, not a module file."""
    stack = tmp_path / "stack.yaml"
    stack.write_text("version: 1\ncluster: {name: test}\ntemplates: {}\nmodels: {}\n")
    result = CliRunner().invoke(cli, ["validate", str(stack)])
    assert result.exit_code == 1
    assert "3:1: error: templates: unknown key 'templates'" in result.stderr


def test_other_commands_given_a_module_file_say_what_it_is(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(ROOT)
    for command in (["render"], ["cost"], ["plan", "--base", "stacks/demo.yaml"]):
        result = CliRunner().invoke(cli, [*command, "modules/vllm.yaml"])
        assert result.exit_code == 1, command
        assert result.stdout == ""
        assert result.stderr == (
            "modules/vllm.yaml:7:1: error: this is a module file (it has `templates:` and no "
            "`cluster:` or `models:`), not a stack: name a stack file that imports it, or check "
            "it with `iac validate modules/vllm.yaml`\n"
        ), command
