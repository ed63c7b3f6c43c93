"""What runs in a serving pod: image, command, ports, health, resources.

These container fields may be written on the stack's `defaults`, on a template, on a model
and on a deployment; a lower level overrides the keys it writes (mappings merge key by key,
lists are replaced whole).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from iac.spec.autoscaling import Autoscaling
from iac.spec.base import SpecModel
from iac.spec.images import ImageReference
from iac.spec.types import (
    INT32_MAX,
    Accelerator,
    Cpu,
    DurationRange,
    EnvValue,
    Memory,
    Name,
    Port,
    SecretName,
)

DEFAULT_PORT = 8000
"""Serving port when no level sets one (vLLM's, TGI's and most servers' default)."""


class Health(SpecModel):
    """The HTTP endpoint probed to know the server is up, and how long it may take to start."""

    path: str = Field("/health", pattern=r"^/")
    """Readiness and liveness path; answers 200 once the model is loaded."""
    startup_timeout: Annotated[int, DurationRange(10, 7200)] = 1800
    """Time allowed from container start to the first healthy answer (weights download and
    load included); past it the pod is restarted. Baseten's default is 30 minutes."""


class Metrics(SpecModel):
    """Where the server exposes Prometheus metrics, and which one counts in-flight requests."""

    path: str = Field("/metrics", pattern=r"^/")
    """HTTP path of the metrics endpoint."""
    port: Port | None = None
    """Port of the metrics endpoint when it is not the serving port."""
    in_flight: list[str] | None = None
    """Metrics whose sum is the requests one pod holds (running and queued), e.g.
    `[vllm:num_requests_running, vllm:num_requests_waiting]`. KEDA scales on it through
    Prometheus while replicas run; without it, traffic goes through the HTTP add-on."""


DEFAULT_CPU = "1"
DEFAULT_MEMORY = "2Gi"
"""Requests of a replica when no level sets them: Baseten's defaults (reference/baseten.md
§4.1)."""


class Resources(SpecModel):
    """Compute for one replica. With an accelerator the pod lands on a matching GPU node."""

    accelerator: Accelerator | None = None
    """`TYPE[:COUNT]` with Baseten's names: T4, L4, A10G, V100, A100, A100_40GB, H100,
    H100_40GB (a MIG slice), H200, B200, L40S, RTX_PRO_6000. Unset means CPU only."""
    cpu: Cpu | None = None
    """CPU cores requested, e.g. `8` or `500m` (default 1)."""
    memory: Memory | None = None
    """Memory requested and limited, e.g. `64Gi` (default 2Gi)."""
    node_pool: Name | None = None
    """A pool from `node_pools` to run on; unset picks the pool of the accelerator's type."""


class ColdStart(SpecModel):
    """How long each part of a cold start takes, as measured on your cluster (used by
    `iac simulate`; unset parts use its stated defaults)."""

    node: Annotated[int, DurationRange(0, 7200)] | None = None
    """A new GPU node: provisioning and joining the cluster."""
    image: Annotated[int, DurationRange(0, 7200)] | None = None
    """Pulling the image onto a node that does not have it."""
    weights: Annotated[int, DurationRange(0, 7200)] | None = None
    """Downloading (or reading from the cache) and loading the weights."""
    engine: Annotated[int, DurationRange(0, 7200)] | None = None
    """The server's own start (compiling kernels, warming up)."""


class Weights(SpecModel):
    """Where the model's weights come from, and how they are cached so a new replica does
    not download them again (`weights_size` is their size)."""

    source: str = Field(pattern=r"^(hf|s3|gs)://[^\s]+$")
    """`hf://org/model@revision`, `s3://bucket/prefix` or `gs://bucket/prefix`."""
    cache: Literal["node", "cluster", "none"] = "node"
    """`node`: a directory on each GPU node, kept across pods (the fastest second start);
    `cluster`: one shared volume (ReadWriteMany) for every node; `none`: per pod."""
    path: str = Field("/models/weights", pattern=r"^/")
    """Where the server finds them (read-only); point the server's model argument here."""
    secret: SecretName | None = None
    """Secret with the download credentials (HF_TOKEN, AWS_* or a GCP key) as env vars."""
    storage_class: str | None = None
    """`cache: cluster`: the StorageClass of the shared volume (it must offer ReadWriteMany)."""
    protect: bool = False
    """`cache: cluster`: Pulumi's `protect` on the shared volume, so neither `pulumi up` nor
    `pulumi destroy` deletes a cache that takes hours to fill without it being unprotected
    first."""


class ContainerFields(SpecModel):
    """Fields of the serving container, overridable level by level."""

    image: ImageReference | None = None
    """Container image; pin a tag or digest (`vllm/vllm-openai:v0.6.3`)."""
    command: list[str] | None = None
    """Entrypoint, replacing the image's."""
    args: list[str] | None = None
    """Arguments to the entrypoint. A template's `${param}` references are filled in."""
    env: dict[str, EnvValue] | None = None
    """Environment variables (not for secrets: list those under `secrets`)."""
    port: Port | None = None
    """Port the server listens on (default 8000)."""
    run_as_user: int | None = Field(None, ge=1, le=INT32_MAX)
    """Run the container as this non-root user (the image must allow it); unset keeps the
    image's user. Privilege escalation and Linux capabilities are always dropped."""
    health: Health | None = None
    """Health endpoint and startup budget."""
    metrics: Metrics | None = None
    """Prometheus metrics endpoint."""
    secrets: list[SecretName] | None = None
    """Kubernetes Secrets in the stack's namespace whose keys become environment variables
    of the container. Values never live in stack files."""
    image_pull_secrets: list[SecretName] | None = None
    """Secrets (of type kubernetes.io/dockerconfigjson) to pull a private image with."""
    resources: Resources | None = None
    """CPU, memory and accelerator of one replica."""
    weights: Weights | None = None
    """Download and cache the weights before the server starts."""
    cold_start: ColdStart | None = None
    """Measured durations of the parts of a cold start (for `iac simulate`)."""
    weights_size: Memory | None = None
    """Memory the model's weights take on the accelerators (`16Gi` for 8B parameters in
    16-bit); checked against the accelerator's memory."""
    autoscaling: Autoscaling | None = None
    """Replica bounds and how scaling follows load."""


CONTAINER_FIELDS: tuple[str, ...] = tuple(ContainerFields.model_fields)
"""Names of the container fields, in declaration order."""

MERGED_MAPPINGS = frozenset(
    {"env", "health", "metrics", "resources", "autoscaling", "weights", "cold_start"}
)
"""Container fields that merge key by key across levels; the others are replaced whole."""

State = Literal["active", "inactive"]
Kind = Literal["published", "development"]
