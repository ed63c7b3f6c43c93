"""Traffic for the simulator: requests arriving each second, and how long each one is served.

A trace is two arrays over the seconds of the simulated period: `arrivals[t]`, the requests
arriving during second t (a float: a trace shared out over a traffic split carries
fractions), and `durations[t]`, the mean time one of them takes to serve once a replica
takes it (seconds; 0 where nothing arrives). Requests arriving in the same second are one
cohort with that mean duration.

Sources:
- a CSV of requests: `timestamp` (seconds, or ISO 8601) and `duration` (seconds) or
  `output_tokens` (served at `tokens_per_second`);
- a CSV of rates: `time` (or `timestamp`, `second`), `rate` (requests per second, held until
  the next row) and optionally `duration`;
- a synthetic generator, seeded: `steady`, `poisson`, `diurnal`, `bursts`, written
  `KIND:key=value,...` on the command line (`diurnal:peak=12,trough=1,duration=20,seed=7`).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt

from iac.errors import IacError
from iac.spec.types import parse_duration

DAY = 86_400
DEFAULT_DURATION = 10.0
"""Seconds one request is served when a rate trace or generator names no duration."""
DEFAULT_TOKENS_PER_SECOND = 40.0
"""Decode speed of one request when a request trace gives output tokens (an 8B model on
one H100 streams 40-80 tokens per second per request under batching)."""

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Trace:
    arrivals: FloatArray
    """Requests arriving in each second."""
    durations: FloatArray
    """Mean serving time (seconds) of the requests arriving in each second; 0 where none."""
    source: str
    """Where it came from, for the reader (a path or a generator with its parameters)."""

    def __post_init__(self) -> None:
        if self.arrivals.shape != self.durations.shape or self.arrivals.ndim != 1:
            raise ValueError("arrivals and durations must be 1-D arrays of the same length")

    @property
    def seconds(self) -> int:
        return int(self.arrivals.shape[0])

    @property
    def requests(self) -> float:
        return float(self.arrivals.sum())

    @property
    def mean_duration(self) -> float:
        total = self.requests
        return float((self.arrivals * self.durations).sum() / total) if total else 0.0

    def share(self, fraction: float) -> Trace:
        """The part of the traffic a deployment gets from a weighted split."""
        return Trace(self.arrivals * fraction, self.durations, self.source)


def from_requests(
    times: npt.ArrayLike, durations: npt.ArrayLike, source: str, seconds: int | None = None
) -> Trace:
    """A trace from individual requests: arrival times (seconds from the start) and their
    serving times. `seconds` is the period simulated (default: up to the last arrival)."""
    at = np.asarray(times, dtype=np.float64)
    served = np.asarray(durations, dtype=np.float64)
    if at.shape != served.shape:
        raise ValueError("one duration per request")
    if at.size and (at.min() < 0 or not np.isfinite(at).all()):
        raise IacError(f"{source}: arrival times must be finite and not negative")
    if served.size and (served.min() <= 0 or not np.isfinite(served).all()):
        raise IacError(f"{source}: every request needs a duration above 0")
    second = np.floor(at).astype(np.int64)
    length = seconds if seconds is not None else (int(second.max()) + 1 if at.size else 0)
    keep = second < length
    second, served = second[keep], served[keep]
    arrivals = np.bincount(second, minlength=length).astype(np.float64)[:length]
    work = np.bincount(second, weights=served, minlength=length)[:length]
    durations = np.divide(work, arrivals, out=np.zeros(length), where=arrivals > 0)
    return Trace(arrivals, durations, source)


def from_rates(
    times: npt.ArrayLike,
    rates: npt.ArrayLike,
    durations: npt.ArrayLike | float,
    source: str,
    seed: int | None = None,
) -> Trace:
    """A trace from rates held from each time until the next (the last for as long as the
    step before it). Fluid (the rate itself arrives every second) unless `seed` is given,
    then Poisson arrivals drawn from the rate."""
    start = np.asarray(times, dtype=np.float64)
    rate = np.asarray(rates, dtype=np.float64)
    if start.size == 0:
        raise IacError(f"{source}: no rows")
    order = np.argsort(start, kind="stable")
    start, rate = start[order], rate[order]
    served = np.broadcast_to(np.asarray(durations, dtype=np.float64), rate.shape)[order]
    if rate.min() < 0 or not np.isfinite(rate).all():
        raise IacError(f"{source}: rates must be finite and not negative")
    if served.min() <= 0:
        raise IacError(f"{source}: durations must be above 0")
    first = math.floor(start[0])
    begin = np.floor(start - first).astype(np.int64)
    step = int(begin[-1] - begin[-2]) if begin.size > 1 else 1
    end = np.append(begin[1:], begin[-1] + max(step, 1))
    lengths = np.maximum(end - begin, 0)
    per_second = np.repeat(rate, lengths)
    mean = np.repeat(served, lengths)
    if seed is not None:
        per_second = np.random.default_rng(seed).poisson(per_second).astype(np.float64)
    return Trace(per_second, np.where(per_second > 0, mean, 0.0), source)


def load_csv(
    path: str | Path,
    *,
    duration: float = DEFAULT_DURATION,
    tokens_per_second: float = DEFAULT_TOKENS_PER_SECOND,
    seed: int | None = None,
) -> Trace:
    """Read a request or rate CSV (see the module docstring); `duration` serves rate rows
    without one, `seed` draws Poisson arrivals from rates."""
    path = Path(path)
    source = str(path)
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(line for line in handle if not line.startswith("#"))
            columns = {c.strip().lower(): c for c in reader.fieldnames or ()}
            rows = list(reader)
    except OSError as exc:
        raise IacError(f"cannot read trace {source}: {exc.strerror}") from None
    time_key = next((columns[k] for k in ("timestamp", "time", "second") if k in columns), None)
    if time_key is None:
        raise IacError(f"{source}: needs a `timestamp` (or `time`) column")
    try:
        times = _times([row[time_key] for row in rows])
        if "rate" in columns:
            rates = [float(row[columns["rate"]]) for row in rows]
            served: list[float] | float = (
                [float(row[columns["duration"]]) for row in rows]
                if "duration" in columns
                else duration
            )
            return from_rates(times, rates, served, source, seed)
        if "duration" in columns:
            each = [float(row[columns["duration"]]) for row in rows]
        elif "output_tokens" in columns:
            each = [float(row[columns["output_tokens"]]) / tokens_per_second for row in rows]
        else:
            raise IacError(
                f"{source}: a request trace needs a `duration` (seconds) or `output_tokens` "
                "column; a rate trace a `rate` column"
            )
    except (TypeError, ValueError) as exc:
        raise IacError(f"{source}: {exc}") from None
    return from_requests(times, each, source)


def _times(values: list[str]) -> list[float]:
    """Seconds from the first arrival's second: numbers are seconds, else ISO 8601."""
    if not values:
        return []
    try:
        seconds = [float(v) for v in values]
    except ValueError:
        seconds = [datetime.fromisoformat(v.strip()).timestamp() for v in values]
    origin = math.floor(min(seconds))
    return [s - origin for s in seconds]


# Synthetic generators ------------------------------------------------------------------------


def steady(rate: float, duration: float = DEFAULT_DURATION, seconds: int = DAY) -> Trace:
    """Exactly `rate` requests every second (fluid: no randomness)."""
    arrivals = np.full(seconds, float(rate))
    return Trace(arrivals, np.where(arrivals > 0, float(duration), 0.0), _name("steady", rate=rate))


def poisson(
    rate: float, duration: float = DEFAULT_DURATION, seconds: int = DAY, seed: int = 0
) -> Trace:
    """Poisson arrivals at a constant mean `rate` per second."""
    return _sampled(np.full(seconds, float(rate)), duration, seed, _name("poisson", rate=rate))


def diurnal(
    peak: float,
    trough: float = 0.0,
    duration: float = DEFAULT_DURATION,
    seconds: int = DAY,
    seed: int = 0,
    peak_hour: float = 14.0,
) -> Trace:
    """A day's cycle: the rate follows a cosine from `trough` (12 h from the peak) to `peak`
    at `peak_hour`; Poisson arrivals."""
    t = np.arange(seconds, dtype=np.float64)
    phase = 2 * np.pi * (t - peak_hour * 3600) / DAY
    rate = trough + (peak - trough) * (1 + np.cos(phase)) / 2
    return _sampled(rate, duration, seed, _name("diurnal", peak=peak, trough=trough))


def bursts(
    base: float,
    peak: float,
    every: int = 7200,
    length: int = 300,
    duration: float = DEFAULT_DURATION,
    seconds: int = DAY,
    seed: int = 0,
) -> Trace:
    """A `base` rate with bursts at `peak` for `length` seconds, one in each `every` seconds
    at a random offset; Poisson arrivals."""
    rng = np.random.default_rng(seed)
    rate = np.full(seconds, float(base))
    for start in range(0, seconds, every):
        offset = start + int(rng.integers(0, max(every - length, 1)))
        rate[offset : offset + length] = peak
    arrivals = rng.poisson(rate).astype(np.float64)
    return Trace(
        arrivals,
        np.where(arrivals > 0, float(duration), 0.0),
        _name("bursts", base=base, peak=peak, every=every, length=length),
    )


def _sampled(rate: FloatArray, duration: float, seed: int, source: str) -> Trace:
    arrivals = np.random.default_rng(seed).poisson(rate).astype(np.float64)
    return Trace(arrivals, np.where(arrivals > 0, float(duration), 0.0), f"{source}, seed {seed}")


def _name(kind: str, **params: float) -> str:
    return kind + "(" + ", ".join(f"{k}={v:g}" for k, v in params.items()) + ")"


GENERATORS: Mapping[str, Callable[..., Trace]] = {
    "steady": steady,
    "poisson": poisson,
    "diurnal": diurnal,
    "bursts": bursts,
}
_INT_PARAMS = {"seconds", "seed", "every", "length"}
_DURATION_PARAMS = {"seconds", "every", "length"}


def synthetic(spec: str) -> Trace:
    """`KIND:key=value,...`, e.g. `diurnal:peak=12,trough=1,duration=20,seed=7`; durations
    (`seconds`, `every`, `length`) take `90`, `15m`, `24h`; `hours=N` sets `seconds`."""
    kind, _, rest = spec.partition(":")
    generator = GENERATORS.get(kind)
    if generator is None:
        raise IacError(f"unknown generator '{kind}'; use one of {', '.join(GENERATORS)}")
    params: dict[str, float | int] = {}
    for item in filter(None, (p.strip() for p in rest.split(","))):
        key, eq, value = item.partition("=")
        key = key.strip()
        if not eq:
            raise IacError(f"'{item}' in '{spec}': write key=value")
        try:
            if key == "hours":
                params["seconds"] = round(float(value) * 3600)
            elif key in _DURATION_PARAMS:
                params[key] = parse_duration(value.strip())
            elif key in _INT_PARAMS:
                params[key] = int(value)
            else:
                params[key] = float(value)
        except ValueError as exc:
            raise IacError(f"'{item}' in '{spec}': {exc}") from None
    try:
        return generator(**params)
    except TypeError as exc:
        raise IacError(f"'{spec}': {exc}") from None


def load(
    value: str,
    *,
    duration: float = DEFAULT_DURATION,
    tokens_per_second: float = DEFAULT_TOKENS_PER_SECOND,
    seed: int | None = None,
) -> Trace:
    """A trace named on the command line: a CSV file, or `KIND:...` for a generator."""
    kind = value.partition(":")[0]
    if kind in GENERATORS and not Path(value).exists():
        return synthetic(value)
    return load_csv(value, duration=duration, tokens_per_second=tokens_per_second, seed=seed)
