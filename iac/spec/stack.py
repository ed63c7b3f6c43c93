"""The stack file and the module file, as written (design §2 is the contract for names).

A stack file describes one cluster and the models served on it. Module files (`imports:`)
hold templates: reusable model-server definitions such as vLLM or TEI.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import Field

from iac.catalog.node_labels import GpuLabels
from iac.spec.auth import Auth, StackAuth
from iac.spec.autoscaling import Autoscaling
from iac.spec.base import SpecModel
from iac.spec.container import ContainerFields, Kind, State
from iac.spec.policies import Policies
from iac.spec.types import (
    INT32_MAX,
    Accelerator,
    DurationRange,
    Hostname,
    ModelName,
    Name,
    ParamValue,
    Port,
    TrafficWeight,
)


class Gateway(SpecModel):
    """The Gateway API `Gateway` that environment routes attach to."""

    name: Name = "inference"
    """Name of the Gateway."""
    namespace: Name = "gateway-system"
    """Namespace of the Gateway."""
    implementation: Literal["envoy-gateway", "other"] = "envoy-gateway"
    """Which Gateway API implementation runs the Gateway, so iac can make it ask for API
    keys (`auth:`). `envoy-gateway`: Envoy Gateway, configured through its `SecurityPolicy`
    objects (gateway.envoyproxy.io/v1alpha1). `other`: one iac cannot configure; a stack
    that asks for keys there is refused by `iac validate` (declare `auth: {public: true}`
    where your gateway checks keys itself)."""


class Karpenter(SpecModel):
    """How iac's Karpenter node pools launch nodes (AWS)."""

    node_class: str | None = None
    """An existing EC2NodeClass every pool uses; unset emits one named `iac-gpu`."""
    node_role: str | None = None
    """IAM role of the nodes (default `KarpenterNodeRole-<cluster name>`, the name Karpenter's
    getting-started guide creates)."""
    ami_alias: str = "al2023@latest"
    """AMI family and version; the alias picks the NVIDIA variant for GPU instances."""
    root_volume: str = "300Gi"
    """Root volume size: images and weights of GPU servers take tens of GiB."""


class Gke(SpecModel):
    """Where iac's GKE node pools are created (needs the optional `pulumi-gcp` package)."""

    cluster: str
    """Name of the GKE cluster."""
    location: str
    """Region or zone of the cluster (`us-central1`)."""
    project: str | None = None
    """Google Cloud project; unset uses the provider's default."""


class ScaleFromZero(SpecModel):
    """Where the KEDA HTTP add-on runs: its interceptor holds requests while a replica starts."""

    namespace: Name = "keda"
    """Namespace of the add-on (its Helm chart's default)."""
    interceptor_service: Name = "keda-add-ons-http-interceptor-proxy"
    """The interceptor's proxy Service, which routes send scale-to-zero traffic to."""
    interceptor_port: Port = 8080
    """Port of the interceptor's proxy Service."""
    scaler_address: str = "keda-add-ons-http-external-scaler.keda:9090"
    """gRPC address of the add-on's external scaler, for ScaledObject triggers."""


class Cluster(SpecModel):
    """The Kubernetes cluster the stack is applied to."""

    name: Name
    """Stable identity of the cluster (Pulumi's `cluster_identifier`): changing it makes
    Pulumi treat the stack as moved to a new cluster."""
    namespace: Name = "models"
    """Namespace of every serving object."""
    domain: Hostname | None = None
    """The domain the endpoints answer under (`models.example.com`): each model on a host of
    its own, `<model>.<domain>` (or on this host, see `endpoints`). The Gateway's listener
    must accept those hosts: a wildcard listener `*.<domain>` with its certificate."""
    endpoints: Literal["host", "path"] | None = None
    """How models' endpoints are told apart. `host` (the default with a `domain`): each model
    on its own host, `https://<model>.<domain>/environments/<env>/`, as Baseten's
    `model-<id>.api.baseten.co`. `path` (the default without one): every model on the one
    host, its paths prefixed, `https://<domain>/models/<model>/environments/<env>/`."""
    gateway: Gateway = Field(default_factory=Gateway)
    """The Gateway the routes attach to."""
    provisioner: Literal["karpenter", "gke", "existing"] = "existing"
    """Who provides GPU nodes: Karpenter node pools, GKE node pools, or nodes that already
    exist (nothing is created)."""
    gpu_label: GpuLabels | None = None
    """Which labels of the GPU nodes say their accelerator type, so that each workload runs
    only on nodes of its type (an L4 model never on an H100 node). With `provisioner:
    existing`: `gpu-feature-discovery` (the default: `nvidia.com/gpu.product`, set by NVIDIA
    GPU feature discovery, part of the GPU operator), `gke` (`cloud.google.com/gke-accelerator`:
    GKE Autopilot, or GKE node pools made elsewhere), `karpenter`
    (`karpenter.k8s.aws/instance-gpu-name` and `instance-gpu-memory`: Karpenter node pools made
    elsewhere), or `none` (only the pool's `labels` place the pods). With `provisioner:
    karpenter` or `gke` the nodes carry that provisioner's labels, which are selected; leave
    this unset there."""
    create_namespace: bool = True
    """Emit the Namespace object; set false when the namespace is managed elsewhere."""
    prometheus: str = "http://prometheus-operated.monitoring.svc:9090"
    """Prometheus that KEDA asks for in-flight requests while replicas run."""
    scale_from_zero: ScaleFromZero = Field(default_factory=ScaleFromZero)
    """The KEDA HTTP add-on, used by deployments that may scale to zero."""
    prepull_images: bool = True
    """Pull the images of a GPU pool's deployments onto its nodes ahead of time (a
    DaemonSet), so a new replica on a warm node does not wait for a multi-GB pull."""
    gateway_timeout: Annotated[int, DurationRange(1, 86400)] | None = None
    """Request timeout of the Gateway in front (if it has one): `iac plan` warns when a
    cold start can take longer than a request may wait."""
    network_policy: bool = True
    """Emit a NetworkPolicy that admits traffic to model pods only from the Gateway's
    namespace, the KEDA HTTP add-on's and the monitoring namespace."""
    monitoring: bool = True
    """Emit a PodMonitor per deployment, recording rules and alerts, and a Grafana dashboard
    per model (needs the Prometheus Operator's CRDs; set false on clusters without them)."""
    monitoring_namespace: Name = "monitoring"
    """Namespace of the Prometheus that scrapes model pods (admitted by the NetworkPolicy)."""
    karpenter: Karpenter = Field(default_factory=Karpenter)
    """Settings of Karpenter node pools (`provisioner: karpenter`)."""
    gke: Gke | None = None
    """The GKE cluster node pools are created in (required with `provisioner: gke`)."""
    shards: int = Field(1, ge=1, le=1000)
    """How many Pulumi stacks the models are applied as, besides the stack that holds the
    cluster-wide objects (docs/program.md, "Large stacks: sharding"). 1: one Pulumi stack
    holds everything. With K > 1, Pulumi stack `NAME` holds the cluster-wide objects and
    `NAME.s00` .. `NAME.s<K-1>` the models, each model in shard `crc32(name) mod K`, so
    that a change previews and updates only the shards it touches. Change it deliberately:
    `iac up` then moves the models' state between the Pulumi stacks (the objects stay)."""


class Warm(SpecModel):
    """Spare GPU capacity kept provisioned: placeholders that real replicas take over. With
    Karpenter a CapacityBuffer, elsewhere low-priority placeholder pods."""

    nodes: int | None = Field(None, ge=1, le=INT32_MAX)
    """Whole nodes (all devices of a node) kept ready."""
    replicas: int | None = Field(None, ge=1, le=INT32_MAX)
    """Room for this many replicas of the largest deployment on the pool (or of the
    environment's deployment, on an environment)."""


class NodePool(SpecModel):
    """A pool of GPU nodes of one accelerator type."""

    accelerator: Accelerator
    """Accelerator type of the nodes (`H100`); a count here is ignored."""
    capacity_type: Literal["on-demand", "spot"] = "on-demand"
    """Spot capacity is cheaper and can be taken back at short notice."""
    max_gpus: int | None = Field(None, ge=1, le=INT32_MAX)
    """Cap on the GPUs the pool may hold at once; unset sizes it from its deployments
    (max replicas × GPUs per replica, plus rolling-promotion surge)."""
    instance_types: list[str] | None = None
    """Cloud instance types the pool may use (`p5.48xlarge`); unset lets the provisioner
    choose among those carrying the accelerator."""
    labels: dict[str, str] | None = None
    """Labels of the pool's nodes. With `provisioner: existing` workloads select them, beside
    the labels of their accelerator type (`cluster.gpu_label`); otherwise they are added to
    the nodes."""
    node_class: str | None = None
    """Karpenter: an existing EC2NodeClass to use instead of the one iac emits."""
    warm: Warm | None = None
    """Capacity kept ready in the pool, so a new replica does not wait for a node."""


class Gate(SpecModel):
    """A check between rollout steps: a Prometheus query whose value must stay in bounds
    (error ratio, time to first token). A failed gate rolls the promotion back."""

    name: Name
    """Shown in progress and in the reason of a rollback."""
    query: str = Field(min_length=1)
    """PromQL returning one number; `$environment`, `$model` and `$deployment` are filled
    in with the candidate's."""
    max: float | None = None
    """Fail when the value is above this."""
    min: float | None = None
    """Fail when the value is below this."""


class Promotion(SpecModel):
    """How a new deployment takes over an environment (Baseten's promotion settings)."""

    strategy: Literal["rolling", "immediate"] = "immediate"
    """`immediate`: bring the new deployment up, then move all traffic at once. `rolling`:
    shift traffic step by step as new replicas become ready."""
    max_surge_percent: int = Field(25, ge=0, le=50)
    """Rolling: extra new replicas per step, in % of the environment's replicas (rounded up,
    as Kubernetes rounds `maxSurge`)."""
    max_unavailable_percent: int = Field(0, ge=0, le=50)
    """Rolling: replicas that may be missing per step, in % (rounded down, as Kubernetes
    rounds `maxUnavailable`; never all of them). Exactly one of this and `max_surge_percent`
    is non-zero. Where it rounds down to no replica (25 % of 1 to 3 replicas), one surge
    replica comes up instead: a replica only goes once its replacement is ready."""
    allow_unavailable: bool = False
    """Rolling with `max_unavailable_percent`: where it rounds down to no replica, take one
    down per step anyway (what Kubernetes does when `maxSurge` is 0) instead of adding a
    surge replica. With one replica that leaves the environment with nothing ready while the
    new deployment starts: `iac validate` and `iac plan` report it as an error
    (`rollout-keeps-ready`) unless `policies.waivers` accepts it with a reason."""
    stabilization: Annotated[int, DurationRange(0, 3600)] = 0
    """Rolling: wait after each traffic shift before the next step (watch the metrics)."""
    replica_overhead_percent: int = Field(0, ge=0, le=500)
    """Rolling: extra replicas added to the current deployment before the rollout starts, as
    headroom while capacity moves (Baseten's `replica_overhead_percent`)."""
    cleanup: Literal["scale_to_zero", "keep", "deactivate"] = "scale_to_zero"
    """What happens to the deployment that was replaced: scaled to zero (ready to come back),
    kept running, or deactivated."""
    gates: list[Gate] | None = None
    """Checks after each step's stabilization (`iac up`); a failure rolls back."""

    def surge_replicas(self, replicas: int) -> int:
        """Candidate replicas a rolling step of `replicas` brings up beyond them:
        `max_surge_percent`, rounded up; with `max_unavailable_percent`, the one surge replica
        added where no replica may be taken down (`unavailable_replicas` is 0)."""
        if self.max_surge_percent > 0:
            return max(1, math.ceil(replicas * self.max_surge_percent / 100))
        return 0 if self.unavailable_replicas(replicas) else 1

    def unavailable_replicas(self, replicas: int) -> int:
        """Previous replicas a rolling step of `replicas` takes down before the candidate's
        replacements are ready: `max_unavailable_percent` rounded down, and never the last
        ready one; with `allow_unavailable`, at least one (Kubernetes' rule)."""
        if self.max_surge_percent > 0:
            return 0
        count = max(0, min(replicas * self.max_unavailable_percent // 100, replicas - 1))
        return max(1, count) if self.allow_unavailable else count


class Serving(SpecModel):
    """Who serves an environment and how a change of it rolls out: the fields an
    environment of a model and an environment of a chain share."""

    deployment: Name | None = None
    """The deployment serving this environment."""
    traffic: dict[Name, TrafficWeight] | None = None
    """Instead of `deployment`: percent of the requests per deployment during a split, adding
    up to 100, e.g. `{v3: 90, v4: 10}`. Each side scales within its share of the
    environment's bounds and keeps a replica; a side at 0 (dark) runs 0..1 replicas, reached
    only on its own `/deployments/<name>/` path."""
    promotion: Promotion | None = None
    """How a change of `deployment` is rolled out."""
    auth: Auth | None = None
    """Who may call this environment's endpoint (`/environments/<name>/`), over the model's
    and the stack's `auth`: `{api_keys: [set, ...]}` or `{public: true}`."""


class Environment(Serving):
    """A stable endpoint (`/environments/<name>/`) served by one deployment, or split."""

    autoscaling: Autoscaling | None = None
    """Scaling of the deployment(s) serving this environment, over the model's."""
    warm: Warm | None = None
    """Capacity kept ready for this environment's deployment (`{replicas: N}`)."""
    trace: str | None = None
    """Traffic that `iac plan` replays against this environment before and after a change:
    a CSV (relative to the stack file) or a generator such as `diurnal:peak=12,seed=7`."""


class Version(SpecModel):
    """The lifecycle fields of a deployment, of a model or of a chain."""

    state: State = "active"
    """`inactive` keeps the objects but runs no pods and routes nothing (deactivated)."""
    kind: Kind = "published"
    """`development` deployments run 0..1 replicas and never serve an environment."""
    from_: Name | None = Field(None, alias="from")
    """Copy every field of another deployment (then override)."""


class Deployment(Version, ContainerFields):
    """A version of a model: an image and its settings, running as its own workload."""

    previous_names: list[Name] | None = None
    """Names this deployment had before a rename: the Pulumi program aliases each of its
    objects to the one of the old name, so Pulumi shows a replacement (Kubernetes names are
    immutable) rather than unrelated creates and deletes, and keeps options like protect."""


class Served(ContainerFields):
    """Container fields, optionally from a template: what a model and a chainlet run."""

    template: Name | None = None
    """A template from an imported module that supplies container fields."""
    params: dict[str, ParamValue] | None = None
    """Values for the template's parameters (`${name}` in its fields)."""


class Model(Served):
    """A model: its deployments (versions) and environments (stable endpoints)."""

    deployments: dict[Name, Deployment]
    """The model's deployments, by name (`v1`, `v2`, ...)."""
    environments: dict[Name, Environment] = Field(default_factory=dict)
    """The model's environments, by name (`production`, `staging`, ...)."""
    hostname: Hostname | None = None
    """A host of the model's own (`chat.example.com`) instead of the one `cluster.endpoints`
    gives it; its paths are then `/environments/<env>/` and `/deployments/<name>/`. No two
    models may answer on the same host and path."""
    auth: Auth | None = None
    """Who may call the model's endpoints, over the stack's `auth`: `{api_keys: [set,
    ...]}` or `{public: true}`. Its `/deployments/<name>/` paths follow this; an
    environment may set its own."""
    protect: bool = False
    """Pulumi's `protect` on every object of the model: `pulumi up` refuses to delete them
    (removing the model or renaming it) until this is set false and applied first."""
    previous_names: list[Name] | None = None
    """Names this model had before a rename: its objects are aliased to those of the old
    name (see `previous_names` of a deployment)."""


class Chainlet(Served):
    """One step of a chain: its own server, resources and autoscaling (Baseten's Chainlet).
    It runs as a model named `<chain>-<chainlet>` would, in every deployment of the chain."""

    calls: list[Name] = Field(default_factory=list)
    """The chainlets of the same chain it sends requests to. Each is given to it as
    environment variables (`IAC_CHAINLET_<NAME>_URL`, docs/chains.md), pointing at the
    callee of the same chain deployment."""


class ChainDeployment(Version):
    """A version of a whole chain: every chainlet deployed together, as one unit."""

    chainlets: dict[Name, ContainerFields] = Field(default_factory=dict)
    """Container fields of chainlets that differ in this deployment, by chainlet
    (`{generator: {image: ...}}`), over the chainlet's own. A development deployment runs
    each chainlet at 0..1 replicas."""


class ChainEnvironment(Serving):
    """A stable endpoint of a chain (`/environments/<name>/` of its entrypoint), served by
    one chain deployment (or split): every chainlet of it."""

    autoscaling: dict[Name, Autoscaling] | None = None
    """Scaling per chainlet while it serves this environment, over the chainlet's own
    (`{generator: {min_replicas: 1, max_replicas: 4}}`)."""


class Chain(SpecModel):
    """Several chainlets deployed, promoted and scaled as one (Baseten's Chains): only the
    entrypoint answers outside the cluster; the others are called by it, in the same chain
    deployment."""

    entrypoint: Name | None = None
    """The chainlet that takes the chain's requests (required)."""
    chainlets: dict[Name, Chainlet]
    """The steps, by name."""
    deployments: dict[Name, ChainDeployment]
    """The chain's deployments (versions of every chainlet at once), by name."""
    environments: dict[Name, ChainEnvironment] = Field(default_factory=dict)
    """The chain's environments, by name (`production`, `staging`, ...)."""
    hostname: Hostname | None = None
    """A host of the chain's own instead of `<chain>.<domain>` (see `hostname` of a model)."""
    auth: Auth | None = None
    """Who may call the entrypoint's endpoints, over the stack's `auth`."""


class Defaults(ContainerFields):
    """Container fields and autoscaling every model of the stack starts from."""


class PricedInstance(SpecModel):
    """An instance type the catalog does not know, with its price."""

    accelerator: Accelerator
    """Accelerator type on the instance."""
    gpus: int = Field(ge=1, le=INT32_MAX)
    """Devices per instance."""
    hourly: float = Field(ge=0)
    """Price per hour (USD)."""


class Pricing(SpecModel):
    """Prices used by `iac plan` and `iac cost`, over the built-in catalog's."""

    cloud: Literal["aws", "gcp"] | None = None
    """Whose list prices to use; unset follows the provisioner (karpenter → aws, gke → gcp)."""
    gpu_hourly: dict[str, Annotated[float, Field(ge=0)]] | None = None
    """Price of one device per hour by accelerator type (`{H100: 4.10}`): negotiated rates."""
    instance_hourly: dict[str, Annotated[float, Field(ge=0)]] | None = None
    """Price per hour by instance type (`{p5.48xlarge: 55.0}`)."""
    instance_types: dict[str, PricedInstance] | None = None
    """Instance types to add to the catalog."""


class Stack(SpecModel):
    """A stack file: one cluster and the models it serves."""

    version: Literal[1]
    """Format version of this file; always 1 for now."""
    imports: list[str] = Field(default_factory=list)
    """Module files with templates, relative to this file."""
    cluster: Cluster
    """Where the stack is applied."""
    node_pools: dict[Name, NodePool] = Field(default_factory=dict)
    """GPU node pools; unset means one pool per accelerator shape in use."""
    defaults: Defaults | None = None
    """What every model starts from."""
    pricing: Pricing | None = None
    """Prices for cost estimates, over the built-in catalog's."""
    policies: Policies = Field(default_factory=Policies)
    """Guardrails checked by `iac validate`, `iac plan` and the Pulumi policy pack."""
    auth: StackAuth | None = None
    """Who may call the endpoints: API-key sets (`key_sets`, each a list of Kubernetes
    Secrets holding keys, never the keys) and which of them every endpoint accepts
    (`api_keys`), or `public: true`. Required once the stack has models: an endpoint is
    never open unless the stack says so. Models and environments may override it."""
    models: dict[ModelName, Model] = Field(default_factory=dict)
    """The models, by name."""
    chains: dict[ModelName, Chain] = Field(default_factory=dict)
    """Chains of models deployed and promoted as one, by name. Each chainlet runs as a model
    named `<chain>-<chainlet>` (docs/chains.md)."""


class Param(SpecModel):
    """A parameter of a template."""

    description: str | None = None
    """What the parameter sets."""
    default: ParamValue | None = None
    """Value when a model gives none; without a default the parameter is required."""


class Template(ContainerFields):
    """A reusable model-server definition: container fields with `${param}` placeholders."""

    description: str | None = None
    """What the template serves and how."""
    params: dict[str, Param] = Field(default_factory=dict)
    """Parameters a model fills in with `params:`."""


class Module(SpecModel):
    """A module file: templates shared by stacks."""

    version: Literal[1]
    """Format version of this file; always 1 for now."""
    templates: dict[Name, Template]
    """Templates, by name."""
