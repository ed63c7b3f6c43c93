"""Synthetic traffic for the simulator, seeded: `steady`, `poisson`, `diurnal`, `bursts`, and
their parameters as written on the command line (`diurnal:peak=12,trough=1,duration=20,seed=7`).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from iac.diagnostics import did_you_mean
from iac.errors import IacError
from iac.simulate.trace import DAY, DEFAULT_DURATION, FloatArray, Trace
from iac.spec.types import format_duration, parse_duration


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


@dataclass(frozen=True, slots=True)
class Parameter:
    """A generator parameter as written on the command line."""

    placeholder: str
    """How the usage shows its value: `rate=R`."""
    meaning: str
    parse: Callable[[str], float | int]


def _number(text: str) -> float:
    value = float(text)
    if not math.isfinite(value) or value < 0:
        raise ValueError
    return value


def _positive(text: str) -> float:
    value = _number(text)
    if value <= 0:
        raise ValueError
    return value


def _span(text: str) -> int:
    value = parse_duration(text)
    if value <= 0:
        raise ValueError
    return value


def _hours(text: str) -> int:
    seconds = round(_positive(text) * 3600)
    if seconds < 1:
        raise ValueError
    return seconds


def _seed(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError
    return value


def _hour_of_day(text: str) -> float:
    value = _number(text)
    if value >= 24:
        raise ValueError
    return value


PARAMETERS: Mapping[str, Parameter] = {
    "rate": Parameter("rate=R", "the requests per second, 0 or more", _number),
    "peak": Parameter("peak=P", "the requests per second at the peak, 0 or more", _number),
    "trough": Parameter("trough=T", "the requests per second at the trough, 0 or more", _number),
    "base": Parameter("base=B", "the requests per second between bursts, 0 or more", _number),
    "peak_hour": Parameter("peak_hour=H", "the hour of the peak, 0 up to 24", _hour_of_day),
    "every": Parameter(
        "every=D", "the stretch holding one burst, a duration above 0 like 90, 15m or 2h", _span
    ),
    "length": Parameter(
        "length=D", "how long a burst lasts, a duration above 0 like 90, 15m or 2h", _span
    ),
    "duration": Parameter("duration=S", "the seconds a request is served, above 0", _positive),
    "hours": Parameter("hours=H", "the hours of traffic, above 0", _hours),
    "seconds": Parameter(
        "seconds=D", "the length of the trace, a duration above 0 like 90, 15m or 24h", _span
    ),
    "seed": Parameter("seed=N", "a whole number, 0 or more", _seed),
}
"""Every generator parameter: how it is written and what it takes. `hours` and `seconds`
both set the generator's `seconds`."""


def parameters(kind: str) -> list[str]:
    """The parameters a generator takes, as written: its function's, `hours` for `seconds`."""
    names = list(inspect.signature(GENERATORS[kind]).parameters)
    return [name for n in names for name in (("hours", "seconds") if n == "seconds" else (n,))]


def _required(kind: str) -> list[str]:
    return [
        name
        for name, p in inspect.signature(GENERATORS[kind]).parameters.items()
        if p.default is inspect.Parameter.empty
    ]


def _usage(kind: str) -> str:
    """`rate=R (required: requests per second, 0 or more), duration=S (...; default 10)...`"""
    signature = inspect.signature(GENERATORS[kind]).parameters
    described = []
    for name in parameters(kind):
        if name == "seconds":
            continue  # `hours` is the documented way; `seconds=` stays accepted
        parameter = PARAMETERS[name]
        default = signature["seconds" if name == "hours" else name].default
        if default is inspect.Parameter.empty:
            described.append(f"{parameter.placeholder} (required: {parameter.meaning})")
            continue
        if name == "hours":
            shown = f"{default / 3600:g}"
        elif name in ("every", "length"):
            shown = format_duration(default)
        else:
            shown = f"{default:g}"
        described.append(f"{parameter.placeholder} ({parameter.meaning}; default {shown})")
    return f"{kind} takes " + ", ".join(described)


def generator_parameters(spec: str) -> tuple[str, dict[str, float | int]]:
    """`KIND:key=value,...` → the generator and its parameters as written, checked: an
    unknown generator or parameter, a value out of range or a missing one is an error that
    lists what the generator takes."""
    kind, _, rest = spec.partition(":")
    kind = kind.strip()
    if kind not in GENERATORS:
        raise IacError(
            f"'{spec}': no trace generator '{kind}'{did_you_mean(kind, GENERATORS) or '.'} "
            f"Generators: {', '.join(GENERATORS)}; or name a CSV file"
        )
    valid = parameters(kind)
    params: dict[str, float | int] = {}
    written: dict[str, str] = {}
    for item in filter(None, (p.strip() for p in rest.split(","))):
        key, eq, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not eq or not key:
            raise IacError(f"'{item}' in '{spec}': write key=value. {_usage(kind)}")
        if key not in valid:
            if key == "seed":
                hint = ": its arrivals are not random (poisson:rate=R draws them at random)."
            else:
                hint = did_you_mean(key, valid) or "."
            raise IacError(
                f"'{item}' in '{spec}': {kind} has no parameter '{key}'{hint} {_usage(kind)}"
            )
        target = "seconds" if key in ("hours", "seconds") else key
        if target in written:
            twice = (
                f"{key} is given twice"
                if written[target] == key
                else f"{written[target]} and {key} both set how long the trace lasts"
            )
            raise IacError(f"'{item}' in '{spec}': {twice}; give one")
        written[target] = key
        try:
            params[target] = PARAMETERS[key].parse(value)
        except ValueError:
            raise IacError(
                f"'{item}' in '{spec}': {key} takes {PARAMETERS[key].meaning}, not '{value}'"
            ) from None
    missing = [n for n in _required(kind) if n not in params]
    if missing:
        raise IacError(
            f"'{spec}': {kind} needs {', '.join(PARAMETERS[n].placeholder for n in missing)}. "
            f"{_usage(kind)}"
        )
    return kind, params


def synthetic(spec: str, *, seed: int | None = None, duration: float | None = None) -> Trace:
    """`KIND:key=value,...`, e.g. `diurnal:peak=12,trough=1,duration=20,seed=7`; durations
    (`seconds`, `every`, `length`) take `90`, `15m`, `24h`; `hours=N` sets `seconds`.

    `seed` and `duration` (the command's `--seed` and `--duration`) apply where the
    generator does not set its own: a parameter written in the generator wins, as a rate
    CSV's `duration` column wins over `--duration`."""
    kind, params = generator_parameters(spec)
    accepted = parameters(kind)
    if seed is not None and "seed" in accepted:
        params.setdefault("seed", seed)
    if duration is not None and "duration" in accepted:
        params.setdefault("duration", duration)
    return GENERATORS[kind](**params)


def overridden(spec: str, *, seed: int | None = None, duration: float | None = None) -> list[str]:
    """What `--seed` and `--duration` do not change for this generator, for the reader:
    a parameter the generator sets itself, or a generator without randomness."""
    kind, params = generator_parameters(spec)
    notes = []
    if seed is not None:
        if "seed" not in parameters(kind):
            notes.append(
                f"--seed {seed} has no effect on {kind}: its arrivals are not random "
                "(poisson:rate=R draws them at random)"
            )
        elif params.get("seed", seed) != seed:
            notes.append(
                f"--seed {seed} does not apply: the generator's own seed={params['seed']} "
                "does (a parameter of the generator wins over the flag)"
            )
    if duration is not None and params.get("duration", duration) != duration:
        notes.append(
            f"--duration {duration:g} does not apply: the generator's own "
            f"duration={params['duration']:g} does (a parameter of the generator wins over "
            "the flag)"
        )
    return notes
