"""The plan as a CI gate (issue #20 item 3): the markdown fits a pull-request comment and says
what it left out; an invalid head still prints its errors in markdown and JSON; an invalid
base is planned against in part, so the change that repairs it gets a plan."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from benchmarks.generate import changed_stack, large_stack
from iac.cli import cli
from iac.diagnostics import Diagnostic, Location
from iac.diff.markdown import DEFAULT_MAX_CHARS, GITHUB_COMMENT_LIMIT, errors_markdown
from iac.program.live import live_base
from tests.support.compile_helpers import ROOT
from tests.support.plan_cli import BASE, plan, plan_json, write


def plan_files(base: Path, head: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["plan", str(head), "--base", str(base), *args])
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def release_train(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """150 models, each promoted (and its staging swapped, its image bumped)."""
    folder = tmp_path_factory.mktemp("train")
    base = large_stack(150)
    (folder / "base.yaml").write_text(base)
    (folder / "head.yaml").write_text(changed_stack(base, every=1))
    return folder / "base.yaml", folder / "head.yaml"


def test_a_large_plan_fits_a_github_comment_and_says_what_it_left_out(
    release_train: tuple[Path, Path], tmp_path: Path
) -> None:
    base, head = release_train
    code, whole, _ = plan_files(base, head, "--format", "markdown", "--max-chars", "0")
    assert code == 0
    assert len(whole) > GITHUB_COMMENT_LIMIT  # what GitHub refused (440,225 characters)
    assert "✂️" not in whole
    json_file = tmp_path / "plan.json"
    url = "https://github.com/o/r/actions/runs/1"
    code, markdown, _ = plan_files(
        base,
        head,
        "--format",
        "markdown",
        "--json-file",
        str(json_file),
        "--full-plan-url",
        url,
    )
    assert code == 0
    assert len(markdown) <= DEFAULT_MAX_CHARS < GITHUB_COMMENT_LIMIT - len("<!-- iac-plan -->\n")
    assert markdown.splitlines()[2] == (
        "✂️ **Shortened to fit the comment** (`--max-chars`): left out the rollouts' steps and "
        f"the list of objects. The whole plan: `plan.json` in [this run]({url})."
    )
    # Repeated rows are grouped: every model is still accounted for.
    assert (
        "| → | 150 models: model-0000, model-0001, model-0002, model-0003, model-0004 and 145 "
        "more | production: v3 → v2 |"
    ) in markdown
    assert "Objects: 150 to add, 1501 to change, 150 to remove." in markdown
    assert markdown.count("<details>") == markdown.count("</details>")
    written = json.loads(json_file.read_text())
    assert len([e for e in written["events"] if e["kind"] == "promote"]) == 300
    assert len(written["objects"]["changed"]) == 1501


def test_rows_that_do_not_repeat_are_cut_last_and_counted(tmp_path: Path) -> None:
    """150 different images: grouping saves nothing, so rows go, errors and warnings last."""
    base = large_stack(150)
    head, count = re.subn(
        r"  (model-(\d{4})):\n((?:    .*\n)*?)      v2: \{image: vllm/vllm-openai:v0.1.0\}",
        lambda m: f"  {m[1]}:\n{m[3]}      v2: {{image: vllm/vllm-openai:v0.1.{int(m[2]) + 1}}}",
        base,
    )
    assert count == 150
    base_path, head_path = write(tmp_path, "base.yaml", base), write(tmp_path, "head.yaml", head)
    code, markdown, _ = plan_files(
        Path(base_path), Path(head_path), "--format", "markdown", "--max-chars", "5000"
    )
    assert code == 0
    assert len(markdown) <= 5000
    note = markdown.splitlines()[2]
    assert note.startswith("✂️ **Shortened to fit the comment** (`--max-chars`): left out ")
    assert re.search(r"left out \d+ of 150 event rows and the list of objects\.", note), note
    assert note.endswith("The whole plan: `iac plan … --format json` prints it.")
    (more,) = re.findall(r"^_… and (\d+) more event rows: see the whole plan\._$", markdown, re.M)
    shown = markdown.count("| ~ | model-")
    assert int(more) + shown == 150
    assert f"left out {more} of 150 event rows" in note


def test_a_budget_too_small_for_a_plan_is_refused() -> None:
    result = CliRunner().invoke(
        cli, ["plan", str(ROOT / "stacks" / "demo.yaml"), "--base", "x", "--max-chars", "100"]
    )
    assert result.exit_code == 2
    assert "100 is too small for a plan's title, cost and note: at least 2000, or 0" in (
        result.stderr
    )


INVALID_HEAD = BASE.replace("      v3: {}", "      v3: {stat: active}")


def test_an_invalid_head_prints_its_errors_in_markdown(tmp_path: Path) -> None:
    result = plan(tmp_path, BASE, INVALID_HEAD, "--format", "markdown")
    assert result.exit_code == 1
    head = tmp_path / "head.yaml"
    assert result.stdout == (
        f"### iac plan: {head} against {tmp_path / 'base.yaml'}\n"
        "\n"
        "🛑 **No plan: the stack is invalid** (1 error). Fix it (`iac validate` shows the "
        "same) and push again:\n"
        "\n"
        f"- `{head}:13:12` `models.llama.deployments.v3.stat`: unknown key 'stat'; did you "
        "mean 'state'?\n"
    )
    assert f"{head}:13:12: error: models.llama.deployments.v3.stat" in result.stderr


def test_an_invalid_head_prints_its_errors_in_json_and_the_json_file(tmp_path: Path) -> None:
    json_file = tmp_path / "plan.json"
    result = plan(tmp_path, BASE, INVALID_HEAD, "--format", "json", "--json-file", str(json_file))
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data == {
        "events": [],
        "findings": [],
        "objects": {"added": [], "changed": [], "removed": []},
        "cost": {},
        "rollouts": [],
        "endpoints": {"added": [], "removed": [], "moved": []},
        "simulations": [],
        "errors": [
            {
                "file": str(tmp_path / "head.yaml"),
                "line": 13,
                "column": 12,
                "message": "unknown key 'stat'; did you mean 'state'?",
                "path": "models.llama.deployments.v3.stat",
            }
        ],
    }
    assert json.loads(json_file.read_text()) == data
    # Text is unchanged: nothing on stdout, the errors on stderr.
    text = plan(tmp_path, BASE, INVALID_HEAD)
    assert (text.exit_code, text.stdout) == (1, "")
    assert "models.llama.deployments.v3.stat: unknown key 'stat'" in text.stderr


def test_a_plan_that_cannot_start_says_why(tmp_path: Path) -> None:
    head = write(tmp_path, "head.yaml", BASE)
    result = CliRunner().invoke(cli, ["plan", head, "--base", "live", "--format", "markdown"])
    assert result.exit_code == 1
    assert result.stdout.endswith(
        "🛑 **No plan**: --base live needs the Pulumi stack: --stack NAME (or $PULUMI_STACK)\n"
    )
    result = CliRunner().invoke(cli, ["plan", head, "--base", "live", "--format", "json"])
    assert json.loads(result.stdout)["errors"] == [
        {
            "file": None,
            "line": None,
            "column": None,
            "message": "--base live needs the Pulumi stack: --stack NAME (or $PULUMI_STACK)",
        }
    ]


def test_an_invalid_base_is_planned_against_in_part(tmp_path: Path) -> None:
    """A check added by an iac upgrade fails a model of the base: the others are compared
    as usual, that one is planned as if new, and the error is a warning of the plan."""
    bad_base = BASE.replace("  old:\n    image: x\n", "  old:\n    image: x\n    imag: y\n")
    head = BASE.replace("v0.7.0}", "v0.7.1}")
    result = plan(tmp_path, bad_base, head, "--format", "json", "--detailed-exitcode")
    assert result.exit_code == 2, result.output
    data = json.loads(result.stdout)
    assert [(e["kind"], e["model"]) for e in data["events"]] == [
        ("image", "llama"),
        ("create_model", "old"),
        ("create_deployment", "old"),
    ]
    assert [f for f in data["findings"] if f["id"] == "base-invalid"] == [
        {
            "id": "base-invalid",
            "level": "warning",
            "model": "old",
            "message": f"the base ({tmp_path / 'base.yaml'}) fails this iac's checks, so old "
            "is planned as if new (compared with nothing); fix the base, or merge this change "
            f"if it fixes it: {tmp_path / 'base.yaml'}:23:5: models.old.imag: unknown key "
            "'imag'; did you mean 'image'?",
        }
    ]


def test_a_base_file_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    head = write(tmp_path, "head.yaml", BASE)
    missing = tmp_path / "nope.yaml"
    result = CliRunner().invoke(cli, ["plan", head, "--base", str(missing)])
    assert result.exit_code == 1
    assert result.stderr == (
        f"--base {missing}: no such file; name a stack file (or a folder holding stack.yaml), "
        "git:REF or live\n"
    )


def test_a_base_whose_cluster_is_invalid_is_an_empty_base(tmp_path: Path) -> None:
    bad_base = BASE.replace("cluster: {name: c,", "cluster: {nam: c,")
    data = plan_json(tmp_path, bad_base, BASE)
    assert [e["kind"] for e in data["events"]].count("create_model") == 2
    messages = [f["message"] for f in data["findings"] if f["id"] == "base-invalid"]
    assert len(messages) == 2
    assert all(
        m.startswith(
            f"the base ({tmp_path / 'base.yaml'}) fails this iac's checks, so none of the base "
            "could be compiled and everything is planned as new; fix the base, or merge this "
            "change if it fixes it: "
        )
        for m in messages
    )


def test_the_change_that_repairs_main_gets_a_plan(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "stacks").mkdir(parents=True)
    (repo / "modules").mkdir()
    (repo / "modules" / "vllm.yaml").write_text((ROOT / "modules" / "vllm.yaml").read_text())
    stack = repo / "stacks" / "prod.yaml"
    broken = BASE.replace("MODULES", "../modules").replace("      v3: {}", "      v3: {stat: 1}")
    stack.write_text(broken)

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)

    git("init", "-q")
    git("add", ".")
    git("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-q", "-m", "broken main")
    stack.write_text(broken.replace("{stat: 1}", "{}"))
    result = CliRunner().invoke(
        cli, ["plan", str(stack), "--base", "git:HEAD", "--format", "markdown"]
    )
    assert result.exit_code == 0, result.output
    assert "| + | llama | new model |" in result.stdout
    assert (
        "- ⚠️ **warning** `base-invalid` (llama): the base (git:HEAD) fails this iac's checks, "
        "so llama is planned as if new (compared with nothing); fix the base, or merge this "
        "change if it fixes it: git:HEAD:stacks/prod.yaml:13:12: "
        "models.llama.deployments.v3.stat: unknown key 'stat'; did you mean 'state'?"
    ) in result.stdout


def test_a_live_base_that_no_longer_checks_is_read_in_part() -> None:
    stack = BASE.replace("MODULES/vllm.yaml", "vllm.yaml").replace(
        "  old:\n    image: x\n", "  old:\n    image: x\n    imag: y\n"
    )
    found = live_base(
        {
            "stack": "stack.yaml",
            "files": {"stack.yaml": stack, "vllm.yaml": (ROOT / "modules/vllm.yaml").read_text()},
        }
    )
    assert found is not None
    assert found.compiled is not None
    assert sorted(found.compiled.release.models) == ["llama"]
    (finding,) = found.findings
    assert finding.message.endswith(
        "fix the base, or merge this change if it fixes it: live:stack.yaml:23:5: "
        "models.old.imag: unknown key 'imag'; did you mean 'image'?"
    )
    assert live_base(None) is None


def test_the_ci_examples_post_the_comment_on_errors_and_keep_the_whole_plan() -> None:
    github = (ROOT / "examples" / "ci" / "github-actions.yml").read_text()
    steps = yaml.safe_load(github)["jobs"]["plan"]["steps"]
    plan_step = next(s for s in steps if s.get("id") == "plan")
    assert "--json-file plan.json" in plan_step["run"]
    assert "--full-plan-url" in plan_step["run"]
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact"))
    assert upload["with"]["path"] == "plan.json"
    fail = next(s for s in steps if s.get("name", "").startswith("Fail on"))
    assert steps.index(fail) > steps.index(upload)  # the comment is posted first
    gitlab = yaml.safe_load((ROOT / "examples" / "ci" / "gitlab-ci.yml").read_text())
    job = gitlab["iac-plan"]
    assert any("--json-file plan.json" in line for line in job["script"])
    assert job["artifacts"] == {"when": "always", "paths": ["plan.json", "plan.md"]}
    # Every option the examples pass exists.
    result = CliRunner().invoke(cli, ["plan", "--help"])
    for option in ("--json-file", "--full-plan-url", "--max-chars", "--detailed-exitcode"):
        assert option in result.stdout


def test_the_errors_of_a_head_fit_the_budget_too() -> None:
    errors = [
        Diagnostic(
            Location("stacks/prod.yaml", line, 5), "unknown key 'imag'", ("models", f"m{line}")
        )
        for line in range(1, 2001)
    ]
    whole = errors_markdown("iac plan: head against base", errors)
    assert len(whole) > 60_000
    markdown = errors_markdown("iac plan: head against base", errors, max_chars=DEFAULT_MAX_CHARS)
    assert len(markdown) <= DEFAULT_MAX_CHARS
    (more,) = re.findall(
        r"^- _… and ([\d,]+) more errors \(`iac validate` lists them\)_$", markdown, re.M
    )
    assert int(more.replace(",", "")) + markdown.count("- `stacks/prod.yaml:") == 2000
