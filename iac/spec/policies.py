"""The stack's `policies:`: guardrails checked before anything is applied.

Each key is a rule (its ID is the key with dashes: `min_replicas` → `min-replicas`). A rule
written here is enabled, at level `error` unless it says otherwise; five rules are on by
default at level `warning` (pinned images, declared resources, weights that fit, removals of
what serves an environment, public endpoints) and one at level `error` (rolling promotions
keep a replica ready). A violation can be waived with a reason under `waivers:`; the plan
shows the waiver.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from iac.spec.base import SpecModel
from iac.spec.types import INT32_MAX, Accelerator, DurationRange, Name

Level = Literal["error", "warning", "info"]


class Rule(SpecModel):
    enabled: bool = True
    """Set false to turn the rule off."""
    level: Level = "error"
    """`error` fails validate and plan; `warning` and `info` are reported."""


class AllowedAccelerators(Rule):
    """Only these accelerator types in these environments."""

    environments: dict[Name, list[Accelerator]]
    """Environment → accelerator types allowed there (`{staging: [L4, H100]}`)."""


class GpuQuota(Rule):
    """Most GPUs a model, or a node pool, may ask for at max replicas."""

    per_model: int | None = Field(None, ge=1, le=INT32_MAX)
    """GPUs one model's active deployments may ask for together at max replicas."""
    per_pool: dict[Name, Annotated[int, Field(ge=0, le=INT32_MAX)]] | None = None
    """GPUs by node pool (declared, or derived like `gpu-l4`)."""


class Budget(Rule):
    """Monthly cost ceilings (at max replicas), from the cost model."""

    monthly: float | None = Field(None, gt=0)
    """USD per month for the whole stack."""
    environments: dict[Name, Annotated[float, Field(ge=0)]] | None = None
    """USD per month per environment name, across models."""


class MinReplicas(Rule):
    """A floor of replicas in an environment (redundancy, no cold starts)."""

    environment: Name = "production"
    min: int = Field(2, ge=1, le=INT32_MAX)


class NoScaleToZero(Rule):
    """These environments never scale to zero."""

    environments: list[Name] = Field(default_factory=lambda: ["production"])


class PinnedImages(Rule):
    """Images name a version: no `latest`, no missing tag; optionally a digest."""

    level: Level = "warning"
    require_digest: bool = False
    """Require `@sha256:` digests (tags can be moved)."""


class ResourcesDeclared(Rule):
    """Every deployment declares CPU and memory (and GPU servers an accelerator)."""

    level: Level = "warning"


class WeightsFit(Rule):
    """Declared `weights_size` fits the accelerator's memory."""

    level: Level = "warning"


class RollingPromotion(Rule):
    """These environments promote with `strategy: rolling`."""

    environments: list[Name] = Field(default_factory=lambda: ["production"])


class RolloutKeepsReady(Rule):
    """A rolling promotion never leaves an environment with no ready replica (on by default;
    only `promotion.allow_unavailable` can make one do so)."""


class ScaleDownDelayFloor(Rule):
    """Where a cold start is long, idle replicas are not removed too soon."""

    min: Annotated[int, DurationRange(0, 3600)] = 600
    """The least scale-down delay allowed."""
    when_startup_over: Annotated[int, DurationRange(0, 7200)] = 300
    """Applies to deployments whose startup budget is above this."""


class ServingRemovals(Rule):
    """A change that removes what serves an environment (a model, an environment, a side of
    a traffic split), so that an endpoint stops answering. Judged by `iac plan` only, as it
    compares two versions of the stack; `level: error` fails the plan until the removal is
    waived (`waivers: [{rule: serving-removals, model: ..., reason: ...}]`)."""

    level: Level = "warning"


class PublicEndpoints(Rule):
    """An endpoint anyone may call without an API key: one declared `public: true` (a
    stack that says nothing is refused by `iac validate`). Reported by `iac plan` for each
    public endpoint, at this level (a warning by default); `level: error` fails the plan
    until the stack asks for keys there, or a waiver
    (`waivers: [{rule: public-endpoints, model: ..., reason: ...}]`) accepts the endpoint."""

    level: Level = "warning"


class Waiver(SpecModel):
    """An accepted violation, with the reason a reviewer reads in the plan."""

    rule: str
    """Rule ID (`pinned-images`); also `secret-in-env`, the error of a credential written
    under `env:`."""
    model: Name | None = None
    environment: Name | None = None
    deployment: Name | None = None
    reason: str = Field(min_length=3)
    """Why this is acceptable (shown in plans)."""


class Policies(SpecModel):
    """Guardrails; see the module docstring for defaults and levels."""

    allowed_accelerators: AllowedAccelerators | None = None
    gpu_quota: GpuQuota | None = None
    budget: Budget | None = None
    min_replicas: MinReplicas | None = None
    no_scale_to_zero: NoScaleToZero | None = None
    pinned_images: PinnedImages = Field(default_factory=PinnedImages)
    resources_declared: ResourcesDeclared = Field(default_factory=ResourcesDeclared)
    weights_fit: WeightsFit = Field(default_factory=WeightsFit)
    rolling_promotion: RollingPromotion | None = None
    rollout_keeps_ready: RolloutKeepsReady = Field(default_factory=RolloutKeepsReady)
    scale_down_delay_floor: ScaleDownDelayFloor | None = None
    serving_removals: ServingRemovals = Field(default_factory=ServingRemovals)
    public_endpoints: PublicEndpoints = Field(default_factory=PublicEndpoints)
    waivers: list[Waiver] = Field(default_factory=list)
