"""Labels on the monitoring objects themselves (PodMonitors, PrometheusRules, dashboard
ConfigMaps): the model's labels, with the component `monitoring`."""

from __future__ import annotations

from iac.compile import labels
from iac.compile.release import DeploymentRelease

COMPONENT = "monitoring"


def deployment_labels(deployment: DeploymentRelease) -> dict[str, str]:
    found = {
        **labels.model(deployment.model),
        "app.kubernetes.io/instance": deployment.object_name,
        "app.kubernetes.io/component": COMPONENT,
        labels.DEPLOYMENT: deployment.name,
    }
    if deployment.environment:
        found[labels.ENVIRONMENT] = deployment.environment
    return found


def model_labels(model: str) -> dict[str, str]:
    return {**labels.model(model), "app.kubernetes.io/component": COMPONENT}
