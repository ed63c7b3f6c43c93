"""Benchmarks, runnable with one command (`make bench`); figures go to docs/benchmarks.md.

- validate: `iac validate` of a 1,000-model stack (3 deployments, 2 environments each),
  the whole check in-process (read, parse, validate, resolve, cross-check). Target < 1 s.
- render: `iac render` of the same stack (validate + compile + YAML text). Target < 2 s and
  < 500 MB peak, with the compile step within 2x of dumping the same dicts with PyYAML's C
  dumper alone. Its steps are timed on their own too.
- plan: `iac plan` of two such stacks that differ in 10 % of the models (text output).
  Target < 3 s.

The machine may be shared: each figure is the median and the best of several runs, with the
median CPU time of this process beside it (what the work costs when no core is taken by
others), and the load average before and after.
"""

from __future__ import annotations

import argparse
import os
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

from benchmarks.doc import replace_section  # noqa: E402
from benchmarks.generate import changed_stack, large_stack  # noqa: E402
from benchmarks.timing import samples  # noqa: E402
from iac.cli.process import gc_paused  # noqa: E402
from iac.compile import compile_stack  # noqa: E402
from iac.diff.plan import Plan, make_plan  # noqa: E402
from iac.diff.report import to_text  # noqa: E402
from iac.render.text import render  # noqa: E402
from iac.validate import check_stack  # noqa: E402

Timing = tuple[float, float, float, float, float]
"""Median and best wall time, median CPU time, median time freeing the result (s), peak
traced memory (MiB)."""


def timed(fn: Callable[[], object], repeat: int) -> Timing:
    """Median and best wall time and median CPU time over `repeat` runs, the median time
    freeing what a run returned, and the peak traced memory (MiB) of one more."""
    runs = samples(fn, repeat)
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return (
        statistics.median(runs.wall),
        min(runs.wall),
        statistics.median(runs.cpu),
        statistics.median(runs.freeing),
        peak,
    )


def _bulk(fn: Callable[[], object]) -> Callable[[], object]:
    """`fn` as a command of `iac` runs it: with the cyclic GC paused (`iac.cli.process`)."""

    def paused() -> object:
        with gc_paused():
            return fn()

    return paused


def _render(path: str) -> tuple[object, ...]:
    """What `iac render STACK` does, in-process (call it through `_bulk`). It returns all it
    built, to be freed after the clock stops: `iac render` leaves without freeing it
    (`iac.cli.process`)."""
    stack = check_stack(path)
    compiled = compile_stack(stack)
    return stack, compiled, render(compiled.objects)


def _plan(base: str, head: str) -> tuple[Plan, tuple[object, ...]]:
    """What `iac plan HEAD --base BASE` does, in-process (the head's compile reuses the
    base's objects of the models that did not change, as `iac plan` does); call it through
    `_bulk`; returns all it built, like `_render`."""
    base_stack = check_stack(base)
    head_stack = check_stack(head)
    base_compiled = compile_stack(base_stack)
    head_compiled = compile_stack(head_stack, reuse=base_compiled)
    result = make_plan(base_compiled, head_compiled)
    text = to_text(result, "bench")
    return result, (head_stack, base_stack, base_compiled, head_compiled, text)


# The peak RSS of this process's memory (VmHWM, kB). Not `ru_maxrss`: on Linux a child
# started from a large process inherits that process's peak in it (the benchmark process
# holds the compiled stack, 460 MB, which `ru_maxrss` of the child then reports).
_RSS_SCRIPT = (
    "import resource, sys; from iac.cli import cli\n"
    "try:\n    cli(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
    "try:\n"
    "    status = open('/proc/self/status').read().split('VmHWM:')[1].split()[0]\n"
    "except (OSError, IndexError):\n"
    "    status = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
    "print(status, file=sys.stderr)"
)


def _render_process(path: Path, directory: str | None) -> tuple[float, float]:
    """Wall time (s, with Python's start and imports) and peak RSS (MB) of `iac render` in
    a fresh process, as a user runs it: to stdout (a pipe), or with `-o DIR`."""
    args = ["render", str(path)] + (["-o", directory] if directory else [])
    start = time.perf_counter()
    run = subprocess.run(
        [sys.executable, "-c", _RSS_SCRIPT, *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=True,
        cwd=ROOT,
    )
    wall = time.perf_counter() - start
    return wall, int(run.stderr.strip().splitlines()[-1]) / 1024


def _load() -> str:
    return ", ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    args = parser.parse_args()

    load_before = _load()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "stack.yaml"
        path.write_text(large_stack(args.models))
        size_kib = path.stat().st_size / 1024
        with gc_paused():
            stack = check_stack(str(path))
        assert len(stack.models) == args.models
        validate_times = timed(_bulk(lambda: check_stack(str(path))), args.repeat)
        text = path.read_text()
        # Reference point: only parsing the same file with PyYAML's C loader, no checks.
        load_times = timed(lambda: yaml.load(text, Loader=yaml.CSafeLoader), args.repeat)
        render_times = timed(_bulk(lambda: _render(str(path))), args.repeat)
        compile_times = timed(_bulk(lambda: compile_stack(stack)), args.repeat)
        with gc_paused():
            objects = compile_stack(stack).objects
        text_times = timed(_bulk(lambda: render(objects)), args.repeat)
        output_mb = len(render(objects).encode()) / 1e6
        dump_times = timed(
            lambda: yaml.dump_all(objects, Dumper=yaml.CSafeDumper, sort_keys=False), args.repeat
        )
        stdout_process = _render_process(path, None)
        with tempfile.TemporaryDirectory() as out:
            directory_process = _render_process(path, out)
            # The same render again: every file already holds its object, none is written.
            unchanged_process = _render_process(path, out)
        head = Path(tmp) / "head.yaml"
        head.write_text(changed_stack(path.read_text()))
        plan_times = timed(_bulk(lambda: _plan(str(path), str(head))), args.repeat)
        with gc_paused():
            plan_events = len(_plan(str(path), str(head))[0].events)
    load_after = _load()

    rows = [
        (
            f"validate, {args.models} models × 3 deployments × 2 environments ({size_kib:.0f} KiB)",
            validate_times,
            "< 1 s",
        ),
        ("reference: `yaml.load` with CSafeLoader of the same file, nothing else", load_times, "-"),
        (
            f"**render**, same stack ({len(objects)} objects, {output_mb:.0f} MB of YAML): "
            "validate + compile + YAML text",
            render_times,
            "< 2 s",
        ),
        ("compile only (stack → objects)", compile_times, "< 2x the dump below"),
        ("YAML text only (objects → text)", text_times, "-"),
        ("reference: `yaml.dump_all` of the same objects with CSafeDumper", dump_times, "-"),
        (
            f"**plan**, two such stacks, 10 % of models changed ({plan_events} events)",
            plan_times,
            "< 3 s",
        ),
    ]
    lines = [
        "Measured by `make bench` (`benchmarks/run.py`) on "
        f"{platform.machine()}, Python {platform.python_version()}, {platform.system()}, "
        f"{os.cpu_count()} cores; median and best of {args.repeat} runs, in-process. "
        f"Load average (1, 5, 15 min) {load_before} before, {load_after} after.",
        "Each time runs up to the call's return, as `iac` does: freeing what it built is "
        "timed apart (`iac validate`, `render` and `plan` leave without it, "
        "`iac.cli.process`; the fresh-process figures below include everything). CPU time is "
        "this process's (it leaves out waiting for a core); peak memory is what `tracemalloc` "
        "saw during one run (Python allocations).",
        "",
        "| benchmark | median | best | CPU (median) | freeing after | peak memory | target |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for name, (median, best, cpu, freeing, memory), target in rows:
        lines.append(
            f"| {name} | {median * 1000:.0f} ms | {best * 1000:.0f} ms | {cpu * 1000:.0f} ms "
            f"| {freeing * 1000:.0f} ms | {memory:.0f} MiB | {target} |"
        )
    lines += [
        "",
        "`iac render` as a user runs it, in a fresh process (Python's start and imports "
        f"included): to stdout {stdout_process[0]:.2f} s, peak RSS {stdout_process[1]:.0f} MB; "
        f"with `-o DIR` {directory_process[0]:.2f} s, peak RSS {directory_process[1]:.0f} MB "
        "(target < 500 MB); the same render again into that DIR (no file changed, none "
        f"written) {unchanged_process[0]:.2f} s.",
        f"Compile / dump ratio: {compile_times[0] / dump_times[0]:.2f} (target ≤ 2).",
    ]
    table = "\n".join(lines)
    replace_section(Path(args.out), "run", table)
    print(table)


if __name__ == "__main__":
    main()
