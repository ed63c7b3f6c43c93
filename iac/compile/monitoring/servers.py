"""What each serving server exposes (metric names per server, known by the prefix of its
in-flight metrics), and a model's deployments grouped by the metrics they declare."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from iac.compile.monitoring.scrape import scraped
from iac.compile.monitoring.series import LATENCY, TPOT, TTFT
from iac.compile.release import ModelRelease

_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


@dataclass(frozen=True, slots=True)
class Histogram:
    series: str
    """Recorded name (LATENCY, TTFT, TPOT)."""
    metrics: tuple[str, ...]
    """The server's histogram, `_bucket` included; where a server renamed it, the current
    name first and older ones after (the first one present is used)."""
    title: str
    objective: float | None
    """Alert when the p95 stays above this many seconds; None: no alert."""
    alert: str | None


@dataclass(frozen=True, slots=True)
class ServerMetrics:
    """Metric names of one serving server."""

    server: str
    prefix: str
    """The container's `metrics.in_flight` names all start with it."""
    requests: str
    """Counter of finished requests."""
    errors: tuple[str, str, str, str]
    """(failed counter, its matchers, all-requests counter, its matchers): the error ratio."""
    histograms: tuple[Histogram, ...]
    note: str
    """Shown on the error-ratio panel: what the error ratio needs."""


VLLM = ServerMetrics(
    server="vllm",
    prefix="vllm:",
    requests="vllm:request_success_total",
    # HTTP metrics (prometheus-fastapi-instrumentator, status grouped as 2xx/4xx/5xx) exist
    # from vLLM 0.8.3 on; older images have no error series, so the error alert stays silent.
    errors=(
        "http_requests_total",
        'handler=~"/v1/.+",status="5xx"',
        "http_requests_total",
        'handler=~"/v1/.+"',
    ),
    histograms=(
        Histogram(
            LATENCY, ("vllm:e2e_request_latency_seconds_bucket",), "Request latency", None, None
        ),
        Histogram(
            TTFT,
            ("vllm:time_to_first_token_seconds_bucket",),
            "Time to first token",
            2.0,
            "IacTimeToFirstTokenSlow",
        ),
        # vLLM 0.11 renamed time_per_output_token to inter_token_latency (same observations,
        # same buckets) and removed the old name in 0.13.
        Histogram(
            TPOT,
            (
                "vllm:inter_token_latency_seconds_bucket",
                "vllm:time_per_output_token_seconds_bucket",
            ),
            "Time per output token",
            0.1,
            "IacTimePerOutputTokenSlow",
        ),
    ),
    note="vLLM reports errors from version 0.8.3 on (http_requests_total).",
)
TEI = ServerMetrics(
    server="tei",
    prefix="te_",
    requests="te_request_count",
    # Failures the client caused (bad input, a client that went away) are not server errors.
    errors=(
        "te_request_failure",
        'err!~"validation|tokenization|batch_size|model_type|dropped"',
        "te_request_count",
        "",
    ),
    histograms=(
        Histogram(
            LATENCY,
            ("te_request_duration_bucket",),
            "Request latency",
            1.0,
            "IacRequestLatencyHigh",
        ),
    ),
    note="",
)
SERVERS: tuple[ServerMetrics, ...] = (VLLM, TEI)


def server_metrics(in_flight: Sequence[str]) -> ServerMetrics | None:
    """The server whose metrics a container declares, known by their prefix; None if none."""
    for server in SERVERS:
        if in_flight and all(name.startswith(server.prefix) for name in in_flight):
            return server
    return None


@dataclass(frozen=True, slots=True)
class MetricGroup:
    """Deployments of a model that declare the same in-flight metrics: one set of rules."""

    in_flight: tuple[str, ...]
    server: ServerMetrics | None
    deployments: tuple[str, ...]
    matcher: str
    """`deployment=~"..."` when the model has several groups, else empty."""


def metric_groups(model: ModelRelease) -> list[MetricGroup]:
    deployments = model.deployments
    scraped_metrics = tuple(
        (name, deployments[name].in_flight)
        for name in sorted(deployments)
        if scraped(deployments[name])
    )
    return list(_metric_groups(scraped_metrics))


# The groups follow from the scraped deployments' names and in-flight metrics alone, and the
# models of a large stack mostly repeat the same few (`v1`, `v2` declaring vLLM's metrics):
# each is worked out once. Called twice per model (rules and dashboard).
@functools.lru_cache(maxsize=256)
def _metric_groups(
    scraped_metrics: tuple[tuple[str, tuple[str, ...]], ...],
) -> tuple[MetricGroup, ...]:
    """`metric_groups` of a model whose scraped deployments are (name, in_flight), by name."""
    by_metrics: dict[tuple[str, ...], list[str]] = {}
    for name, in_flight in scraped_metrics:
        by_metrics.setdefault(valid_in_flight(in_flight), []).append(name)
    several = len(by_metrics) > 1
    return tuple(
        MetricGroup(
            in_flight=key,
            server=server_metrics(key),
            deployments=tuple(names),
            matcher=f'deployment=~"{"|".join(names)}"' if several else "",
        )
        for key, names in sorted(by_metrics.items(), key=lambda item: item[1])
    )


# Asked for every scraped deployment, about the few metric lists a stack declares.
@functools.lru_cache(maxsize=256)
def valid_in_flight(in_flight: tuple[str, ...]) -> tuple[str, ...]:
    """The in-flight metrics, or () when a name is not a Prometheus metric name (no query can
    be built from it)."""
    if all(_METRIC_NAME.fullmatch(name) for name in in_flight):
        return in_flight
    return ()
