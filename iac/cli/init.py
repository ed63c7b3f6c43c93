"""`iac init DIR`"""

from __future__ import annotations

import shlex
from pathlib import Path

import click

from iac.program.project import STACK_NAME, default_virtualenv, scaffold


@click.command("init")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--name", help="Pulumi project name.  [default: the folder's name]")
@click.option(
    "--virtualenv",
    metavar="PATH",
    help="Virtualenv Pulumi runs the program with (it must have iac installed).  "
    "[default: the one running this command]",
)
@click.option(
    "--no-virtualenv",
    is_flag=True,
    help="Name no virtualenv: Pulumi runs python3 from PATH (or $PULUMI_PYTHON_CMD).",
)
def init_command(
    directory: Path, name: str | None, virtualenv: str | None, no_virtualenv: bool
) -> None:
    """Create a Pulumi project in DIRECTORY that runs stack files with `pulumi up`.

    Writes Pulumi.yaml, __main__.py (the program: iac.program.main()), a starter stack file
    stacks/dev.yaml with the modules it imports, copies of the schemas they name (schema/),
    requirements.txt pinning this iac and a README.md saying how a teammate sets the project
    up. Existing files are never overwritten. Exit 0, or 1 when a file exists already.
    """
    if no_virtualenv:
        virtualenv = None
    elif virtualenv is None:
        virtualenv = default_virtualenv()
    project = scaffold(directory, name, virtualenv)
    where = click.format_filename(str(directory))
    lines = [f"Created Pulumi project '{project.name}' in {where}:"]
    lines += [f"  {path}" for path in project.files]
    runtime = f"virtualenv {virtualenv}" if virtualenv else "python3 from PATH"
    steps = [
        (f"cd {shlex.quote(where)}", ""),
        ("pulumi login --local", "or your own backend"),
        (f"pulumi stack init {STACK_NAME}", f"its stack file: stacks/{STACK_NAME}.yaml"),
        ("pulumi config set iac:context NAME", "optional: a kubeconfig context"),
        ("pulumi config set iac:renderDir out", "optional: write manifests, apply nothing"),
        (f"iac render stacks/{STACK_NAME}.yaml", "exactly what `pulumi up` will apply"),
        ("pulumi up", ""),
    ]
    width = max(len(command) for command, _ in steps)
    lines += [f"The program runs with {runtime}.", "", "Next steps:"]
    lines += [
        f"  {command:<{width}}  # {comment}" if comment else f"  {command}"
        for command, comment in steps
    ]
    lines.append(
        "Models read Secrets by name (hf-token here): see __main__.py to create one from "
        "`pulumi config set --secret`, or create it with kubectl."
    )
    lines.append(
        f"requirements.txt pins iac: `{project.requirement.line}`; README.md says how a "
        "teammate installs the same iac and the Pulumi CLI."
    )
    if project.requirement.origin:
        lines.append(
            f"This iac was installed from {project.requirement.origin}, which teammates do "
            "not have: requirements.txt says how to install the same version from its "
            "repository or a wheel."
        )
    click.echo("\n".join(lines))
