"""`iac validate FILE...`: stack files and module files."""

from __future__ import annotations

import sys

import click

from iac.cli.process import bulk_work
from iac.compile.capacity.fit import unfit_replicas
from iac.compile.capacity.gke import gke_node_pools
from iac.compile.release import Release
from iac.diagnostics import Diagnostics
from iac.errors import ModuleFileGiven, StackInvalid
from iac.load.modules import load_module
from iac.policy import check_with_policies
from iac.spec.resolved import ResolvedStack


@click.command()
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
def validate(files: tuple[str, ...]) -> None:
    """Check stack files (or folders holding a stack.yaml), and their `policies:`; and module
    files (`templates:` and no `cluster:` or `models:`), each as a module on its own.

    Every problem is printed as FILE:LINE:COL: error: MESSAGE on stderr (warnings and notes
    too). Exit 0 when all are valid, 1 otherwise.
    """
    with bulk_work(leave_without_teardown=True):
        failed = _validate_all(files)
    if failed:
        sys.exit(1)


def _validate_all(files: tuple[str, ...]) -> bool:
    """Print each file's problems, or that it is ok: True when any is invalid."""
    failed = False
    for path in files:
        diagnostics = Diagnostics()
        try:
            stack, release = check_with_policies(path, diagnostics)
            _check_cloud_resources(stack, release, diagnostics)
        except ModuleFileGiven as given:
            failed |= not _validate_module(given.file)
            continue
        except StackInvalid as exc:
            failed = True
            for diagnostic in exc.diagnostics:
                click.echo(str(diagnostic), err=True)
            continue
        for warning in diagnostics.sorted():
            click.echo(str(warning), err=True)
        models = [m for m in stack.models.values() if m.chain is None]
        deployments = sum(len(m.deployments) for m in models)
        environments = sum(len(m.environments) for m in models)
        chains = ""
        if stack.chains:
            written = [stack.spec.chains[name] for name in stack.chains]
            chains = (
                f"; {_count(len(written), 'chain')}: "
                f"{_count(sum(len(c.chainlets) for c in written), 'chainlet')}, "
                f"{_count(sum(len(c.deployments) for c in written), 'deployment')}, "
                f"{_count(sum(len(c.environments) for c in written), 'environment')}"
            )
        click.echo(
            f"{stack.file}: ok ({_count(len(models), 'model')}, "
            f"{_count(deployments, 'deployment')}, {_count(environments, 'environment')}"
            f"{chains})"
        )
    return failed


def _validate_module(file: str) -> bool:
    """Check a module file on its own, as an import of it would: True when it is valid."""
    diagnostics = Diagnostics()
    module = load_module(file, diagnostics)
    for diagnostic in diagnostics.sorted():
        click.echo(str(diagnostic), err=True)
    if module is None or diagnostics.has_errors():
        return False
    click.echo(f"{module.file}: ok (module, {_count(len(module.templates), 'template')})")
    return True


def _check_cloud_resources(
    stack: ResolvedStack, release: Release, diagnostics: Diagnostics
) -> None:
    """What otherwise only compiling finds, so `iac validate` fails where `iac render` would:
    on GKE, a node pool no machine type can serve (the same choice and the same located
    errors as the compiled pools'); on Karpenter and on existing nodes of known types, a
    replica no machine of its pool can hold (iac.compile.capacity.fit). Raises StackInvalid."""
    if release.cluster.provisioner == "gke":
        gke_node_pools(stack, release, diagnostics)
    if release.cluster.provisioner in ("karpenter", "existing"):
        unfit_replicas(stack, release, diagnostics)
    if diagnostics.has_errors():
        raise StackInvalid(diagnostics.sorted())


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
