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
- for a chain (docs/simulate.md, "Chains"), either CSV may give a chainlet's own time per
  call in a column `duration_<chainlet>` (`duration_embedder`);
- a synthetic generator, seeded: `steady`, `poisson`, `diurnal`, `bursts`, written
  `KIND:key=value,...` on the command line (`diurnal:peak=12,trough=1,duration=20,seed=7`):
  `iac.simulate.generators`; `iac.simulate.sources.load` reads either kind.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TextIO

import numpy as np
import numpy.typing as npt

from iac.diagnostics import did_you_mean
from iac.errors import IacError

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
    chainlets: Mapping[str, FloatArray] = field(default_factory=dict)
    """Per chainlet (a `duration_<chainlet>` column), the mean seconds a call to it takes,
    for the requests arriving in each second, as `durations`."""

    def __post_init__(self) -> None:
        if self.arrivals.shape != self.durations.shape or self.arrivals.ndim != 1:
            raise ValueError("arrivals and durations must be 1-D arrays of the same length")
        if any(d.shape != self.arrivals.shape for d in self.chainlets.values()):
            raise ValueError("a chainlet's durations must be as long as the arrivals")

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
        return Trace(self.arrivals * fraction, self.durations, self.source, self.chainlets)

    def calls(self, per_request: float, durations: FloatArray) -> Trace:
        """The calls a chainlet gets: `per_request` for each request, arriving with it, each
        taking `durations` (per second, as `durations`)."""
        return Trace(self.arrivals * per_request, durations, self.source)


def from_requests(
    times: npt.ArrayLike,
    durations: npt.ArrayLike,
    source: str,
    seconds: int | None = None,
    chainlets: Mapping[str, npt.ArrayLike] | None = None,
) -> Trace:
    """A trace from individual requests: arrival times (seconds from the start) and their
    serving times (and, for a chain, each chainlet's time per call: `chainlets`). `seconds`
    is the period simulated (default: up to the last arrival)."""
    at = np.asarray(times, dtype=np.float64)
    served = np.asarray(durations, dtype=np.float64)
    per_chainlet = {k: np.asarray(v, dtype=np.float64) for k, v in (chainlets or {}).items()}
    if any(at.shape != d.shape for d in [served, *per_chainlet.values()]):
        raise ValueError("one duration per request")
    if at.size and (at.min() < 0 or not np.isfinite(at).all()):
        raise IacError(f"{source}: arrival times must be finite and not negative")
    for d in [served, *per_chainlet.values()]:
        if d.size and (d.min() <= 0 or not np.isfinite(d).all()):
            raise IacError(f"{source}: every request needs a duration above 0")
    second = np.floor(at).astype(np.int64)
    length = seconds if seconds is not None else (int(second.max()) + 1 if at.size else 0)
    keep = second < length
    second = second[keep]
    arrivals = np.bincount(second, minlength=length).astype(np.float64)[:length]

    def mean(values: FloatArray) -> FloatArray:
        work = np.bincount(second, weights=values[keep], minlength=length)[:length]
        return np.divide(work, arrivals, out=np.zeros(length), where=arrivals > 0)

    return Trace(
        arrivals, mean(served), source, {k: mean(v) for k, v in sorted(per_chainlet.items())}
    )


def from_rates(
    times: npt.ArrayLike,
    rates: npt.ArrayLike,
    durations: npt.ArrayLike | float,
    source: str,
    seed: int | None = None,
    chainlets: Mapping[str, npt.ArrayLike] | None = None,
) -> Trace:
    """A trace from rates held from each time until the next (the last for as long as the
    step before it), and each chainlet's time per call held as the rate is (`chainlets`).
    Fluid (the rate itself arrives every second) unless `seed` is given, then Poisson
    arrivals drawn from the rate."""
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
    held = {}
    for name, values in sorted((chainlets or {}).items()):
        taken = np.asarray(values, dtype=np.float64)[order]
        if taken.min() <= 0:
            raise IacError(f"{source}: durations must be above 0")
        held[name] = np.where(per_second > 0, np.repeat(taken, lengths), 0.0)
    return Trace(per_second, np.where(per_second > 0, mean, 0.0), source, held)


def load_csv(
    path: str | Path,
    *,
    duration: float | None = None,
    tokens_per_second: float = DEFAULT_TOKENS_PER_SECOND,
    seed: int | None = None,
) -> Trace:
    """Read a request or rate CSV (see the module docstring); `duration` serves rate rows
    without one (default 10 s), `seed` draws Poisson arrivals from rates. A value that is
    not what its column needs is an error at its line (`FILE:LINE: ...`)."""
    path = Path(path)
    source = str(path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = _rows(handle)
    except OSError as exc:
        raise IacError(f"cannot read trace {source}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise IacError(f"{source}: not UTF-8 text ({exc.reason}); save the trace as CSV") from None
    except csv.Error as exc:
        raise IacError(f"{source}: not a CSV file ({exc})") from None
    if not rows:
        raise IacError(f"{source}: empty. {_COLUMNS}")
    header_line, header = rows[0]
    columns = {c.strip().lower(): i for i, c in reversed(list(enumerate(header)))}
    named = ", ".join(c.strip() for c in header)
    time_key = next((k for k in _TIME_COLUMNS if k in columns), None)
    if time_key is None:
        raise IacError(
            f"{source}:{header_line}: no `timestamp` (or `time`) column among {named}"
            f"{_hint(header, _TIME_COLUMNS)} {_COLUMNS}"
        )
    if "rate" in columns:
        value_keys = ["rate", *(["duration"] if "duration" in columns else [])]
    elif "duration" in columns:
        value_keys = ["duration"]
    elif "output_tokens" in columns:
        value_keys = ["output_tokens"]
    else:
        raise IacError(
            f"{source}:{header_line}: no `duration`, `output_tokens` or `rate` column among "
            f"{named}{_hint(header, _VALUES)} {_COLUMNS}"
        )
    reader = _RowReader(source, columns)
    times = reader.times([(line, row) for line, row in rows[1:]], time_key)
    values = {key: [reader.number(line, row, key) for line, row in rows[1:]] for key in value_keys}
    chainlets = reader.chainlet_durations(rows[1:])
    if "rate" in columns:
        served: list[float] | float = values.get(
            "duration", duration if duration is not None else DEFAULT_DURATION
        )
        return from_rates(times, values["rate"], served, source, seed, chainlets)
    if "duration" in values:
        return from_requests(times, values["duration"], source, chainlets=chainlets)
    each = [tokens / tokens_per_second for tokens in values["output_tokens"]]
    return from_requests(times, each, source, chainlets=chainlets)


CHAINLET_DURATION = "duration_"
"""The prefix of a column giving a chainlet's own time per call (`duration_llm`)."""


_TIME_COLUMNS = ("timestamp", "time", "second")
_COLUMNS = (
    "The first line names the columns: a request trace timestamp,duration (or "
    "timestamp,output_tokens), a rate trace time,rate (and duration)"
)


def _hint(header: list[str], wanted: Iterable[str]) -> str:
    """`; did you mean 'timestamp'?` for the first column close to a wanted name, else `.`"""
    return next((h for h in (did_you_mean(c.strip(), wanted) for c in header) if h), ".")


def _rows(handle: TextIO) -> list[tuple[int, list[str]]]:
    """The CSV's records with the line each starts on; comment lines (`#`) and blank lines
    are left out."""
    numbers: list[int] = []

    def lines() -> Iterator[str]:
        for number, line in enumerate(handle, start=1):
            if not line.startswith("#"):
                numbers.append(number)
                yield line

    found = []
    reader = csv.reader(lines())
    consumed = 0
    for row in reader:
        start = numbers[consumed]
        consumed = reader.line_num
        if any(cell.strip() for cell in row):
            found.append((start, row))
    return found


@dataclass(frozen=True, slots=True)
class _RowReader:
    """Values of a trace's rows, each checked where it is written."""

    source: str
    columns: Mapping[str, int]

    def cell(self, line: int, row: list[str], key: str) -> str:
        index = self.columns[key]
        if index >= len(row) or not row[index].strip():
            raise IacError(
                f"{self.source}:{line}: no {key} (the row has {_plural(len(row), 'value')}, "
                f"{key} is column {index + 1}); give every row a value in each column"
            )
        return row[index].strip()

    def number(self, line: int, row: list[str], key: str, kind: str = "") -> float:
        """The number in column `key`, checked as a `kind` (default: the column's own)."""
        text = self.cell(line, row, key)
        what, lowest, strict = _VALUES[kind or key]
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value < lowest or (strict and value == lowest):
            bound = "above 0" if strict else "0 or more"
            raise IacError(f"{self.source}:{line}: {key} '{text}': write {what}, {bound}")
        return value

    def chainlet_durations(self, rows: list[tuple[int, list[str]]]) -> dict[str, list[float]]:
        """Each `duration_<chainlet>` column's values, by chainlet."""
        return {
            key.removeprefix(CHAINLET_DURATION): [
                self.number(line, row, key, "duration") for line, row in rows
            ]
            for key in self.columns
            if key.startswith(CHAINLET_DURATION) and key != CHAINLET_DURATION
        }

    def times(self, rows: list[tuple[int, list[str]]], key: str) -> list[float]:
        """Seconds from the first arrival's second: numbers are seconds, else ISO 8601 (one
        kind throughout)."""
        seconds: list[float] = []
        kind: tuple[str, int] | None = None  # "seconds" or "ISO 8601", and its first line
        for line, row in rows:
            text = self.cell(line, row, key)
            try:
                value, found = float(text), "seconds"
            except ValueError:
                try:
                    value, found = datetime.fromisoformat(text).timestamp(), "ISO 8601"
                except ValueError:
                    raise IacError(
                        f"{self.source}:{line}: {key} '{text}' is neither seconds (12.5) nor "
                        "an ISO 8601 time (2026-11-27T10:00:00Z); write one of them"
                    ) from None
            if not math.isfinite(value):
                raise IacError(f"{self.source}:{line}: {key} '{text}': write a finite number")
            if kind is None:
                kind = (found, line)
            elif kind[0] != found:
                raise IacError(
                    f"{self.source}:{line}: {key} '{text}' is {found}, but line {kind[1]}'s is "
                    f"{kind[0]}; write every time the same way"
                )
            seconds.append(value)
        if not seconds:
            return []
        origin = math.floor(min(seconds))
        return [s - origin for s in seconds]


_VALUES: Mapping[str, tuple[str, float, bool]] = {
    "rate": ("a number of requests per second", 0.0, False),
    "duration": ("the seconds a replica spends on a request", 0.0, True),
    "output_tokens": ("a number of tokens", 0.0, True),
}
"""Column → (what it holds, its lowest value, whether that value is excluded)."""


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"
