"""Requests through the Gateway during rollouts: figures for docs/benchmarks.md (issue #23).

`make bench-gateway` runs the tests that send requests through Traefik on a live cluster
(tests/e2e/test_live_gateway_rollout.py, tests/live/test_gateway_overhead.py) with
IAC_GATEWAY_FIGURES set, so that each adds what it measured to a JSON-lines file, and writes
the figures into the `bench:gateway` section of docs/benchmarks.md. The tests' assertions
hold as always: a failed test fails the benchmark and writes nothing. It needs the live
cluster, the Gateway and the Pulumi engine (built and cached on first use: see
docs/live-cluster.md); about 7 minutes once they are.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.doc import replace_section  # noqa: E402

TESTS = ("tests/live/test_gateway_overhead.py", "tests/e2e/test_live_gateway_rollout.py")
ROLLOUTS = {
    "test_a_rolling_promotion_under_load_fails_no_request": "`iac up`, rolling promotion",
    "test_a_failed_gate_rolls_back_under_load_and_fails_no_request": (
        "`iac up`, gate fails at 50 %, rollback"
    ),
    "test_a_promotion_into_a_split_under_load_fails_no_request": (
        "`iac up`, promotion into an 80/20 split"
    ),
    "test_plain_pulumi_up_of_a_rolling_promotion_under_load_fails_no_request": (
        "plain `pulumi up`, repeated, rolling promotion"
    ),
}


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def weights(stage: dict[str, int]) -> str:
    return "/".join(f"{name.removeprefix('llama-')} {weight}" for name, weight in stage.items())


def section(figures: list[dict[str, Any]], load: tuple[float, float]) -> str:
    overhead = next(f for f in figures if f["test"] == "gateway_overhead")
    through, direct = overhead["through_gateway_s"], overhead["direct_s"]
    lines = [
        f"Measured by `make bench-gateway` (`benchmarks/gateway.py`) on {platform.machine()}, "
        f"Python {platform.python_version()}, {os.cpu_count()} cores, load average "
        f"{load[0]:.1f} before and {load[1]:.1f} after (1 min). Traefik v3.6 on a live "
        "control plane with kwok nodes; stand-in backends (tests/live/standins.py).",
        "",
        f"**Gateway overhead per request**, {overhead['requests']} GETs back to back on one "
        "kept-alive connection: through Traefik "
        f"{ms(through['p50'])} median, {ms(through['p99'])} p99; to the same stand-in "
        f"directly {ms(direct['p50'])} median, {ms(direct['p99'])} p99; so Traefik (and the "
        "proxy standing for the pod network) adds "
        f"{ms(through['p50'] - direct['p50'])} at the median, "
        f"{ms(through['p99'] - direct['p99'])} at p99.",
        "",
        "**Rollouts under a request stream** (40 requests/s to the environment's URL). "
        "*Switch*: from the API server holding a stage's weights to Traefik serving them "
        "(sampled every 0.1 s, so at most this). *Unserved*: the longest stretch in which "
        "the backends Traefik sent production's traffic to had no ready endpoint (goal: none).",
        "",
        "| rollout | requests | failed | stages served (shares answered) | switch | unserved |",
        "|---|---:|---:|---|---|---:|",
    ]
    for test, title in ROLLOUTS.items():
        run = next((f for f in figures if f["test"] == test), None)
        if run is None:
            continue
        stages = " → ".join(
            f"{weights(s['weights'])} ({'/'.join(str(v) for v in s['answered'].values())})"
            for s in run["shares"]
        )
        switches = ", ".join(f"{s['latency_s']:.2f} s" for s in run["switches"])
        lines.append(
            f"| {title} | {run['requests']} | {run['failed']} | {stages} | {switches} | "
            f"{run['longest_unserved_s']:.1f} s |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--doc", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args()
    before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as work:
        target = Path(work) / "figures.jsonl"
        env = {**os.environ, "IAC_GATEWAY_FIGURES": str(target)}
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *TESTS],
            cwd=ROOT, env=env,
        )  # fmt: skip
        if proc.returncode != 0:
            print("bench-gateway: the tests failed; nothing written", file=sys.stderr)
            return proc.returncode
        figures = [json.loads(line) for line in target.read_text().splitlines()]
    text = section(figures, (before, os.getloadavg()[0]))
    replace_section(args.doc, "gateway", text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
