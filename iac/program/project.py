"""A new Pulumi project that runs the program (`iac init DIR`).

The project holds a `Pulumi.yaml` (Python runtime, pip toolchain, the virtualenv that has
`iac` installed), a two-line `__main__.py` that calls `iac.program.main()` (Pulumi's Python
host runs the `__main__.py` of the program folder), a starter stack file with the modules it
imports, copies of the JSON schemas those files name (so editors find them wherever the
project is cloned), a `requirements.txt` pinning this iac, and a README saying how a teammate
sets it up. No Pulumi import: this only writes files.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tomllib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

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


SCHEMA_DIR = Path("schema")
"""Where the project keeps its copies of the schemas its files name."""


@dataclass(frozen=True)
class Requirement:
    """How to install the iac running now, as a line of requirements.txt."""

    line: str
    version: str
    origin: str | None
    """Where this iac was installed from when that is a local folder or file a teammate does
    not have (the line then pins the version only); None when the line installs it as is."""


def iac_version() -> str:
    """The running iac's version: its installed metadata, else its checkout's pyproject."""
    try:
        return metadata.version("iac")
    except metadata.PackageNotFoundError:
        with open(SOURCE_ROOT / "pyproject.toml", "rb") as handle:
            return str(tomllib.load(handle)["project"]["version"])


def iac_requirement() -> Requirement:
    """The running iac as a pip requirement, from where pip recorded it was installed from
    (PEP 610 `direct_url.json`): a git commit or a downloadable archive as such; an index
    install by version; a local folder or file by version, with the folder said."""
    version = iac_version()
    try:
        recorded = metadata.distribution("iac").read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return Requirement(f"iac=={version}", version, str(SOURCE_ROOT))
    if not recorded:  # from an index: the same index serves it to a teammate
        return Requirement(f"iac=={version}", version, None)
    direct = json.loads(recorded)
    url = str(direct.get("url", ""))
    vcs = direct.get("vcs_info")
    if isinstance(vcs, dict) and vcs.get("vcs") == "git" and vcs.get("commit_id"):
        return Requirement(f"iac @ git+{url}@{vcs['commit_id']}", version, None)
    if "archive_info" in direct and not url.startswith("file:"):
        return Requirement(f"iac @ {url}", version, None)
    local = url2pathname(urlparse(url).path) if url.startswith("file:") else url
    return Requirement(f"iac=={version}", version, local or None)


def requirements_txt(requirement: Requirement) -> str:
    version = requirement.version
    lines = [
        f"# The iac this project was created with (iac {version}); it brings the Pulumi",
        "# SDKs it needs. Install: pip install -r requirements.txt",
        "# (`iac[gke]` instead of `iac` for stacks with `provisioner: gke`).",
    ]
    if requirement.origin:
        lines += [
            f"# This iac was installed from {requirement.origin}, which a teammate does not",
            "# have: first install the same version from the repository iac comes from, or",
            "# from a wheel built from it (or write the first form below instead):",
            f'#   pip install "iac @ git+https://GIT-HOST/OWNER/iac.git@TAG-OR-COMMIT-OF-{version}"',
            f"#   pip install iac-{version}-*.whl   # pip wheel --no-deps IAC-CHECKOUT",
        ]
    return "\n".join([*lines, requirement.line, ""])


def _installed(package: str) -> str:
    """The installed version of one of iac's dependencies (placeholder X.Y.Z without it)."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "X.Y.Z"


README_MD = """\
# {name}

GPU models served from iac stack files, as a Pulumi project (written by `iac init` of
iac {version}).

| file | what |
|---|---|
| `stacks/{stack}.yaml` | the stack file of the Pulumi stack `{stack}` (`stacks/<stack>.yaml`) |
| `modules/` | the templates the stack files import |
| `schema/` | the JSON schemas of stack and module files, for editors (below) |
| `__main__.py` | the Pulumi program: `iac.program.main()` compiles the stack file |
| `Pulumi.yaml` | the Pulumi project |
| `requirements.txt` | the iac this project runs |

## Set up

1. Python 3.11 or later and the same iac: `pip install -r requirements.txt` (where no
   package index serves this version of iac, the file says how to install it).
2. The Pulumi CLI, with the Kubernetes plugin of the version iac's SDK pins:
   `pulumi plugin install resource kubernetes v{kubernetes}` (SDKs: pulumi {pulumi},
   pulumi-kubernetes {kubernetes}).
3. {runtime}

Then `pulumi login`, `pulumi stack select {stack}` (or `pulumi stack init {stack}`),
`iac render stacks/{stack}.yaml` to read what will be applied, and `pulumi up`.

## Editors

Each stack and module file starts with `# yaml-language-server: $schema=../schema/...`:
editors with a YAML language server complete and check the files against the schemas in
`schema/`, copied from iac {version}. After upgrading iac, refresh them:

```sh
iac schema --kind stack > schema/stack.schema.json
iac schema --kind module > schema/module.schema.json
```
"""


def readme(name: str, virtualenv: str | None, requirement: Requirement) -> str:
    if virtualenv:
        runtime = (
            f"`Pulumi.yaml` runs the program with the virtualenv `{virtualenv}` (the one\n"
            "   `iac init` ran from). On another machine point `runtime.options.virtualenv`\n"
            "   at yours (a path relative to this folder works), or remove it."
        )
    else:
        runtime = (
            "`Pulumi.yaml` names no virtualenv: Pulumi runs `python3` from `PATH` (or\n"
            "   `$PULUMI_PYTHON_CMD`), which must have iac installed."
        )
    return README_MD.format(
        name=name,
        version=requirement.version,
        stack=STACK_NAME,
        pulumi=_installed("pulumi"),
        kubernetes=_installed("pulumi-kubernetes"),
        runtime=runtime,
    )


@dataclass(frozen=True)
class Project:
    directory: Path
    name: str
    virtualenv: str | None
    files: tuple[Path, ...]
    """Written, relative to `directory`."""
    requirement: Requirement


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


def scaffold(
    directory: Path,
    name: str | None = None,
    virtualenv: str | None = None,
    requirement: Requirement | None = None,
) -> Project:
    """Write a new project into `directory` (created if needed). Raises IacError, writing
    nothing, when a file it would write already exists. `requirement` (default: the running
    iac) is what requirements.txt pins."""
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
    requirement = requirement or iac_requirement()
    stack_text = STARTER.read_text(encoding="utf-8")
    imports = (yaml.safe_load(stack_text) or {}).get("imports") or []
    stack_path = Path("stacks") / f"{STACK_NAME}.yaml"
    modules = {str(ref): Path("modules") / Path(ref).name for ref in imports}
    contents: dict[Path, str] = {
        Path("Pulumi.yaml"): pulumi_yaml(name, virtualenv),
        Path("__main__.py"): MAIN_PY,
        Path("requirements.txt"): requirements_txt(requirement),
        Path("README.md"): readme(name, virtualenv, requirement),
    }
    for ref, target in modules.items():
        source = (STARTER.parent / ref).resolve()
        text = source.read_text(encoding="utf-8")
        contents[target] = _relink_schema(text, source, target, contents)
        stack_text = stack_text.replace(ref, os.path.relpath(target, stack_path.parent))
    stack_text = stack_text.replace(str(STARTER.parent.relative_to(SOURCE_ROOT)), str(stack_path))
    contents[stack_path] = _relink_schema(stack_text, STARTER, stack_path, contents)

    existing = [path for path in contents if (directory / path).exists()]
    if existing:
        listed = ", ".join(str(directory / p) for p in existing)
        raise IacError(f"refusing to overwrite existing files: {listed}")
    for path, text in contents.items():
        (directory / path).parent.mkdir(parents=True, exist_ok=True)
        with open(directory / path, "x", encoding="utf-8") as handle:
            handle.write(text)
    # Top-level files first, then each folder's.
    written = tuple(sorted(contents, key=lambda path: (len(path.parts), str(path))))
    return Project(directory, name, virtualenv, written, requirement)


def _relink_schema(text: str, source: Path, target: Path, contents: dict[Path, str]) -> str:
    """Point a `# yaml-language-server: $schema=...` comment of `source`, written to `target`
    in the project, at a copy of that schema in the project's `schema/` (added to
    `contents`), by a path relative to `target`, as editors resolve it: the project then
    carries its schemas wherever it is cloned, not a path into this installation of iac."""

    def relink(match: re.Match[str]) -> str:
        schema = (source.parent / match.group(2)).resolve()
        if not schema.is_file():
            return match.group(0)
        copy = SCHEMA_DIR / schema.name
        contents[copy] = schema.read_text(encoding="utf-8")
        return match.group(1) + Path(os.path.relpath(copy, target.parent)).as_posix()

    return _SCHEMA.sub(relink, text)
