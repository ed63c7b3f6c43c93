"""Benchmark of `iac simulate`: one model-day at one-second resolution (target < 20 ms), and
a hundred of them. Prints a markdown table, and puts it into docs/benchmarks.md (`--out`).

    .venv/bin/python benchmarks/simulate.py [--repeat 21] [--out FILE]

Cases (each a day, 86,400 one-second steps, the autoscaler deciding every 15 s):
- chat: stacks/demo.yaml llama-3-8b/production under examples/traces/chat-day.csv (Poisson
  arrivals, seed 7): 533,000 requests, a launch burst that queues;
- embeddings: bge-large/production (scale to zero) under the bundled request trace;
- overloaded: the chat trace at 3x on max 2 replicas, queueing for most of the day, so nearly
  every second is walked one by one (the slow path's cost);
- 100 models: the chat case a hundred times, as `iac plan` over a large stack would.
The trace is loaded once and is not timed; the times are of `engine.run` per model-day.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.doc import replace_section  # noqa: E402
from benchmarks.timing import samples  # noqa: E402
from iac.compile import compile_stack  # noqa: E402
from iac.simulate.autoscalers import Baseten, KedaHpa  # noqa: E402
from iac.simulate.engine import run  # noqa: E402
from iac.simulate.setup import setup_for  # noqa: E402
from iac.simulate.trace import Trace, load_csv  # noqa: E402
from iac.validate import check_stack  # noqa: E402


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float, float]:
    """Median and best wall time, and median CPU time of this process (seconds), over
    `repeat` runs after one warm-up. CPU time leaves out waiting for a core on a loaded
    machine."""
    fn()
    runs = samples(fn, repeat)
    return statistics.median(runs.wall), min(runs.wall), statistics.median(runs.cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=21)
    parser.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    args = parser.parse_args()
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")

    stack = check_stack(str(ROOT / "stacks/demo.yaml"))
    compiled = compile_stack(stack)
    [chat_setup] = setup_for(compiled, stack.spec.pricing, "llama-3-8b", "production")
    [embed_setup] = setup_for(compiled, stack.spec.pricing, "bge-large", "production")
    chat = load_csv(ROOT / "examples/traces/chat-day.csv", seed=7)
    embeddings = load_csv(ROOT / "examples/traces/embeddings-requests.csv")
    embeddings = Trace(_day(embeddings.arrivals), _day(embeddings.durations), embeddings.source)
    overloaded = Trace(chat.arrivals * 3, chat.durations, "chat x3")
    small = type(chat_setup.scaler)(
        **{
            **{f: getattr(chat_setup.scaler, f) for f in chat_setup.scaler.__dataclass_fields__},
            "max_replicas": 2,
        }
    )
    overloaded_setup = type(chat_setup)(
        **{
            **{f: getattr(chat_setup, f) for f in chat_setup.__dataclass_fields__},
            "scaler": small,
        }
    )

    rows = []
    cases = [
        ("chat day, KEDA + HPA as compiled", chat, chat_setup, KedaHpa),
        ("chat day, Baseten §5.2", chat, chat_setup, Baseten),
        ("embeddings day (scale to zero), as compiled", embeddings, embed_setup, KedaHpa),
        ("overloaded day (queue most of the day), as compiled", overloaded, overloaded_setup,
         KedaHpa),
    ]  # fmt: skip
    for name, trace, setup, kind in cases:
        result = run(trace, setup, kind(setup.scaler))
        walked = result.walked
        median, best, cpu = timed(
            lambda t=trace, s=setup, k=kind: run(t, s, k(s.scaler)), args.repeat
        )
        rows.append((name, median, best, cpu, f"{walked:,} of {trace.seconds:,}"))

    def hundred() -> None:
        for _ in range(100):
            run(chat, chat_setup, KedaHpa(chat_setup.scaler))

    median, best, cpu = timed(hundred, max(3, args.repeat // 7))
    rows.append(("100 model-days (chat), as compiled", median, best, cpu, "-"))

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [
        f"Measured by `benchmarks/simulate.py` on {platform.machine()}, Python "
        f"{platform.python_version()}, {os.cpu_count()} cores, load average {load_before:.1f} "
        f"before and {load:.1f} after (1 min); median and best of {args.repeat} runs, "
        "in-process, after a warm-up run.",
        "",
        "| case (one model-day, 86,400 s) | median | best | CPU time (median) "
        "| seconds walked one by one |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, median, best, cpu, walked in rows:
        lines.append(
            f"| {name} | {median * 1000:.1f} ms | {best * 1000:.1f} ms | {cpu * 1000:.1f} ms "
            f"| {walked} |"
        )
    table = "\n".join(lines)
    replace_section(Path(args.out), "simulate", table)
    print(table)


def _day(values: object) -> object:
    """Pad a trace to a whole day."""
    import numpy as np

    array = np.asarray(values, dtype=np.float64)
    padded = np.zeros(86_400)
    padded[: min(array.size, 86_400)] = array[:86_400]
    return padded


if __name__ == "__main__":
    main()
