"""Benchmarks, runnable with one command (`make bench`); figures go to docs/benchmarks.md.

- validate: `iac validate` of a 1,000-model stack (3 deployments, 2 environments each),
  the whole check in-process (read, parse, validate, resolve, cross-check). Target < 1 s.
- plan: `iac plan` of two such stacks that differ in 10 % of the models (text output).
  Target < 3 s.
- render: `iac render` of the same stack (validate + compile + YAML text). Target < 2 s and
  < 500 MB peak, with the compile step within 2x of dumping the same dicts with PyYAML's C
  dumper alone.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from benchmarks.generate import changed_stack, large_stack  # noqa: E402
from iac.compile import compile_stack  # noqa: E402
from iac.diff.plan import Plan, make_plan  # noqa: E402
from iac.diff.report import to_text  # noqa: E402
from iac.render.text import render  # noqa: E402
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


def _plan(base: str, head: str) -> Plan:
    """What `iac plan HEAD --base BASE` does, in-process."""
    base_stack, head_stack = check_stack(base), check_stack(head)
    result = make_plan(compile_stack(base_stack), compile_stack(head_stack))
    to_text(result, "bench")
    return result


def _peak_rss_of_render(path: Path) -> float:
    """Peak RSS (MB) of `iac render` in a fresh process, as a user would run it."""
    script = (
        "import resource, sys; from iac.cli import cli\n"
        "try:\n    cli(['render', sys.argv[1], '-o', sys.argv[2]])\nexcept SystemExit:\n    pass\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    )
    with tempfile.TemporaryDirectory() as out:
        run = subprocess.run(
            [sys.executable, "-c", script, str(path), out],
            capture_output=True,
            text=True,
            check=True,
        )
    return int(run.stdout.strip().splitlines()[-1]) / 1024


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
        render_times = timed(
            lambda: render(compile_stack(check_stack(str(path))).objects), args.repeat
        )
        compile_times = timed(lambda: compile_stack(stack), args.repeat)
        objects = compile_stack(stack).objects
        dump_times = timed(
            lambda: yaml.dump_all(objects, Dumper=yaml.CSafeDumper, sort_keys=False), args.repeat
        )
        peak_rss = _peak_rss_of_render(path)
        head = Path(tmp) / "head.yaml"
        head.write_text(changed_stack(path.read_text()))
        plan_times = timed(lambda: _plan(str(path), str(head)), args.repeat)
        plan_events = len(_plan(str(path), str(head)).events)

    rows = [
        (
            f"validate, {args.models} models × 3 deployments × 2 environments ({size_kib:.0f} KiB)",
            median,
            best,
            peak,
            "< 1 s",
        ),
        ("reference: `yaml.load` with CSafeLoader of the same file, nothing else", *base, "-"),
        (
            f"render, same stack ({len(objects)} objects): validate + compile + YAML text",
            *render_times,
            "< 2 s",
        ),
        ("compile only (stack → objects)", *compile_times, "< 2x the dump below"),
        ("reference: `yaml.dump_all` of the same objects with CSafeDumper", *dump_times, "-"),
        (
            f"plan, two such stacks, 10 % of models changed ({plan_events} events)",
            *plan_times,
            "< 3 s",
        ),
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
    lines += [
        "",
        f"Peak resident memory of a separate `iac render` process on this stack: {peak_rss:.0f} MB "
        "(target < 500 MB).",
        f"Compile / dump ratio: {compile_times[0] / dump_times[0]:.2f} (target ≤ 2).",
    ]
    text = "\n".join(lines) + "\n"
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
