"""Stack files for tests: stack text written where the loader reads it, then loaded or
compiled as `iac` would, and the named stacks several tests build on.

Stack text may name the repository's modules folder `MODULES` (`imports:
[MODULES/vllm.yaml]`): writing it puts the real path there. The text is dedented first, so a
test can indent a stack with the code around it.

A stack stays inline in its test when the test is about its text (an error's line and
column, a style of YAML); the builders here are for stacks that are only the setting.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from iac.compile import Compiled, compile_stack
from iac.diagnostics import Diagnostics
from iac.spec.resolved import ResolvedStack
from iac.validate import check_stack

ROOT = Path(__file__).resolve().parents[2]
MODULES = ROOT / "modules"


def write_stack(tmp_path: Path, text: str, name: str = "stack.yaml") -> Path:
    """Write stack `text` (dedented, `MODULES` made the modules folder's path) as `name`."""
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).replace("MODULES", str(MODULES)))
    return path


def load_stack(
    tmp_path: Path, text: str, name: str = "stack.yaml", diagnostics: Diagnostics | None = None
) -> ResolvedStack:
    """Write stack `text` and load it as `iac validate` does (raises StackInvalid)."""
    return check_stack(str(write_stack(tmp_path, text, name)), diagnostics)


def compiled_stack(
    tmp_path: Path, text: str, name: str = "stack.yaml", diagnostics: Diagnostics | None = None
) -> Compiled:
    """Write stack `text`, load it and compile it as `iac render` does. To also check every
    object against its schema, use `tests.support.compile_helpers.compile_text`."""
    diagnostics = diagnostics if diagnostics is not None else Diagnostics()
    return compile_stack(load_stack(tmp_path, text, name, diagnostics), diagnostics)


def llama_stack(model: str, cluster: str = "{name: c}", auth: str = "{public: true}") -> str:
    """A stack serving one model, `llama`: the bundled vLLM template running org/llama on an
    H100 with 8 CPUs and 64Gi. `model` holds the model's other keys (its deployments and
    environments), written as under `llama:` at any indentation; `cluster` is the cluster
    mapping, `auth` the stack's `auth:` (its last line, so it moves no other line)."""
    return (
        "version: 1\n"
        "imports: [MODULES/vllm.yaml]\n"
        f"cluster: {cluster}\n"
        "models:\n"
        "  llama:\n"
        "    template: vllm\n"
        "    params: {hf_model: org/llama}\n"
        '    resources: {accelerator: H100, cpu: "8", memory: 64Gi}\n'
        + textwrap.indent(textwrap.dedent(model).rstrip("\n") + "\n", "    ")
        + f"auth: {auth}\n"
    )
