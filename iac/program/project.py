"""A new Pulumi project that runs the program (`iac init DIR`).

The project holds a `Pulumi.yaml` (Python runtime, pip toolchain, the virtualenv that has
`iac` installed), a two-line `__main__.py` that calls `iac.program.main()` (Pulumi's Python
host runs the `__main__.py` of the program folder), and a starter stack file with the
modules it imports. No Pulumi import: this only writes files.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

import iac
from iac.errors import IacError

STARTER_STACK = Path("examples") / "01-single-model" / "stack.yaml"
"""The starter stack, relative to a tree that also holds the modules and schemas it names."""


def _starter_root() -> Path:
    """The source checkout `iac` runs from, or the copy of its starter files packaged in the
    wheel (`iac/_starter`, see pyproject.toml), whichever has the starter stack."""
    package = Path(iac.__file__).resolve().parent
    for root in (package.parent, package / "_starter"):
        if (root / STARTER_STACK).is_file():
            return root
    return package / "_starter"


SOURCE_ROOT = _starter_root()
STARTER = SOURCE_ROOT / STARTER_STACK
STACK_NAME = "dev"
_PROJECT_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
_SCHEMA = re.compile(r"(\$schema=)(\S+)")

MAIN_PY = '''\
"""The Pulumi program of this project: `pulumi up` compiles the stack file and applies it.

The stack file is `stacks/<pulumi stack name>.yaml`, or the one named by
`pulumi config set iac:stack PATH`. See `iac render` for exactly what will be applied.
"""

from iac.program import main

deployed = main()

# Your own resources go below, with the same provider. For example the Secret a model
# reads its Hugging Face token from (`secrets: [hf-token]`), its value kept encrypted in
# Pulumi config (`pulumi config set --secret hfToken hf_...`):
#
# import pulumi
# import pulumi_kubernetes as k8s
#
# k8s.core.v1.Secret(
#     "hf-token",
#     metadata={"name": "hf-token", "namespace": deployed.compiled.release.cluster.namespace},
#     string_data={"HF_TOKEN": pulumi.Config().require_secret("hfToken")},
#     opts=pulumi.ResourceOptions(provider=deployed.provider, depends_on=deployed.namespace),
# )
'''


@dataclass(frozen=True)
class Project:
    directory: Path
    name: str
    virtualenv: str | None
    files: tuple[Path, ...]
    """Written, relative to `directory`."""


def default_virtualenv() -> str | None:
    """The virtualenv running this `iac` (so Pulumi runs the program with the same
    packages), or None outside one."""
    return sys.prefix if sys.prefix != sys.base_prefix else None


def default_name(directory: Path) -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", directory.resolve().name).strip("-.")
    return name[:100] or "iac-models"


def pulumi_yaml(name: str, virtualenv: str | None) -> str:
    options: dict[str, str] = {"toolchain": "pip"}
    if virtualenv:
        options["virtualenv"] = virtualenv
    document = {
        "name": name,
        "description": "GPU model serving from iac stack files (stacks/<stack>.yaml)",
        "runtime": {"name": "python", "options": options},
    }
    return yaml.safe_dump(document, sort_keys=False)


def scaffold(directory: Path, name: str | None = None, virtualenv: str | None = None) -> Project:
    """Write a new project into `directory` (created if needed). Raises IacError, writing
    nothing, when a file it would write already exists."""
    name = name or default_name(directory)
    if not _PROJECT_NAME.match(name):
        raise IacError(
            f"'{name}' is not a Pulumi project name: use letters, digits, '-', '_' and '.'"
        )
    if not STARTER.is_file():
        raise IacError(
            f"iac init copies the starter stack {STARTER_STACK}, which this installation of "
            f"iac lacks (looked in {STARTER}); reinstall iac"
        )
    stack_text = STARTER.read_text(encoding="utf-8")
    imports = (yaml.safe_load(stack_text) or {}).get("imports") or []
    stack_path = Path("stacks") / f"{STACK_NAME}.yaml"
    modules = {str(ref): Path("modules") / Path(ref).name for ref in imports}
    contents: dict[Path, str] = {
        Path("Pulumi.yaml"): pulumi_yaml(name, virtualenv),
        Path("__main__.py"): MAIN_PY,
    }
    for ref, target in modules.items():
        source = (STARTER.parent / ref).resolve()
        text = source.read_text(encoding="utf-8")
        contents[target] = _relink_schema(text, source, directory / target)
        stack_text = stack_text.replace(ref, os.path.relpath(target, stack_path.parent))
    stack_text = stack_text.replace(str(STARTER.parent.relative_to(SOURCE_ROOT)), str(stack_path))
    contents[stack_path] = _relink_schema(stack_text, STARTER, directory / stack_path)

    existing = [path for path in contents if (directory / path).exists()]
    if existing:
        listed = ", ".join(str(directory / p) for p in existing)
        raise IacError(f"refusing to overwrite existing files: {listed}")
    for path, text in contents.items():
        (directory / path).parent.mkdir(parents=True, exist_ok=True)
        with open(directory / path, "x", encoding="utf-8") as handle:
            handle.write(text)
    return Project(directory, name, virtualenv, tuple(contents))


def _relink_schema(text: str, source: Path, destination: Path) -> str:
    """Point a `# yaml-language-server: $schema=...` comment at the same schema from the
    file's new place (editors resolve it relative to the file)."""

    def relink(match: re.Match[str]) -> str:
        schema = (source.parent / match.group(2)).resolve()
        if not schema.is_file():
            return match.group(0)
        return match.group(1) + os.path.relpath(schema, destination.parent.resolve())

    return _SCHEMA.sub(relink, text)
