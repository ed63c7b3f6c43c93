"""Benchmarks, runnable with one command (`make bench`); figures go to docs/benchmarks.md.

- validate: `iac validate` of a 1,000-model stack (3 deployments, 2 environments each),
  the whole check in-process (read, parse, validate, resolve, cross-check). Target < 1 s.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from benchmarks.generate import large_stack  # noqa: E402
from iac.validate import check_stack  # noqa: E402


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float, float]:
    """Median and best wall time over `repeat` runs, and peak traced memory (MiB) of one."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return statistics.median(times), min(times), peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "stack.yaml"
        path.write_text(large_stack(args.models))
        size_kib = path.stat().st_size / 1024
        stack = check_stack(str(path))
        assert len(stack.models) == args.models
        median, best, peak = timed(lambda: check_stack(str(path)), args.repeat)
        text = path.read_text()
        # Reference point: only parsing the same file with PyYAML's C loader, no checks.
        base = timed(lambda: yaml.load(text, Loader=yaml.CSafeLoader), args.repeat)

    rows = [
        (
            f"validate, {args.models} models × 3 deployments × 2 environments ({size_kib:.0f} KiB)",
            median,
            best,
            peak,
            "< 1 s",
        ),
        ("reference: `yaml.load` with CSafeLoader of the same file, nothing else", *base, "-"),
    ]
    lines = [
        "# Benchmarks",
        "",
        "Measured by `make bench` (`benchmarks/run.py`) on this project's machine: "
        f"{platform.machine()}, Python {platform.python_version()}, "
        f"{platform.system()}; median and best of {args.repeat} runs, in-process.",
        "Peak memory is what `tracemalloc` saw during one run (Python allocations).",
        "",
        "| benchmark | median | best | peak memory | target |",
        "|---|---|---|---|---|",
    ]
    for name, med, low, mem, target in rows:
        lines.append(
            f"| {name} | {med * 1000:.0f} ms | {low * 1000:.0f} ms | {mem:.0f} MiB | {target} |"
        )
    text = "\n".join(lines) + "\n"
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
