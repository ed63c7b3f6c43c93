"""Lifecycle verbs edit the stack file: exactly the intended lines, atomically (issue #7)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from iac import edit
from iac.cli import cli
from iac.edit import source
from iac.errors import IacError
from tests.support.compile_helpers import ROOT
from tests.support.text_diff import changed_lines

STACK = """\
# The production stack. Reviewed by the platform team.
version: 1
imports: [MODULES/vllm.yaml]   # vLLM template
cluster:
  name: c          # do not rename: Pulumi's cluster identity
models:
  # Llama serves chat.
  llama:
    template: vllm
    params: {hf_model: "org/llama"}   # quoted on purpose
    deployments:
      v2: {state: inactive}   # the old one
      v3: {}                  # current
      v4: {image: 'vllm/vllm-openai:v0.7.0'}
      dev: {kind: development}
    environments:
      production:
        deployment: v3        # promoted 2026-11-01
        autoscaling:
          min_replicas: 2
          max_replicas: 8
        promotion: {cleanup: CLEANUP}
      staging:
        deployment: v4
      canary:
        traffic: {v3: 90, v5: 10}
  other:
    image: x
    deployments: {v5: {}}
auth: {public: true}
"""


def stack(tmp_path: Path, cleanup: str = "scale_to_zero", text: str = STACK) -> Path:
    path = tmp_path / "stack.yaml"
    body = text.replace("MODULES", str(ROOT / "modules")).replace("CLEANUP", cleanup)
    # `canary` splits v3 with a deployment of llama; keep the fixture valid.
    body = body.replace("traffic: {v3: 90, v5: 10}", "traffic: {v2x: 90, v3x: 10}")
    body = body.replace("      dev: {kind: development}\n", "      dev: {kind: development}\n"
                        "      v2x: {}\n      v3x: {}\n")  # fmt: skip
    path.write_text(body)
    return path


def test_promote_an_unbound_deployment(tmp_path: Path) -> None:
    text = STACK.replace("      v3: {}                  # current\n",
                         "      v3: {}                  # current\n      v6: {}\n")  # fmt: skip
    path = stack(tmp_path, text=text)
    before = path.read_text()
    result = edit.promote(str(path), "llama", "v6", "production")
    assert changed_lines(before, path.read_text()) == [
        "-        deployment: v3        # promoted 2026-11-01",
        "+        deployment: v6        # promoted 2026-11-01",
    ]
    assert result.summary == (
        "v6 now serves production of llama; v3 falls back to its own scaling and scales to "
        "zero when idle (cleanup: scale_to_zero)"
    )
    assert "\n+        deployment: v6        # promoted 2026-11-01\n" in result.diff


def test_promote_with_deactivate_cleanup(tmp_path: Path) -> None:
    text = STACK.replace("      v3: {}                  # current\n",
                         "      v3: {}                  # current\n      v6: {}\n")  # fmt: skip
    path = stack(tmp_path, "deactivate", text)
    before = path.read_text()
    edit.promote(str(path), "llama", "v6", "production")
    assert changed_lines(before, path.read_text()) == [
        "-      v3: {}                  # current",
        "+      v3: {state: inactive}   # current",
        "-        deployment: v3        # promoted 2026-11-01",
        "+        deployment: v6        # promoted 2026-11-01",
    ]


def test_promote_with_keep_cleanup_copies_the_environment_scaling(tmp_path: Path) -> None:
    text = STACK.replace("      v3: {}                  # current\n",
                         "      v3: {}                  # current\n      v6: {}\n")  # fmt: skip
    path = stack(tmp_path, "keep", text)
    before = path.read_text()
    edit.promote(str(path), "llama", "v6", "production")
    assert changed_lines(before, path.read_text()) == [
        "-      v3: {}                  # current",
        "+      v3: {autoscaling: {min_replicas: 2, max_replicas: 8}} # current",
        "-        deployment: v3        # promoted 2026-11-01",
        "+        deployment: v6        # promoted 2026-11-01",
    ]


def test_promote_with_copy_declares_the_copy(tmp_path: Path) -> None:
    path = stack(tmp_path)
    before = path.read_text()
    with pytest.raises(IacError) as refused:
        edit.promote(str(path), "llama", "v4", "production")
    assert str(refused.value) == (
        "'v4' serves staging, and a deployment serves one environment at a time; add --copy "
        "to declare `v4-production: {from: v4}` and promote that"
    )
    assert path.read_text() == before  # a refusal writes nothing
    edit.promote(str(path), "llama", "v4", "production", copy=True)
    assert changed_lines(before, path.read_text()) == [
        "+      v4-production: {from: v4}",
        "-        deployment: v3        # promoted 2026-11-01",
        "+        deployment: v4-production # promoted 2026-11-01",
    ]


def test_promote_with_copy_of_a_free_deployment_says_no_copy_was_needed(tmp_path: Path) -> None:
    text = STACK.replace(
        "      dev: {kind: development}\n", "      dev: {kind: development}\n      v5: {}\n"
    )
    path = stack(tmp_path, text=text)
    done = edit.promote(str(path), "llama", "v5", "production", copy=True)
    assert done.summary.startswith(
        "v5 now serves production of llama (no copy: v5 is published and serves no other "
        "environment); "
    )
    assert "v5-production" not in path.read_text()


def test_promote_ends_a_split(tmp_path: Path) -> None:
    path = stack(tmp_path)
    before = path.read_text()
    edit.promote(str(path), "llama", "v3x", "canary")
    assert changed_lines(before, path.read_text()) == [
        "-        traffic: {v2x: 90, v3x: 10}",
        "+        deployment: v3x",
    ]


def test_deactivate_and_activate(tmp_path: Path) -> None:
    path = stack(tmp_path)
    before = path.read_text()
    edit.activate(str(path), "llama", "v2")
    after_activate = path.read_text()
    assert changed_lines(before, after_activate) == [
        "-      v2: {state: inactive}   # the old one",
        "+      v2: {}                  # the old one",
    ]
    edit.deactivate(str(path), "llama", "v2")
    assert path.read_text() == before.replace(
        "v2: {state: inactive}   #", "v2: {state: inactive}   #"
    )


@pytest.mark.parametrize(
    ("verb", "args", "message"),
    [
        (edit.deactivate, ("llama", "v3"), "'v3' serves production; promote another deployment "
         "there first (iac promote STACK llama OTHER --to production)"),
        (edit.deactivate, ("lama", "v3"), "no model 'lama'; did you mean 'llama'?"),
        (edit.deactivate, ("llama", "v33"), "model 'llama' has no deployment 'v33'; did you "
         "mean 'v3'?"),
    ],
)  # fmt: skip
def test_refusals(tmp_path: Path, verb: object, args: tuple[str, ...], message: str) -> None:
    path = stack(tmp_path)
    before = path.read_text()
    with pytest.raises(IacError) as refused:
        verb(str(path), *args)  # type: ignore[operator]
    assert str(refused.value) == message.replace("STACK", str(path))
    assert path.read_text() == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("llama", "v2", "production"), "'v2' is inactive; activate it first: iac activate"),
        (("llama", "dev", "production"), "'dev' is a development deployment, which never "
         "serves an environment; add --copy to declare a published copy (`dev-production: "
         "{from: dev}`) and promote that"),
        (("llama", "v3", "prod"), "model 'llama' has no environment 'prod'; did you mean "
         "'production'?"),
    ],
)  # fmt: skip
def test_promote_refusals(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    path = stack(tmp_path)
    before = path.read_text()
    with pytest.raises(IacError) as refused:
        edit.promote(str(path), *args)
    assert str(refused.value).startswith(message)
    assert path.read_text() == before


def test_an_invalid_stack_is_not_edited(tmp_path: Path) -> None:
    path = stack(tmp_path)
    path.write_text(path.read_text().replace("deployment: v4", "deployment: v44"))
    with pytest.raises(IacError, match="has errors; fix them before editing it"):
        edit.activate(str(path), "llama", "v2")


def test_the_write_is_atomic_and_refuses_a_file_changed_meanwhile(tmp_path: Path) -> None:
    path = stack(tmp_path)
    document = source.read(str(path))
    path.write_text(path.read_text() + "# someone else's edit\n")
    with pytest.raises(IacError, match="changed on disk while iac was editing it"):
        source.write_atomically(document, b"version: 1\n")
    assert path.read_text().endswith("# someone else's edit\n")
    document = source.read(str(path))
    os.chmod(path, 0o640)
    source.write_atomically(document, document.raw + b"# more\n")
    assert path.read_text().endswith("# more\n")
    assert os.stat(path).st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["stack.yaml"]  # no temporary left


def test_cli_prints_the_diff_and_the_summary(tmp_path: Path) -> None:
    path = stack(tmp_path)
    result = CliRunner().invoke(
        cli, ["promote", str(path), "llama", "v4", "--to", "production", "--copy"]
    )
    assert result.exit_code == 0, result.output
    assert "+      v4-production: {from: v4}" in result.stdout
    assert result.stderr.startswith("v4-production now serves production of llama")
    result = CliRunner().invoke(cli, ["deactivate", str(path), "llama", "v4-production"])
    assert result.exit_code == 1
    assert "'v4-production' serves production" in result.stderr


def test_promote_a_development_deployment_with_copy(tmp_path: Path) -> None:
    path = stack(tmp_path)
    before = path.read_text()
    result = edit.promote(str(path), "llama", "dev", "production", copy=True)
    assert changed_lines(before, path.read_text()) == [
        "+      dev-production: {from: dev}",
        "-        deployment: v3        # promoted 2026-11-01",
        "+        deployment: dev-production # promoted 2026-11-01",
    ]
    assert result.summary.startswith("dev-production now serves production of llama; v3 falls")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["deactivate", "STACK", "llama", "v2"], "v2 of llama is inactive already"),
        (["activate", "STACK", "llama", "v3"], "v3 of llama is active already"),
        (["promote", "STACK", "llama", "v3", "--to", "production"],
         "v3 serves production of llama already"),
        (["promote", "STACK", "llama", "v3", "--to", "production", "--dry-run"],
         "v3 serves production of llama already"),
    ],
)  # fmt: skip
def test_a_verb_with_nothing_to_do_says_so_and_succeeds(
    tmp_path: Path, args: list[str], message: str
) -> None:
    path = stack(tmp_path)
    before = path.read_bytes()
    result = CliRunner().invoke(cli, [str(path) if a == "STACK" else a for a in args])
    assert (result.exit_code, result.stdout, result.stderr) == (
        0,
        "",
        f"{message}; nothing to do\n",
    )
    assert path.read_bytes() == before


def test_dry_run_prints_the_diff_and_writes_nothing(tmp_path: Path) -> None:
    path = stack(tmp_path)
    before = path.read_bytes()
    args = ["promote", str(path), "llama", "v4", "--to", "production", "--copy"]
    dry = CliRunner().invoke(cli, [*args, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert path.read_bytes() == before
    summary = (
        "v4-production now serves production of llama; v3 falls back to its own scaling and "
        "scales to zero when idle (cleanup: scale_to_zero)"
    )
    assert dry.stderr == f"{summary}\ndry run: nothing was written\n"
    assert dry.stdout == (
        f"--- {path}\n+++ {path}\n@@ -12,12 +12,13 @@\n"
        "       v2: {state: inactive}   # the old one\n"
        "       v3: {}                  # current\n"
        "       v4: {image: 'vllm/vllm-openai:v0.7.0'}\n"
        "+      v4-production: {from: v4}\n"
        "       dev: {kind: development}\n"
        "       v2x: {}\n"
        "       v3x: {}\n"
        "     environments:\n"
        "       production:\n"
        "-        deployment: v3        # promoted 2026-11-01\n"
        "+        deployment: v4-production # promoted 2026-11-01\n"
        "         autoscaling:\n"
        "           min_replicas: 2\n"
        "           max_replicas: 8\n"
    )
    written = CliRunner().invoke(cli, args)
    assert (written.exit_code, written.stdout, written.stderr) == (0, dry.stdout, summary + "\n")
    assert path.read_bytes() != before
    for verb in ("deactivate", "activate"):  # the other two verbs take it too
        target = "v3" if verb == "deactivate" else "v2"
        result = CliRunner().invoke(cli, [verb, str(path), "llama", target, "--dry-run"])
        assert result.exit_code == 0, result.output
        assert result.stderr.endswith("dry run: nothing was written\n")
    assert "state: inactive} # current" not in path.read_text()
