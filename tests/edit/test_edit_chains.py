"""`iac promote/deactivate/activate` naming a chain: the chain's lines change, for every
chainlet at once (issue #27)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from iac import edit
from iac.cli import cli
from iac.errors import IacError
from tests.support.text_diff import changed_lines

STACK = """\
version: 1
cluster: {name: c, namespace: models, domain: models.example.com}
auth: {public: true}
models:
  solo:
    image: ghcr.io/example/solo:1
    deployments: {v1: {}}
chains:
  rag:
    entrypoint: router
    chainlets:
      router: {image: ghcr.io/example/router:1, calls: [llm]}
      llm: {image: ghcr.io/example/llm:1}
    deployments:
      v1: {}              # the first
      v2:
        chainlets:
          llm: {image: ghcr.io/example/llm:2}
      old: {state: inactive}
      dev: {kind: development}
    environments:
      production:
        deployment: v1    # promoted by hand
        autoscaling:
          llm: {min_replicas: 1, max_replicas: 4}
        promotion: {cleanup: CLEANUP}
      staging:
        deployment: old2
"""


def stack(tmp_path: Path, cleanup: str = "scale_to_zero") -> Path:
    path = tmp_path / "stack.yaml"
    body = STACK.replace("CLEANUP", cleanup)
    body = body.replace("      dev: {kind: development}\n",
                        "      dev: {kind: development}\n      old2: {}\n")  # fmt: skip
    path.write_text(body)
    return path


def test_promote_a_chain_deployment_changes_the_chain_environment(tmp_path: Path) -> None:
    path = stack(tmp_path)
    before = path.read_text()
    done = edit.promote(str(path), "rag", "v2", "production")
    assert changed_lines(before, path.read_text()) == [
        "-        deployment: v1    # promoted by hand",
        "+        deployment: v2    # promoted by hand",
    ]
    assert done.summary == (
        "v2 now serves production of chain rag; v1 falls back to its own scaling and scales "
        "to zero when idle (cleanup: scale_to_zero)"
    )


def test_promote_a_chain_with_deactivate_cleanup(tmp_path: Path) -> None:
    path = stack(tmp_path, "deactivate")
    before = path.read_text()
    edit.promote(str(path), "rag", "v2", "production")
    assert changed_lines(before, path.read_text()) == [
        "-      v1: {}              # the first",
        "+      v1: {state: inactive} # the first",
        "-        deployment: v1    # promoted by hand",
        "+        deployment: v2    # promoted by hand",
    ]


def test_keep_cleanup_of_a_chain_keeps_each_chainlet_scaling_in_its_override(
    tmp_path: Path,
) -> None:
    """The environment's scaling is per chainlet: the deployment it leaves keeps it in its
    override of each chainlet (`deployments.v1.chainlets.llm.autoscaling`)."""
    path = stack(tmp_path, "keep")
    edit.promote(str(path), "rag", "v2", "production")
    edit.promote(str(path), "rag", "v1", "production")  # back: v2 has an override already
    text = path.read_text()
    assert "      v1: {chainlets: {llm: {autoscaling: {min_replicas: 1, max_replicas: 4}}}}" in (
        text
    )
    assert (
        "        chainlets:\n"
        "          llm: {image: ghcr.io/example/llm:2, autoscaling: {min_replicas: 1, "
        "max_replicas: 4}}\n"
    ) in text


def test_promote_a_chain_deployment_serving_elsewhere_with_copy(tmp_path: Path) -> None:
    path = stack(tmp_path)
    before = path.read_text()
    with pytest.raises(IacError) as refused:
        edit.promote(str(path), "rag", "old2", "production")
    assert str(refused.value) == (
        "'old2' serves staging, and a deployment serves one environment at a time; add --copy "
        "to declare `old2-production: {from: old2}` and promote that"
    )
    edit.promote(str(path), "rag", "old2", "production", copy=True)
    assert changed_lines(before, path.read_text()) == [
        "+      old2-production: {from: old2}",
        "-        deployment: v1    # promoted by hand",
        "+        deployment: old2-production # promoted by hand",
    ]


def test_deactivate_and_activate_a_chain_deployment(tmp_path: Path) -> None:
    path = stack(tmp_path)
    before = path.read_text()
    done = edit.deactivate(str(path), "rag", "v2")
    assert done.summary == "v2 of chain rag is deactivated (no pods, no route)"
    assert changed_lines(before, path.read_text()) == ["+        state: inactive"]
    assert "          llm: {image: ghcr.io/example/llm:2}\n        state: inactive\n" in (
        path.read_text()
    )
    again = edit.activate(str(path), "rag", "v2")
    assert again.summary == "v2 of chain rag is active again"
    assert path.read_text() == before
    assert edit.activate(str(path), "rag", "v1").summary == (
        "v1 of chain rag is active already; nothing to do"
    )


Verb = Callable[..., Any]


@pytest.mark.parametrize(
    ("verb", "args", "message"),
    [
        (edit.promote, ("rga", "v2", "production"),
         "no model or chain 'rga'; did you mean 'rag'?"),
        (edit.promote, ("rag", "v22", "production"),
         "chain 'rag' has no deployment 'v22'; did you mean 'v2'?"),
        (edit.promote, ("rag", "v2", "prod"),
         "chain 'rag' has no environment 'prod'; did you mean 'production'?; add it under "
         "`chains.rag.environments` first"),
        (edit.promote, ("rag-llm", "v2", "production"),
         "'rag-llm' is chainlet 'llm' of chain 'rag', whose deployments are the chain's: "
         "name the chain 'rag' instead"),
        (edit.promote, ("rag", "old", "production"),
         "'old' is inactive; activate it first: iac activate STACK rag old"),
        (edit.promote, ("rag", "dev", "production"),
         "'dev' is a development deployment, which never serves an environment; add --copy "
         "to declare a published copy (`dev-production: {from: dev}`) and promote that"),
        (edit.deactivate, ("rag", "v1"),
         "'v1' serves production; promote another deployment there first "
         "(iac promote STACK rag OTHER --to production)"),
        (edit.deactivate, ("rag", "nope"), "chain 'rag' has no deployment 'nope'"),
        (edit.activate, ("rag-router", "v1"),
         "'rag-router' is chainlet 'router' of chain 'rag', whose deployments are the "
         "chain's: name the chain 'rag' instead"),
    ],
)  # fmt: skip
def test_chain_refusals_say_why(
    tmp_path: Path, verb: Verb, args: tuple[str, ...], message: str
) -> None:
    path = stack(tmp_path)
    before = path.read_bytes()
    with pytest.raises(IacError) as refused:
        verb(str(path), *args)
    assert str(refused.value) == message.replace("STACK", str(path))
    assert path.read_bytes() == before


def test_cli_promotes_a_chain(tmp_path: Path) -> None:
    path = stack(tmp_path)
    result = CliRunner().invoke(cli, ["promote", str(path), "rag", "v2", "--to", "production"])
    assert result.exit_code == 0, result.output
    assert "+        deployment: v2    # promoted by hand" in result.stdout
    assert result.stderr.startswith("v2 now serves production of chain rag; ")
    result = CliRunner().invoke(cli, ["deactivate", str(path), "rag", "v2"])
    assert (result.exit_code, result.stderr) == (
        1,
        f"'v2' serves production; promote another deployment there first (iac promote "
        f"{path} rag OTHER --to production)\n",
    )
    result = CliRunner().invoke(cli, ["promote", str(path), "nope", "v2", "--to", "production"])
    assert (result.exit_code, result.stderr) == (1, "no model or chain 'nope'\n")
