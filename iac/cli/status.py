"""`iac status STACK [--context NAME] [--prometheus URL] [--format text|markdown|json]`"""

from __future__ import annotations

import click

from iac.cli.process import bulk_work
from iac.reports import FORMATS, formatted
from iac.rollout.executor import prometheus_reader
from iac.status import Kubectl, StatusReport, read_status
from iac.validate import check_stack


@click.command("status")
@click.argument("stack", metavar="STACK")
@click.option("--context", help="kubectl context of the cluster (default: the current one).")
@click.option("--prometheus", help="Prometheus URL for live figures (default: none).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
def status_command(stack: str, context: str | None, prometheus: str | None, fmt: str) -> None:
    """What is live per model and environment: who serves it with which weights, replicas
    ready and desired, the last rollout, and (with --prometheus) in-flight requests, request
    rate and error ratio. Reads the cluster with kubectl."""
    with bulk_work(leave_without_teardown=False):
        checked = check_stack(stack)
    prometheus_read = prometheus_reader(prometheus) if prometheus else None
    statuses = read_status(checked, Kubectl(context), prometheus_read)
    click.echo(formatted(StatusReport(statuses), fmt, click.style), nl=False)
