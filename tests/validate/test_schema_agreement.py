"""The committed JSON schema and `iac validate` agree on every stack of the corpus: the
bad-input cases (tests/cases/invalid), their valid neighbours (tests/cases/valid), the
examples and the demo stack. An editor checking a file against the schema marks red what
`iac validate` refuses, and nothing it accepts.

Where the schema cannot say what is wrong (a reference to another part of the stack, a
combination of settings, the YAML itself), the case is listed below with why, and only one
direction holds: what the schema refuses, `iac validate` refuses. Everywhere else the two
find problems at the same keys.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner

from iac.cli import cli
from iac.diagnostics import Diagnostics, KeyPath
from iac.errors import StackInvalid
from iac.load.yaml_source import read_yaml
from iac.policy import check_with_policies

ROOT = Path(__file__).resolve().parents[2]
CASES = ROOT / "tests" / "cases"

BEYOND_THE_SCHEMA = {
    # Who may call (issue #25): references between keys, and the Gateway that enforces them.
    "auth-keys-and-public": "`api_keys` beside `public: true` (one or the other)",
    "auth-keys-on-other-gateway": "keys asked of a Gateway iac cannot configure",
    "auth-undeclared-key-set": "a key set not declared in `auth.key_sets`",
    # The YAML itself, before any value is read.
    "comments-only": "no YAML document",
    "custom-tag": "a YAML tag",
    "deep-nesting": "nesting past the reader's limit",
    "duplicate-key": "a key written twice (a JSON object has each key once)",
    "empty-file": "no YAML document",
    "invalid-syntax": "not YAML",
    "multiple-documents": "several YAML documents",
    "non-utf8": "not UTF-8",
    "yaml-bomb": "aliases past the reader's budget",
    "tab-indentation": "a tab in indentation: not YAML",
    # References from one part of the stack to another, or to other files.
    "copy-cycle": "deployments copying each other",
    "dangling-deployment-reference": "an environment naming a missing deployment",
    "deployment-bound-twice": "a deployment named by two environments",
    "development-bound": "a development deployment named by an environment",
    "inactive-bound": "an inactive deployment named by an environment",
    "endpoint-collision": "two models on one host and path",
    "missing-import": "an imported file that does not exist",
    "import-folder": "an import naming a folder",
    "import-twice": "a module imported twice",
    "import-same-file-twice": "one module imported by two paths",
    "invalid-template": "a template's own errors (in the module file)",
    "object-name-collision": "two declarations whose objects share a name",
    "derived-pool-name-taken": "a declared pool taking a derived pool's name",
    "missing-template-param": "a template's parameters (in another file)",
    "template-without-import": "a template of no imported module",
    "unknown-template": "a template of no imported module",
    "unfilled-placeholder": "a template's parameters (in another file)",
    "unknown-node-pool": "a pool of another accelerator type",
    "missing-image": "an image set by no level (defaults, template, model, deployment)",
    "chain-entrypoint-missing": "a chain naming no entrypoint (said with its chainlets)",
    "chain-entrypoint-unknown": "an entrypoint naming no chainlet of its chain",
    "chain-call-unknown": "a call to no chainlet of the chain",
    "chain-calls-cycle": "chainlets calling each other in a circle",
    "chain-override-unknown": "a chain deployment or environment naming no chainlet",
    "chain-hostname-collision": "a chain on another model's host and path, or a model on a chain's",
    "chain-host-without-domain": "host endpoints without a domain, a chain among those hostless",
    "chain-host-too-long": "a chain's host `<chain>.<domain>` longer than a DNS name",
    "chain-name-taken": "a chainlet's model named like a model",
    "chain-dangling-deployment": "a chain environment naming a missing deployment",
    "chain-rolling": "a rolling promotion of a chain",
    # Settings wrong only together, or only against the catalog's machines.
    "allow-unavailable-with-surge": "allow_unavailable with a surge",
    "deployment-and-traffic": "deployment and traffic both set",
    "endpoints-host-without-domain": "host endpoints without a domain",
    "gke-labels-without-the-gpu": "labels of GPUs the provisioner has not",
    "gke-without-cluster": "provisioner gke without cluster.gke",
    "gpu-label-mismatch": "a pool label against its accelerator's values",
    "gpu-label-with-provisioner": "gpu_label with a provisioner that labels",
    "min-above-default-max": "min_replicas above an inherited max_replicas",
    "min-above-max": "min_replicas above max_replicas",
    "rolling-needs-a-step": "a rolling promotion with no step size",
    "replica-fits-no-node": "a replica against the catalog's instance sizes",
    "credential-in-env": "a credential's form or its variable's name",
    "traffic-weights": "weights adding up to 100 (besides weights out of range)",
    "bad-duration": "the range of a duration written with a unit (`5s`)",
    "not-a-number": "YAML's .inf and .nan, which JSON cannot write",
}


def _corpus() -> list[Path]:
    return [
        *sorted(CASES.glob("invalid/*/stack.yaml")),
        *sorted(CASES.glob("valid/*/stack.yaml")),
        *sorted(ROOT.glob("examples/*/stack.yaml")),
        *sorted(ROOT.glob("stacks/*.yaml")),
    ]


def _name(path: Path) -> str:
    return path.parent.name if path.name == "stack.yaml" else path.stem


@pytest.fixture(scope="module")
def schema() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(
        json.loads((ROOT / "schema" / "stack.schema.json").read_text())
    )


def schema_problems(schema: jsonschema.Draft202012Validator, data: Any) -> list[KeyPath]:
    """Where the schema finds problems: the key path of each error's innermost value (a
    wrong key of a mapping is at the key, as `iac validate` reports it)."""
    found = []
    for error in schema.iter_errors(data):
        for leaf in _leaves(error):
            path = tuple(leaf.absolute_path)
            if leaf.validator == "additionalProperties" and isinstance(leaf.instance, dict):
                allowed = set(leaf.schema.get("properties", {}))
                found += [(*path, key) for key in leaf.instance if key not in allowed]
            elif leaf.validator == "required":
                found.append(path)
            else:
                found.append(path)
    return found


def _leaves(error: jsonschema.ValidationError) -> list[jsonschema.ValidationError]:
    """The innermost errors: of an `anyOf` that failed, those of the branch that went
    furthest into the value (best_match's choice)."""
    if not error.context:
        return [error]
    best = jsonschema.exceptions.best_match(error.context)
    return _leaves(best) if best is not None else [error]


def validate_problems(path: Path) -> tuple[bool, list[KeyPath]]:
    """Whether `iac validate` accepts the file, and the key paths of its errors."""
    diagnostics = Diagnostics()
    try:
        check_with_policies(str(path), diagnostics)
    except StackInvalid as exc:
        return False, [d.path for d in exc.diagnostics if d.severity == "error"]
    result = CliRunner().invoke(cli, ["validate", str(path)])  # cloud checks included
    return result.exit_code == 0, []


def _related(a: KeyPath, b: KeyPath) -> bool:
    """One path is within the other (a missing key is reported at its mapping by one side,
    a key of a mapping the other refuses whole...)."""
    shorter = min(len(a), len(b))
    return a[:shorter] == b[:shorter]


@pytest.mark.parametrize("path", _corpus(), ids=_name)
def test_the_schema_and_iac_validate_agree(
    path: Path, schema: jsonschema.Draft202012Validator
) -> None:
    document = read_yaml(str(path), Diagnostics())
    accepted, errors = validate_problems(path)
    beyond = BEYOND_THE_SCHEMA.get(_name(path))
    if document is None:  # not YAML data at all: editors flag the YAML itself
        assert not accepted
        assert beyond is not None, f"{path}: not read as YAML; say why under BEYOND_THE_SCHEMA"
        return
    found = schema_problems(schema, document.data)
    # Always: what the schema refuses, `iac validate` refuses, at the same keys.
    assert not (found and accepted), f"the schema refuses {path} at {found}; validate accepts it"
    for where in found:
        assert any(_related(where, error) for error in errors), (
            f"the schema refuses {path} at {where}; validate finds nothing there: {errors}"
        )
    if beyond is not None:
        assert not accepted, f"{path} is valid: remove it from BEYOND_THE_SCHEMA"
        return
    # Otherwise the schema finds every problem `iac validate` finds, where it finds it.
    assert accepted == (not found), f"{path}: validate {accepted}, schema problems {found}"
    for error in errors:
        assert any(_related(error, where) for where in found), (
            f"validate refuses {path} at {error}; the schema accepts it there: {found}"
        )


def test_every_case_beyond_the_schema_exists() -> None:
    names = {_name(path) for path in _corpus()}
    assert set(BEYOND_THE_SCHEMA) <= names
