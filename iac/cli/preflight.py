"""`iac preflight STACK [--kubeconfig PATH] [--context NAME]`"""

from __future__ import annotations

from pathlib import Path

import click

from iac.cli.process import bulk_work
from iac.compile import compile_stack
from iac.errors import IacError
from iac.preflight import check_cluster
from iac.preflight.missing import errors, shown
from iac.validate import check_stack


@click.command("preflight")
@click.argument("stack", metavar="STACK")
@click.option(
    "--kubeconfig",
    help="kubeconfig file of the cluster (default: kubectl's, $KUBECONFIG or ~/.kube/config).",
)
@click.option("--context", help="kubeconfig context (default: the current one).")
def preflight_command(stack: str, kubeconfig: str | None, context: str | None) -> None:
    """Check a cluster for what STACK's objects need and iac does not create (CRDs at their
    versions, namespaces, Secrets, the interceptor's Service, the Gateway and a listener for
    each host), as `iac up` does before it applies: for `iac render -o DIR` followed by
    `kubectl apply --server-side -f DIR`. One error per missing thing, exit 1 if any; a
    warning (a Gateway that takes the models' hosts over HTTP only) is printed, exit 0."""
    if kubeconfig is not None and not Path(kubeconfig).is_file():
        raise IacError(f"--kubeconfig {kubeconfig}: no such file")
    with bulk_work(leave_without_teardown=False):  # the cluster's answers are not bulk
        compiled = compile_stack(check_stack(stack))
    missing = check_cluster(
        compiled.objects, compiled.release.cluster, kubeconfig, context, Path.cwd()
    )
    for found in missing:
        click.echo(shown(found), err=True)
    failed = errors(missing)
    if failed:
        raise IacError(
            f"{stack}: the cluster lacks {len(failed)} "
            f"thing{'s' if len(failed) != 1 else ''} the objects need (above)"
        )
    warned = len(missing)
    click.echo(
        f"{stack}: the cluster has everything its {len(compiled.objects)} objects need"
        + (f" ({warned} warning{'s' if warned != 1 else ''} above)" if warned else "")
    )
