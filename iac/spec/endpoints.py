"""Where each model answers: the host and the path prefix of its endpoints.

One place decides it, for the routes the compiler writes, the interceptor's host rules, the
URLs of the stack outputs, `iac plan` and `iac status`, and the check that no two models claim
the same host and path (`iac.validate.endpoints`). Gateway API gives a host and path claimed
by two routes to one of them only, so two models sharing `/environments/production` on one
host would have one answer for the other (reference/data-plane.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from iac.spec.stack import Cluster


@dataclass(frozen=True, slots=True)
class ModelEndpoints:
    """A model's host and path prefix; its endpoints are `/environments/<env>/` and
    `/deployments/<name>/` below the prefix."""

    host: str | None
    """The host its routes claim; None: any host (a stack with no `domain` and no
    `hostname`)."""
    prefix: str
    """What comes before `/environments/...`: empty on a host of the model's own,
    `/models/<model>` on a shared one."""

    def environment_path(self, environment: str) -> str:
        return f"{self.prefix}/environments/{environment}"

    def deployment_path(self, deployment: str) -> str:
        return f"{self.prefix}/deployments/{deployment}"

    def url(self, path: str) -> str:
        """The URL of an endpoint at `path`; without a host, the path alone (the Gateway's
        address is not known to the stack)."""
        return f"https://{self.host}{path}/" if self.host else f"{path}/"

    def environment_url(self, environment: str) -> str:
        return self.url(self.environment_path(environment))

    def deployment_url(self, deployment: str) -> str:
        return self.url(self.deployment_path(deployment))


def endpoint_style(cluster: Cluster) -> str:
    """`host` or `path`: the stack's setting, else `host` when it has a domain."""
    if cluster.endpoints is not None:
        return cluster.endpoints
    return "host" if cluster.domain else "path"


def model_endpoints(cluster: Cluster, model: str, hostname: str | None) -> ModelEndpoints:
    """Where `model` answers, given its own `hostname` (if it sets one)."""
    if hostname is not None:
        return ModelEndpoints(hostname, "")
    if endpoint_style(cluster) == "host" and cluster.domain:
        return ModelEndpoints(f"{model}.{cluster.domain}", "")
    return ModelEndpoints(cluster.domain, f"/models/{model}")
