"""Autoscaling on in-flight requests, with Baseten's settings, defaults and ranges.

`reference/baseten.md` §5.1-5.2: a replica is meant to carry
`concurrency_target × target_utilization / 100` in-flight requests, averaged over
`autoscaling_window`; scale-up is immediate, scale-down waits `scale_down_delay` and removes
at most `max_scale_down_rate` % of the running replicas per step.
"""

from __future__ import annotations

import re
import zoneinfo
from typing import Annotated

from pydantic import Field, field_validator

from iac.spec.base import SpecModel
from iac.spec.types import INT32_MAX, DurationRange

_CRON_FIELD = re.compile(r"^[\d*/,\-a-zA-Z?]+$")


class Schedule(SpecModel):
    """A floor of replicas during a window, e.g. business hours (KEDA's cron scaler):
    Baseten's autoscaling schedules, and the documented way to pre-warm before a known peak."""

    start: str
    """Cron expression (minute hour day month weekday) when the window opens: `0 8 * * 1-5`."""
    end: str
    """Cron expression when it closes: `0 20 * * 1-5`."""
    timezone: str = "UTC"
    """IANA time zone the expressions are read in (`Europe/Berlin`)."""
    min_replicas: int = Field(ge=1, le=INT32_MAX)
    """Replicas kept during the window (above the usual minimum)."""

    @field_validator("start", "end")
    @classmethod
    def _cron(cls, value: str) -> str:
        fields = value.split()
        if len(fields) != 5 or not all(_CRON_FIELD.match(f) for f in fields):
            raise ValueError(
                f"'{value}' is not a cron expression of 5 fields (minute hour day month "
                "weekday), e.g. '0 8 * * 1-5'"
            )
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone '{value}'; use an IANA name like Europe/Berlin"
            ) from None
        return value


class Autoscaling(SpecModel):
    """How many replicas run, and how fast that number follows the load.

    Set on the stack (`defaults`), a template, a model, a deployment or an environment; each
    level overrides the keys it writes. A deployment bound to an environment scales with the
    environment's settings.
    """

    min_replicas: int = Field(0, ge=0, le=INT32_MAX)
    """Floor. 0 allows scale to zero: the first request after idle waits for a cold start."""
    max_replicas: int = Field(1, ge=1, le=INT32_MAX)
    """Ceiling; beyond it requests queue. The default of 1 effectively disables autoscaling."""
    autoscaling_window: Annotated[int, DurationRange(10, 3600)] = 60
    """Window over which in-flight requests are averaged (10s-1h)."""
    scale_down_delay: Annotated[int, DurationRange(0, 3600)] = 900
    """How long load must stay low before replicas are removed (0-1h). Also the idle time
    before the last replica goes to zero."""
    max_scale_down_rate: int = Field(50, ge=1, le=50)
    """Most replicas removed in one scale-down step, in % of those running (1-50)."""
    concurrency_target: int = Field(1, ge=1, le=INT32_MAX)
    """In-flight requests one replica is meant to carry. 1 for one-at-a-time models;
    32-128 for vLLM, 32 for TEI embeddings."""
    target_utilization: int = Field(70, ge=1, le=100)
    """Headroom: scale up when load exceeds this % of `concurrency_target` per replica."""
    schedules: list[Schedule] | None = None
    """Windows with a higher floor of replicas (pre-warming for known peaks)."""

    @property
    def target_per_replica(self) -> float:
        """In-flight requests per replica at which the autoscaler adds a replica."""
        return self.concurrency_target * self.target_utilization / 100
