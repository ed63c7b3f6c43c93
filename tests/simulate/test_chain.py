"""`iac simulate --model <chain>` (issue #27): the trace at the entrypoint, fanned out to the
chainlets it calls, each call holding its callee for the callee's own time."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from iac.cli import cli
from iac.compile import compile_stack
from iac.errors import IacError
from iac.simulate import simulate
from iac.simulate.chain import ChainRun, simulate_chain
from iac.simulate.trace import Trace, from_requests, load_csv
from iac.validate import check_stack
from tests.support.stacks import write_stack

# front calls a and b, a calls b: per request front 1 call, a 1, b 2. Fixed replicas where
# the load is known to fit (front: 2 slots for 1 request/s × 2 s; a: 1 slot for 1 call/s ×
# 1 s); b scales on its in-flight metric, 2 slots a replica at a target of 2.
STACK = """\
version: 1
cluster: {name: c, provisioner: existing}
pricing:
  gpu_hourly: {L4: 1.0}
auth: {public: true}
chains:
  qa:
    entrypoint: front
    chainlets:
      front:
        image: org/front:1
        calls: [a, b]
        autoscaling: {concurrency_target: 1, min_replicas: 2, max_replicas: 2}
      a:
        image: org/a:1
        calls: [b]
        resources: {accelerator: L4}
        autoscaling: {concurrency_target: 1, min_replicas: 1, max_replicas: 1}
      b:
        image: org/b:1
        resources: {accelerator: L4}
        metrics: {in_flight: [b_in_flight]}
        autoscaling:
          concurrency_target: 2
          target_utilization: 100
          min_replicas: 1
          max_replicas: 3
    deployments: {v1: {}}
    environments:
      production: {deployment: v1}
"""

SECONDS = 600
# One request a second for ten minutes, 2 s each at the entrypoint, 1 s at a (its column).
TRACE = from_requests(
    np.arange(float(SECONDS)),
    np.full(SECONDS, 2.0),
    "tiny",
    chainlets={"a": np.full(SECONDS, 1.0)},
)
QUIET = {  # nothing waits, nothing starts
    "wait_p50": 0.0, "wait_p95": 0.0, "wait_p99": 0.0, "wait_mean": 0.0, "waited": 0.0,
    "waited_cold": 0.0, "timeouts": 0.0, "unfinished": 0.0, "cold_starts": 0, "activations": 0,
}  # fmt: skip


def _run(tmp_path: Path, b_seconds: float) -> ChainRun:
    stack = check_stack(str(write_stack(tmp_path, STACK)))
    compiled = compile_stack(stack)
    return simulate_chain(
        compiled, stack.spec.pricing, "qa", "production", TRACE, durations={"b": b_seconds}
    )


def test_each_call_holds_its_callee_for_the_callees_time(tmp_path: Path) -> None:
    run = _run(tmp_path, 1.0)
    found = {c.chainlet: (c.calls, c.trace.requests, c.duration_basis) for c in run.chainlets}
    assert found == {
        "front": (1, 600.0, "the request's duration in the trace"),
        "a": (1, 600.0, "the trace's duration_a column"),
        "b": (2, 1200.0, "--chainlet-duration b=1"),
    }
    assert [c.chainlet for c in run.chainlets] == ["front", "a", "b"]  # along the calls
    front, a, b = (c.summary() for c in run.chainlets)
    assert front == {"requests": 600.0, "served": 600.0, **QUIET, "peak_replicas": 2,
                     "replica_hours": 0.33, "gpu_hours": 0.0, "cost": 0.0,
                     "cost_per_month": 0.0}  # fmt: skip
    # An L4 at $1 an hour for ten minutes; a month of it is $730.
    assert a == {"requests": 600.0, "served": 600.0, **QUIET, "peak_replicas": 1,
                 "replica_hours": 0.17, "gpu_hours": 0.17, "cost": 0.17,
                 "cost_per_month": 730.0}  # fmt: skip
    # Two calls a second of 1 s: 2 in flight, one replica of 2 slots, at its target.
    assert b == {"requests": 1200.0, "served": 1200.0, **QUIET, "peak_replicas": 1,
                 "replica_hours": 0.17, "gpu_hours": 0.17, "cost": 0.17,
                 "cost_per_month": 730.0}  # fmt: skip
    assert run.summary() == {
        "peak_replicas": 4, "replica_hours": 0.67, "gpu_hours": 0.33, "cost": 0.33,
        "cost_per_month": 1460.0, "cold_starts": 0, "activations": 0, "requests": 600.0,
        "served": 600.0, "wait_p50": 0.0, "wait_p95": 0.0, "wait_p99": 0.0, "waited": 0.0,
        "waited_cold": 0.0, "timeouts": 0.0, "unfinished": 0.0, "wait_mean": 0.0,
    }  # fmt: skip


def test_a_callee_that_must_scale_up_queues_its_calls(tmp_path: Path) -> None:
    # b's calls take 2 s: 4 in flight where 1 replica holds 2, so b scales up (a free GPU on
    # existing nodes: image 60 s + weights 60 s + engine 30 s) while its calls queue.
    run = _run(tmp_path, 2.0)
    b = run.chainlets[2].summary()
    assert b == {
        "requests": 1200.0, "served": 1200.0, "wait_p50": 7.0, "wait_p95": 74.0,
        "wait_p99": 80.0, "wait_mean": 22.41, "waited": 652.0, "waited_cold": 300.0,
        "timeouts": 0.0, "unfinished": 0.0, "cold_starts": 2, "activations": 0,
        "peak_replicas": 3, "replica_hours": 0.49, "gpu_hours": 0.49, "cost": 0.49,
        "cost_per_month": 2153.5,
    }  # fmt: skip
    # The chain: sums and the joint peak; per request, the worst chainlet (b: 2 calls each).
    assert run.summary() == {
        "peak_replicas": 6, "replica_hours": 0.99, "gpu_hours": 0.66, "cost": 0.66,
        "cost_per_month": 2883.5, "cold_starts": 2, "activations": 0, "requests": 600.0,
        "served": 600.0, "wait_p50": 7.0, "wait_p95": 74.0, "wait_p99": 80.0, "waited": 326.0,
        "waited_cold": 150.0, "timeouts": 0.0, "unfinished": 0.0, "wait_mean": 22.41,
    }  # fmt: skip


def test_a_chainlets_run_is_its_model_under_its_calls(tmp_path: Path) -> None:
    stack = check_stack(str(write_stack(tmp_path, STACK)))
    compiled = compile_stack(stack)
    run = simulate_chain(
        compiled, stack.spec.pricing, "qa", "production", TRACE, durations={"b": 2.0}
    )
    calls = Trace(np.full(SECONDS, 2.0), np.full(SECONDS, 2.0), "tiny")
    _, [alone] = simulate(
        compiled, stack.spec.pricing, "qa-b", "production", calls, algorithms=("compiled",)
    )
    assert run.chainlets[2].summary() == alone.summary()


def test_trace_columns_give_each_chainlets_time_per_call(tmp_path: Path) -> None:
    requests = tmp_path / "requests.csv"
    requests.write_text(
        "timestamp,duration,duration_embedder,Duration_LLM\n0,4,0.1,3\n0.5,6,0.3,5\n2,5,0.2,4\n"
    )
    trace = load_csv(requests)
    assert {k: v.tolist() for k, v in trace.chainlets.items()} == {
        "embedder": [0.2, 0.0, 0.2],
        "llm": [4.0, 0.0, 4.0],
    }
    rates = tmp_path / "rates.csv"
    rates.write_text("time,rate,duration,duration_llm\n0,1,5,4\n2,0,5,4\n3,2,6,5\n")
    held = load_csv(rates)
    assert held.chainlets["llm"].tolist() == [4.0, 4.0, 0.0, 5.0]
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp,duration,duration_llm\n0,4,0\n")
    with pytest.raises(IacError, match=r"bad.csv:2: duration_llm '0': write the seconds"):
        load_csv(bad)


def _cli(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    stack = write_stack(tmp_path, STACK)
    trace = tmp_path / "trace.csv"
    rows = "".join(f"{t},2,1\n" for t in range(SECONDS))
    trace.write_text("timestamp,duration,duration_a\n" + rows)
    result = CliRunner().invoke(
        cli, ["simulate", str(stack), "--trace", str(trace), "--model", "qa", *args]
    )
    return result.exit_code, result.stdout, result.stderr


def test_the_command_reports_each_chainlet_and_the_chain(tmp_path: Path) -> None:
    code, out, err = _cli(tmp_path, "--chainlet-duration", "b=1")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].endswith(": chain qa / production (as compiled)")
    assert (
        lines[3]
        == "calls         each request at front (the entrypoint) calls a 1×, b 2×, in the second it arrives"
    )
    assert (
        lines[4]
        == "front         model qa-front: 600 calls, 2 s each on average (the request's duration in the trace)"
    )
    table = lines[lines.index("") + 1 + lines[lines.index("") + 1 :].index("") + 1 :]
    assert table == [
        "                                  front            a               b     chain qa",
        "peak replicas                         2            1               1            4",
        "replica-hours                       0.3          0.2             0.2          0.7",
        "GPU-hours (billed)                  0.0          0.2             0.2          0.3",
        "cost over the trace               $0.00        $0.17           $0.17        $0.33",
        "cost per month (730 h)               $0         $730            $730       $1,460",
        "requests served              600 of 600   600 of 600  1,200 of 1,200   600 of 600",
        "queue wait p50 / p95 / p99  0 / 0 / 0 s  0 / 0 / 0 s     0 / 0 / 0 s  0 / 0 / 0 s",
        "waited for a cold start               0            0               0            0",
        "timed out (held too long)             0            0               0            0",
        "cold starts (from zero)           0 (0)        0 (0)           0 (0)        0 (0)",
        "(a chainlet's figures count its calls; the chain's: costs, hours and starts added up, "
        "the peak of all replicas at once, and the rest per request at the worst chainlet (a "
        "request waiting at two chainlets waits their sum: at least the chain's waits shown))",
        "",
        "replicas over 10m (one column = 8s; each scaled to its peak)",
        "front  " + "█" * 72 + "  peak 2",
        "a      " + "█" * 72 + "  peak 1",
        "b      " + "█" * 72 + "  peak 1",
    ]
    found = json.loads(_cli(tmp_path, "--chainlet-duration", "b=1", "--format", "json")[1])
    assert [(c["chainlet"], c["calls_per_request"], c["calls"]) for c in found["chainlets"]] == [
        ("front", 1, 600.0), ("a", 1, 600.0), ("b", 2, 1200.0),
    ]  # fmt: skip
    assert found["summary"]["cost_per_month"] == 1460.0
    markdown = _cli(tmp_path, "--chainlet-duration", "b=1", "--format", "markdown")[1]
    assert "|  | front | a | b | chain qa |" in markdown
    assert "\n- **a**: model qa-a: 600 calls, 1 s each on average" in markdown
    assert "\n  - **serving**: v1: 1 requests at once per replica" in markdown


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--chainlet-duration", "c=1"),
         "--chainlet-duration c: chain 'qa' has no chainlet 'c'. Its chainlets: a, b, front"),
        (("--chainlet-duration", "b=fast"), "'b=fast': write CHAINLET=SECONDS, e.g. embedder=0.05"),
        (("--algorithm", "both"), "a chain is simulated by one autoscaler at a time"),
        (("--base", "other.yaml"), "--base is not supported for a chain yet"),
        (("--plot", "x.png"), "--plot draws a model's simulation; a chain's is not drawn yet"),
        (("--environment", "prod"), "chain 'qa' has no environment 'prod' (it has: production)"),
    ],
)  # fmt: skip
def test_the_command_refuses_what_a_chain_cannot_take(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    code, out, err = _cli(tmp_path, *args)
    assert code != 0
    assert message in out + err


def test_a_name_that_is_neither_lists_the_chains(tmp_path: Path) -> None:
    stack = write_stack(tmp_path, STACK)
    result = CliRunner().invoke(
        cli, ["simulate", str(stack), "--trace", "steady:rate=1,hours=1", "--model", "q"]
    )
    assert result.exit_code == 1
    assert "no model 'q'; models: qa-a, qa-b, qa-front; chains: qa" in result.output


def test_the_example_chain_serves_a_day_of_chat_without_queueing_at_the_router() -> None:
    """Example 09's router holds each request while the embedder and the LLM answer: at 1
    request per replica (the default) its 6 replicas served 28,732 of the day's 532,571."""
    root = Path(__file__).parents[2]
    result = CliRunner().invoke(
        cli,
        [
            "simulate",
            str(root / "examples/09-rag-chain/stack.yaml"),
            "--model", "rag",
            "--trace", str(root / "examples/traces/chat-day.csv"),
            "--chainlet-duration", "embedder=0.05",
            "--format", "json",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    served = {
        c["chainlet"]: (c["summary"]["served"], c["summary"]["wait_p99"])
        for c in found["chainlets"]
    }
    assert served["router"] == (532_571, 0)
    assert served["embedder"] == (532_571, 0)
    assert found["summary"]["served"] == found["summary"]["requests"] == 532_571
