"""Secret canary (issue #11): a recognisable value set through each supported secret path
reaches only where it must, marked secret, and appears in no other registered input, log,
output or error message.

Supported paths: Pulumi config secrets (`pulumi config set --secret`) for the program's
kubeconfig and for a project's own Secret objects (the pattern `iac init` writes into
`__main__.py`), and Kubernetes Secrets referenced by name from stack files (iac never reads
their values). The real engine's side (encrypted config, state, rendered manifests, CLI
output) is checked in tests/e2e/test_program_cli.py and tests/e2e/test_up.py.
"""

from __future__ import annotations

import json
import logging
import textwrap
from pathlib import Path
from typing import Any

import pulumi
import pytest
from click.testing import CliRunner
from pulumi.runtime import rpc

import iac.program
from iac.cli import cli
from iac.program.deploy import Deployed
from iac.program.project import MAIN_PY
from tests.support.program_helpers import ProgramRun, run_program

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "stacks" / "demo.yaml"
CANARY = "canary-5e1d-not-a-real-token"
SECRET = {rpc._special_sig_key: rpc._special_secret_sig, "value": CANARY}
"""How a secret travels to the engine: the value wrapped in Pulumi's secret signature."""


def holders(run: ProgramRun) -> list[tuple[str, str, Any]]:
    """(type, name, wire inputs) of every registration whose inputs hold the canary."""
    return [(r.type, r.name, r.wire) for r in run.registrations if CANARY in json.dumps(r.wire)]


def logged(run: ProgramRun) -> str:
    return "\n".join(record.getMessage() for record in run.logs)


def test_a_kubeconfig_secret_reaches_only_the_provider_and_stays_secret() -> None:
    run = run_program(DEMO, secret_config={"iac:kubeconfig": CANARY})
    found = holders(run)
    assert [(t, n) for t, n, _ in found] == [("pulumi:providers:kubernetes", "demo-us-east")]
    assert found[0][2]["kubeconfig"] == SECRET
    assert CANARY not in logged(run)
    assert CANARY not in json.dumps(run.exports, default=repr)


def test_a_program_error_does_not_echo_the_kubeconfig(tmp_path: Path) -> None:
    path = tmp_path / "stack.yaml"
    path.write_text("version: 1\ncluster: {name: c}\nmodels:\n  m: {imagee: x}\n")
    with pytest.raises(pulumi.RunError) as failed:
        run_program(path, secret_config={"iac:kubeconfig": CANARY})
    assert "imagee" in str(failed.value)
    assert CANARY not in str(failed.value)


def documented_secret(deployed: Deployed) -> None:
    """The commented example in the `__main__.py` that `iac init` writes, run as written."""
    example = MAIN_PY.split("--secret hfToken hf_...`):\n", 1)[1]
    code = textwrap.dedent(
        "\n".join(line.removeprefix("#").removeprefix(" ") for line in example.splitlines())
    )
    exec(compile(code, "__main__.py (example)", "exec"), {"deployed": deployed})  # noqa: S102


def test_the_documented_hf_token_secret_is_registered_as_a_secret() -> None:
    def entry() -> Deployed:
        deployed = iac.program.main()
        documented_secret(deployed)
        return deployed

    run = run_program(DEMO, secret_config={"iac-test:hfToken": CANARY}, entry=entry)
    found = holders(run)
    assert [(t, n) for t, n, _ in found] == [("kubernetes:core/v1:Secret", "hf-token")]
    # The whole map is secret (the SDK marks the map that holds a secret).
    assert found[0][2]["stringData"] == SECRET | {"value": {"HF_TOKEN": CANARY}}
    assert CANARY not in logged(run)


def test_stack_files_name_secrets_and_no_command_reads_their_values(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The value lives in the cluster (or the environment of whoever runs iac); the stack
    names it. render, plan (every format), validate and cost never see it."""
    caplog.set_level(logging.DEBUG)
    runner = CliRunner(
        env={"HF_TOKEN": CANARY, "PULUMI_CONFIG_PASSPHRASE": CANARY, "IAC_API_KEY": CANARY}
    )
    outputs = []
    for args in (
        ["validate", str(DEMO)],
        ["render", str(DEMO)],
        ["render", str(DEMO), "--format", "json"],
        ["cost", str(DEMO)],
        *(
            ["plan", str(DEMO), "--base", str(DEMO), "--format", f]
            for f in ("text", "markdown", "json")
        ),
    ):
        result = runner.invoke(cli, args)
        assert result.exit_code == 0, (args, result.output)
        outputs.append(result.output)
    assert "secretRef" in outputs[1]  # the Secret is referenced by name
    # API keys (issue #25): the key Secrets are named in the SecurityPolicies' credentialRefs,
    # their values (here the canary, as a key would be handed to a client) nowhere.
    assert "name: customer-api-keys" in outputs[1]
    assert not [text for text in outputs if CANARY in text]
    assert CANARY not in caplog.text
