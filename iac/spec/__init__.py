"""The stack file format: pydantic models, no Pulumi. The JSON schema is generated here."""

from iac.spec.autoscaling import Autoscaling
from iac.spec.container import ContainerFields, Health, Metrics, Resources
from iac.spec.stack import (
    Cluster,
    Defaults,
    Deployment,
    Environment,
    Gateway,
    Model,
    Module,
    NodePool,
    Param,
    Promotion,
    Stack,
    Template,
)

__all__ = [
    "Autoscaling",
    "Cluster",
    "ContainerFields",
    "Defaults",
    "Deployment",
    "Environment",
    "Gateway",
    "Health",
    "Metrics",
    "Model",
    "Module",
    "NodePool",
    "Param",
    "Promotion",
    "Resources",
    "Stack",
    "Template",
]
