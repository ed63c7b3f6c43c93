"""PromQL text: label selectors, `by` clauses, durations and numbers."""

from __future__ import annotations

import functools

from iac.compile.monitoring.series import SERIES_LABELS


def label_selector(*matchers: str) -> str:
    """`{a,b}` from the matchers that are not empty."""
    return "{" + ",".join(m for m in matchers if m) + "}"


def by_clause(*extra: str) -> str:
    """`by (namespace, model, deployment, environment, ...)`: aggregations keep the labels of
    the recorded series."""
    return "by (" + ", ".join((*SERIES_LABELS, *extra)) + ")"


# Both below are called for every alert and rule (30,000 times for 1,000 models) with a
# handful of distinct values: each answer is kept.


@functools.cache
def prom_duration(seconds: int) -> str:
    """`2400` → `40m`, `5400` → `1h30m`, `90` → `1m30s`: Prometheus' duration syntax."""
    if seconds <= 0:
        return "0s"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return (
        (f"{hours}h" if hours else "")
        + (f"{minutes}m" if minutes else "")
        + (f"{secs}s" if secs else "")
    )


@functools.cache
def format_number(value: float) -> str:
    """`2.0` → `2`, `0.05` → `0.05`: as PromQL and alert texts show numbers."""
    return str(int(value)) if value == int(value) else f"{value:g}"


def format_percent(ratio: float) -> str:
    """`0.05` → `5 %`."""
    return f"{format_number(ratio * 100)} %"
