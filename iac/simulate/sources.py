"""What a `--trace` value names: a generator (`KIND:key=value,...`) or a CSV file."""

from __future__ import annotations

from pathlib import Path

from iac.simulate.generators import GENERATORS, synthetic
from iac.simulate.trace import DEFAULT_TOKENS_PER_SECOND, Trace, load_csv


def is_generator(value: str) -> bool:
    """Whether a `--trace` value names a generator rather than a file: `KIND:k=v` that is
    not an existing path."""
    kind, colon, rest = value.partition(":")
    if not colon or Path(value).exists():
        return False
    return kind.strip() in GENERATORS or ("=" in rest and kind.isidentifier())


def load(
    value: str,
    *,
    duration: float | None = None,
    tokens_per_second: float = DEFAULT_TOKENS_PER_SECOND,
    seed: int | None = None,
) -> Trace:
    """A trace named on the command line: a CSV file, or `KIND:...` for a generator.
    `duration` and `seed` apply where the trace does not say (see `synthetic`)."""
    if is_generator(value):
        return synthetic(value, seed=seed, duration=duration)
    return load_csv(value, duration=duration, tokens_per_second=tokens_per_second, seed=seed)
