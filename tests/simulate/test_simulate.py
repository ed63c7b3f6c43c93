"""`iac simulate` (issue #9): cases with known answers, the fast path against walking every
second, traces, the report and the command."""

from __future__ import annotations

import ast
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from iac.cli import cli
from iac.compile import Compiled, compile_stack
from iac.errors import IacError
from iac.simulate import Params, generators, simulate, simulate_delta, sources
from iac.simulate import trace as traces
from iac.simulate.autoscalers import Baseten, KedaHpa
from iac.simulate.engine import run
from iac.simulate.report import delta_lines, delta_markdown
from iac.simulate.result import RunResult
from iac.simulate.setup import Setup, setup_for
from iac.simulate.trace import Trace
from iac.validate import check_stack
from tests.support.compile_helpers import ROOT
from tests.support.stacks import compiled_stack, write_stack

# A vLLM model: Prometheus in-flight metric, 64 slots per replica, target 64 × 70 % = 44.8.
LLM = """\
version: 1
imports: [MODULES/vllm.yaml]
cluster: {name: c, provisioner: karpenter}
models:
  llm:
    template: vllm
    params: {hf_model: org/llm}
    resources: {accelerator: H100}
    deployments: {v1: {}}
    environments:
      production:
        deployment: v1
        autoscaling: AUTOSCALING
auth: {public: true}
"""

# One request at a time, no metric: reached through the interceptor (scale from zero).
SINGLE = """\
version: 1
cluster: {name: c, provisioner: karpenter}
models:
  one:
    image: org/one:1
    resources: {accelerator: L4}
    health: {startup_timeout: 10m}
    deployments: {v1: {}}
    environments:
      production:
        deployment: v1
        autoscaling: AUTOSCALING
auth: {public: true}
"""


def compiled(tmp_path: Path, text: str, autoscaling: str, name: str = "stack.yaml") -> Compiled:
    return compiled_stack(tmp_path, text.replace("AUTOSCALING", autoscaling), name)


def one_setup(tmp_path: Path, text: str, autoscaling: str, params: Params | None = None) -> Setup:
    found = compiled(tmp_path, text, autoscaling)
    model = next(iter(found.release.models))
    [setup] = setup_for(found, None, model, "production", params)
    return setup


def both(trace: Trace, setup: Setup, initial: int | None = None) -> dict[str, RunResult]:
    """Each algorithm's run; the fast path must agree with walking every second."""
    results = {}
    for kind in (KedaHpa, Baseten):
        fast = run(trace, setup, kind(setup.scaler), initial)
        walked = run(trace, setup, kind(setup.scaler), initial, walk_all=True)
        assert fast.events == walked.events
        assert np.allclose(fast.waits, walked.waits)
        assert fast.timeouts == pytest.approx(walked.timeouts)
        results[kind.name] = fast
    return results


def changes(result: RunResult) -> list[tuple[int, int]]:
    """(second, replicas) each time the number of replicas changes."""
    pods = result.pods()
    at = np.flatnonzero(np.diff(pods)) + 1
    return [(int(t), int(pods[t])) for t in at]


def constant(rate: float, duration: float, seconds: int) -> Trace:
    return generators.steady(rate, duration, seconds)


# Known answers ------------------------------------------------------------------------------


@pytest.mark.parametrize(("rate", "expected"), [(10, 5), (20, 9), (3, 2)])
def test_constant_load_settles_at_ceil_of_load_over_target(
    tmp_path: Path, rate: float, expected: int
) -> None:
    # Load L = rate × 20 s in flight; target T = 44.8: ceil(200/44.8) = 5, ceil(400/44.8) = 9,
    # ceil(60/44.8) = 2.
    setup = one_setup(tmp_path, LLM, "{min_replicas: 1, max_replicas: 20}")
    load = rate * 20
    assert math.ceil(load / 44.8) == expected
    results = both(constant(rate, 20, 4 * 3600), setup)
    for result in results.values():
        pods = result.pods()
        assert pods[-1] == expected
        assert (pods[-1800:] == expected).all()  # settled for the last half hour
        assert result.unfinished == 0


def test_constant_load_at_its_replica_count_never_scales(tmp_path: Path) -> None:
    setup = one_setup(tmp_path, LLM, "{min_replicas: 1, max_replicas: 20}")
    for result in both(constant(10, 20, 3600), setup, initial=5).values():
        assert changes(result) == []
        assert result.cold_starts == 0
        assert result.wait_percentile(1.0) == 0


def test_hpa_tolerance_keeps_replicas_that_baseten_would_add(tmp_path: Path) -> None:
    # 92 in flight on 2 replicas of 44.8: 92 / 89.6 = 1.027, inside the HPA's 10 % tolerance.
    setup = one_setup(tmp_path, LLM, "{min_replicas: 1, max_replicas: 20}")
    results = both(constant(4.6, 20, 3600), setup, initial=2)
    assert changes(results["compiled"]) == []
    assert results["baseten"].pods()[-1] == 3


@pytest.mark.parametrize("algorithm", ["compiled", "baseten"])
def test_scale_down_halves_a_full_delay_apart(tmp_path: Path, algorithm: str) -> None:
    # Baseten §5.2: "eight excess replicas drains to four, then two, then one, with a full
    # delay between steps". 8 replicas at 340 in flight for 30 minutes, then nothing at once
    # (1 s requests, a 10 s window: the recommendation falls from 8 to 0 within a sync).
    setup = one_setup(
        tmp_path,
        LLM,
        "{min_replicas: 1, max_replicas: 8, scale_down_delay: 10m, autoscaling_window: 10s}",
    )
    rate = np.zeros(3 * 3600)
    rate[:1800] = 340.0  # × 1 s = 340 in flight: 8 replicas (340 / 44.8 = 7.6)
    trace = Trace(rate, np.where(rate > 0, 1.0, 0.0), "drop")
    result = both(trace, setup, initial=8)[algorithm]
    steps = changes(result)
    assert [n for _, n in steps] == [4, 2, 1]
    times = [t for t, _ in steps]
    assert times[1] - times[0] == 600
    assert times[2] - times[1] == 600
    assert 1800 + 600 <= times[0] <= 1800 + 600 + 15


def test_scale_down_follows_a_decaying_metric_within_the_policy(tmp_path: Path) -> None:
    # With 20 s requests and a 60 s window the HPA's recommendations fall through 7, 6, 5...
    # over a minute; it keeps the highest of the last 10 minutes, so it steps down along
    # them, never removing more than 50 % of the replicas it had at the start of a period.
    setup = one_setup(tmp_path, LLM, "{min_replicas: 1, max_replicas: 8, scale_down_delay: 10m}")
    rate = np.zeros(3 * 3600)
    rate[:1800] = 17.0
    trace = Trace(rate, np.where(rate > 0, 20.0, 0.0), "decay")
    result = both(trace, setup, initial=8)["compiled"]
    steps = changes(result)
    assert steps[-1][1] == 1
    assert len(steps) > 3  # more steps than Baseten's three
    pods = result.pods()
    for t, n in steps:
        assert n >= int(pods[max(0, t - 600)] * 0.5)
    assert steps[0][0] >= 1800 + 600


def test_scale_from_zero_costs_one_cold_start_per_activation(tmp_path: Path) -> None:
    # At 70 % utilization Baseten's formula wants ceil(1 / 0.7) = 2 replicas for one request
    # held; at 100 % both algorithms want one.
    setup = one_setup(
        tmp_path,
        SINGLE,
        "{min_replicas: 0, max_replicas: 4, scale_down_delay: 5m, target_utilization: 100}",
    )
    assert setup.scaler.trigger == "interceptor"
    cold = setup.cold.on_new_node  # nodes are removed 10 min after they empty
    assert cold == 180 + 60 + 60 + 30
    arrivals = np.zeros(6 * 3600)
    bursts = [600, 3 * 3600, 5 * 3600]
    arrivals[bursts] = 1.0  # one request at a time: one replica each
    trace = Trace(arrivals, np.where(arrivals > 0, 2.0, 0.0), "bursts")
    for result in both(trace, setup).values():
        assert result.activations == len(bursts)
        assert result.cold_starts == len(bursts)
        assert result.waits.tolist()[-1] == len(bursts)  # every request waited...
        assert result.waits.size == cold + 1  # ...exactly one cold start
        assert result.waited_cold == len(bursts)
        assert result.timeouts == 0
        pods = result.pods()
        assert all(pods[t - 1] == 0 and pods[t] == 1 for t in bursts)


def test_a_node_emptied_recently_starts_faster(tmp_path: Path) -> None:
    setup = one_setup(tmp_path, SINGLE, "{min_replicas: 0, max_replicas: 1, scale_down_delay: 1m}")
    arrivals = np.zeros(3600)
    arrivals[[0, 900]] = 1.0  # the second after scale to zero, within the 10 min node grace
    result = run(Trace(arrivals, arrivals * 1.0, "two"), setup, KedaHpa(setup.scaler))
    assert result.cold_starts == 2
    waited = np.flatnonzero(result.waits).tolist()
    assert waited == [setup.cold.on_warm_node, setup.cold.on_new_node] == [90, 330]


def test_min_equal_to_max_never_scales(tmp_path: Path) -> None:
    setup = one_setup(tmp_path, LLM, "{min_replicas: 3, max_replicas: 3}")
    trace = generators.bursts(
        base=2, peak=40, every=3600, length=600, duration=20, seconds=4 * 3600
    )
    for result in both(trace, setup).values():
        assert changes(result) == []
        assert result.events == ()
        assert result.cold_starts == 0
        assert result.wait_percentile(0.99) > 0  # the bursts queue instead


def test_fifo_waits_of_an_overloaded_replica(tmp_path: Path) -> None:
    # One replica serving one request at a time, 1 s each; two arrive every second for 10 s:
    # the i-th request (from 0) starts at second i, having arrived at i // 2.
    setup = one_setup(tmp_path, SINGLE, "{min_replicas: 1, max_replicas: 1}")
    arrivals = np.zeros(60)
    arrivals[:10] = 2.0
    result = both(Trace(arrivals, np.where(arrivals > 0, 1.0, 0.0), "fifo"), setup)["compiled"]
    expected = np.bincount([i - i // 2 for i in range(20)])
    assert result.waits.tolist() == expected.tolist()
    assert result.wait_percentile(0.5) == 5
    assert result.wait_percentile(1.0) == 10
    queued = result.queued()
    assert queued[9] == 10  # after 10 s: 20 arrived, 10 started
    assert result.in_flight()[9] == 11  # 1 in service + 10 waiting


def test_sub_second_requests_share_a_slot(tmp_path: Path) -> None:
    # 0.25 s each: one slot serves four a second, so four a second never wait.
    setup = one_setup(tmp_path, SINGLE, "{min_replicas: 1, max_replicas: 1}")
    result = run(generators.steady(4, 0.25, 600), setup, KedaHpa(setup.scaler))
    assert result.wait_percentile(1.0) == 0
    assert result.in_flight()[100] == pytest.approx(1.0)


def test_held_requests_time_out_past_the_interceptor_readiness(tmp_path: Path) -> None:
    # readiness timeout = startup budget 600 s + 600 s; a cold start of 1500 + 150 s.
    setup = one_setup(
        tmp_path, SINGLE, "{min_replicas: 0, max_replicas: 1}", Params(node_seconds=1500)
    )
    assert setup.scaler.hold == 1200
    arrivals = np.zeros(4000)
    arrivals[100:400] = 1.0  # arrive while the replica starts (ready at 100 + 1650)
    trace = Trace(arrivals, np.where(arrivals > 0, 1.0, 0.0), "held")
    result = both(trace, setup)["compiled"]
    # Ready at 1750: those that arrived before 1750 - 1200 = 550 were held too long.
    assert result.timeouts == 300
    assert result.served == 0


def test_a_start_slower_than_the_startup_budget_never_serves(tmp_path: Path) -> None:
    setup = one_setup(
        tmp_path, SINGLE, "{min_replicas: 0, max_replicas: 1}", Params(weights_seconds=900)
    )
    result = run(generators.steady(0.1, 1, 3600), setup, KedaHpa(setup.scaler))
    assert result.served == 0
    assert "never get ready" in result.warnings[0]


def test_fast_path_agrees_with_walking_every_second(tmp_path: Path) -> None:
    llm = one_setup(tmp_path, LLM, "{min_replicas: 1, max_replicas: 6}")
    single = one_setup(tmp_path, SINGLE, "{min_replicas: 0, max_replicas: 3}")
    for seed in range(3):
        for trace in (
            generators.diurnal(peak=8, trough=0.5, duration=20, seconds=6 * 3600, seed=seed),
            generators.bursts(
                0.01, 2, every=1800, length=120, duration=3, seconds=6 * 3600, seed=seed
            ),
            generators.poisson(0.3, duration=0.4, seconds=3 * 3600, seed=seed),
        ):
            both(trace, llm)
            both(trace, single)


def test_a_seed_gives_identical_results(tmp_path: Path) -> None:
    setup = one_setup(tmp_path, LLM, "{min_replicas: 1, max_replicas: 6}")

    def once(seed: int) -> tuple[Any, ...]:
        trace = generators.synthetic(f"diurnal:peak=8,trough=1,duration=20,hours=6,seed={seed}")
        result = run(trace, setup, KedaHpa(setup.scaler))
        return (result.events, result.waits.tolist(), result.in_flight().tolist())

    assert once(3) == once(3)
    assert once(3) != once(4)


def test_traffic_split_shares_the_trace(tmp_path: Path) -> None:
    stack = LLM.replace("deployments: {v1: {}}", "deployments: {v1: {}, v2: {}}").replace(
        "deployment: v1", "traffic: {v1: 75, v2: 25}"
    )
    found = compiled(tmp_path, stack, "{min_replicas: 2, max_replicas: 8}")
    setups, [simulation] = simulate(
        found, None, "llm", "production", constant(4, 10, 600), algorithms=("compiled",)
    )
    assert [(s.deployment, s.share) for s in setups] == [("v1", 0.75), ("v2", 0.25)]
    # A warm replica each, plus the room above one replica (7) shared 75/25 (5 and 2).
    assert [s.scaler.max_replicas for s in setups] == [6, 3]
    assert [r.requests for r in simulation.runs] == [1800, 600]
    assert simulation.summary()["requests"] == 2400


# Traces -------------------------------------------------------------------------------------


def test_request_csv_with_durations_and_tokens(tmp_path: Path) -> None:
    path = tmp_path / "requests.csv"
    path.write_text("timestamp,duration\n# a comment\n0.2,2\n0.7,4\n3.5,1\n")
    trace = traces.load_csv(path)
    assert trace.arrivals.tolist() == [2, 0, 0, 1]
    assert trace.durations.tolist() == [3, 0, 0, 1]
    path.write_text("timestamp,output_tokens\n10,400\n11,80\n")
    trace = traces.load_csv(path, tokens_per_second=40)
    assert trace.arrivals.tolist() == [1, 1]
    assert trace.durations.tolist() == [10, 2]


def test_request_csv_with_iso_timestamps(tmp_path: Path) -> None:
    path = tmp_path / "iso.csv"
    path.write_text("timestamp,duration\n2026-11-27T10:00:00.5Z,1\n2026-11-27T10:00:02Z,1\n")
    assert traces.load_csv(path).arrivals.tolist() == [1, 0, 1]


def test_rate_csv_holds_each_rate_until_the_next_row(tmp_path: Path) -> None:
    path = tmp_path / "rates.csv"
    path.write_text("time,rate,duration\n0,2,5\n3,1,8\n")
    trace = traces.load_csv(path)
    assert trace.arrivals.tolist() == [2, 2, 2, 1, 1, 1]
    assert trace.durations.tolist() == [5, 5, 5, 8, 8, 8]
    sampled = traces.load_csv(path, seed=1)
    assert sampled.arrivals.tolist() == traces.load_csv(path, seed=1).arrivals.tolist()
    assert all(float(a).is_integer() for a in sampled.arrivals)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "when,duration\n1,1\n",
            "bad.csv:1: no `timestamp` (or `time`) column among when, duration. The first line "
            "names the columns: a request trace timestamp,duration (or timestamp,output_tokens), "
            "a rate trace time,rate (and duration)",
        ),
        (
            "tiemstamp,duration\n1,1\n",
            "bad.csv:1: no `timestamp` (or `time`) column among tiemstamp, duration; did you mean "
            "'timestamp'? The first line names the columns: a request trace timestamp,duration "
            "(or timestamp,output_tokens), a rate trace time,rate (and duration)",
        ),
        (
            "timestamp\n1\n",
            "bad.csv:1: no `duration`, `output_tokens` or `rate` column among timestamp. The "
            "first line names the columns: a request trace timestamp,duration (or "
            "timestamp,output_tokens), a rate trace time,rate (and duration)",
        ),
        (
            "timestamp,duration\n1,0\n",
            "bad.csv:2: duration '0': write the seconds a replica spends on a request, above 0",
        ),
        (
            "timestamp,duration\n# a comment\n\n1,1\n2,x\n",
            "bad.csv:5: duration 'x': write the seconds a replica spends on a request, above 0",
        ),
        (
            "timestamp,duration\n1,1\n2\n",
            "bad.csv:3: no duration (the row has 1 value, duration is column 2); give every row a "
            "value in each column",
        ),
        (
            "time,rate\n0,1\n60,-2\n",
            "bad.csv:3: rate '-2': write a number of requests per second, 0 or more",
        ),
        (
            "timestamp,output_tokens\n1,nan\n",
            "bad.csv:2: output_tokens 'nan': write a number of tokens, above 0",
        ),
        (
            "timestamp,duration\n2026-11-27T10:00:00Z,1\n2026-11-27 10:00:0x,2\n",
            "bad.csv:3: timestamp '2026-11-27 10:00:0x' is neither seconds (12.5) nor an ISO 8601 "
            "time (2026-11-27T10:00:00Z); write one of them",
        ),
        (
            "timestamp,duration\n1,1\n2026-11-27T10:00:00Z,1\n",
            "bad.csv:3: timestamp '2026-11-27T10:00:00Z' is ISO 8601, but line 2's is seconds; "
            "write every time the same way",
        ),
        (
            "",
            "bad.csv: empty. The first line names the columns: a request trace "
            "timestamp,duration (or timestamp,output_tokens), a rate trace time,rate (and "
            "duration)",
        ),
    ],
)
def test_bad_traces_are_explained(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, message: str
) -> None:
    """A bad row is named by its line, with what is wrong and what to write (issue #20:
    `Invalid isoformat string` with no line)."""
    monkeypatch.chdir(tmp_path)
    Path("bad.csv").write_text(text)
    with pytest.raises(IacError) as raised:
        traces.load_csv("bad.csv")
    assert str(raised.value) == message


def test_a_trace_with_a_bom_and_crlf_reads_as_any_other(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes(b"\xef\xbb\xbfTimestamp,Duration\r\n1,2\r\n3,4\r\n")
    trace = traces.load_csv(path)
    assert trace.arrivals.tolist() == [1, 0, 1]
    assert trace.durations.tolist() == [2, 0, 4]


def test_generators_are_seeded_and_named() -> None:
    first = generators.synthetic("poisson:rate=2,duration=5,hours=1,seed=9")
    assert first.seconds == 3600
    assert np.array_equal(first.arrivals, generators.poisson(2, 5, 3600, seed=9).arrivals)
    assert abs(first.requests - 7200) < 400
    day = generators.synthetic("diurnal:peak=10,trough=0,seed=1")
    hourly = day.arrivals.reshape(24, 3600).mean(axis=1)
    assert hourly.argmax() in (13, 14)
    assert hourly.argmin() in (1, 2)
    burst = generators.synthetic("bursts:base=0,peak=5,every=1h,length=5m,hours=2,seed=2")
    assert (burst.arrivals > 0).sum() <= 2 * 300


def test_generators_take_seed_and_duration_from_the_command_unless_they_set_their_own() -> None:
    """`--seed` and `--duration` apply to a generator (issue #20: they were ignored); a
    parameter written in the generator wins, as a rate CSV's duration column does."""
    flagged = sources.load("poisson:rate=3,hours=1", seed=7, duration=20)
    assert np.array_equal(flagged.arrivals, generators.poisson(3, 20, 3600, seed=7).arrivals)
    assert flagged.mean_duration == 20
    assert flagged.source == "poisson(rate=3), seed 7"
    assert sources.load("poisson:rate=3,hours=1").source == "poisson(rate=3), seed 0"
    own = sources.load("poisson:rate=3,hours=1,seed=1,duration=4", seed=7, duration=20)
    assert np.array_equal(own.arrivals, generators.poisson(3, 4, 3600, seed=1).arrivals)
    assert generators.overridden("poisson:rate=3,seed=1,duration=4", seed=7, duration=20) == [
        "--seed 7 does not apply: the generator's own seed=1 does (a parameter of the "
        "generator wins over the flag)",
        "--duration 20 does not apply: the generator's own duration=4 does (a parameter of the "
        "generator wins over the flag)",
    ]
    assert generators.overridden("poisson:rate=3,seed=7", seed=7) == []
    assert generators.overridden("steady:rate=3", seed=7) == [
        "--seed 7 has no effect on steady: its arrivals are not random (poisson:rate=R draws "
        "them at random)"
    ]
    steady = sources.load("steady:rate=2,hours=1", duration=30)
    assert (steady.arrivals.sum(), steady.mean_duration) == (7200, 30)


POISSON_TAKES = (
    "poisson takes rate=R (required: the requests per second, 0 or more), duration=S (the "
    "seconds a request is served, above 0; default 10), hours=H (the hours of traffic, above 0; "
    "default 24), seed=N (a whole number, 0 or more; default 0)"
)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            "poisson:rate=3,dur=5",
            "'dur=5' in 'poisson:rate=3,dur=5': poisson has no parameter 'dur'; did you mean "
            f"'duration'? {POISSON_TAKES}",
        ),
        (
            "poisson:rate=1,sed=3",
            f"'sed=3' in 'poisson:rate=1,sed=3': poisson has no parameter 'sed'; did you mean "
            f"'seed'? {POISSON_TAKES}",
        ),
        ("poisson:hours=1", f"'poisson:hours=1': poisson needs rate=R. {POISSON_TAKES}"),
        (
            "poisson:rate=x",
            "'rate=x' in 'poisson:rate=x': rate takes the requests per second, 0 or more, not 'x'",
        ),
        (
            "poisson:rate=1,seed=1.5",
            "'seed=1.5' in 'poisson:rate=1,seed=1.5': seed takes a whole number, 0 or more, not "
            "'1.5'",
        ),
        (
            "poisson:rate=1,hours=1,seconds=2h",
            "'seconds=2h' in 'poisson:rate=1,hours=1,seconds=2h': hours and seconds both set how "
            "long the trace lasts; give one",
        ),
        (
            "steady:rate=1,seed=3",
            "'seed=3' in 'steady:rate=1,seed=3': steady has no parameter 'seed': its arrivals are "
            "not random (poisson:rate=R draws them at random). steady takes rate=R (required: the "
            "requests per second, 0 or more), duration=S (the seconds a request is served, above "
            "0; default 10), hours=H (the hours of traffic, above 0; default 24)",
        ),
        (
            "steady:rate",
            "'rate' in 'steady:rate': write key=value. steady takes rate=R (required: the "
            "requests per second, 0 or more), duration=S (the seconds a request is served, above "
            "0; default 10), hours=H (the hours of traffic, above 0; default 24)",
        ),
        (
            "bursts:base=1,peak=2,every=0",
            "'every=0' in 'bursts:base=1,peak=2,every=0': every takes the stretch holding one "
            "burst, a duration above 0 like 90, 15m or 2h, not '0'",
        ),
        (
            "poison:rate=3",
            "'poison:rate=3': no trace generator 'poison'; did you mean 'poisson'? Generators: "
            "steady, poisson, diurnal, bursts; or name a CSV file",
        ),
        (
            "sine:rate=1",
            "'sine:rate=1': no trace generator 'sine'. Generators: steady, poisson, diurnal, "
            "bursts; or name a CSV file",
        ),
    ],
)
def test_a_bad_generator_parameter_lists_the_valid_ones(spec: str, message: str) -> None:
    """Not Python's `unexpected keyword argument` (issue #20)."""
    with pytest.raises(IacError) as raised:
        sources.load(spec)
    assert str(raised.value) == message


def test_bundled_example_traces_load() -> None:
    chat = traces.load_csv(ROOT / "examples/traces/chat-day.csv")
    assert chat.seconds == 86_400
    embeddings = traces.load_csv(ROOT / "examples/traces/embeddings-requests.csv")
    assert 0 < embeddings.mean_duration < 0.5
    for path in (ROOT / "examples/traces").glob("*.csv"):
        assert path.stat().st_size < 200_000


# The command --------------------------------------------------------------------------------


def write(tmp_path: Path, name: str, autoscaling: str) -> str:
    return str(write_stack(tmp_path, LLM.replace("AUTOSCALING", autoscaling), name))


def test_command_text_shows_figures_and_their_basis(tmp_path: Path) -> None:
    stack = write(tmp_path, "s.yaml", "{min_replicas: 1, max_replicas: 6}")
    result = CliRunner().invoke(
        cli, ["simulate", stack, "--trace", "diurnal:peak=6,trough=1,duration=20,hours=3"]
    )
    assert result.exit_code == 0, result.output
    out = result.output
    assert "iac simulate" in out
    assert "llm / production" in out
    assert "64 requests at once per replica (concurrency_target)" in out
    assert "node 180 s (default: a new GPU node)" in out
    assert "weights 60 s (default: no weights_size declared)" in out
    assert "target 44.8 per replica" in out
    for row in ("queue wait p50 / p95 / p99", "GPU-hours", "timed out", "waited for a cold"):
        assert row in out
    assert "as compiled" in out
    assert "Baseten §5.2" in out
    assert "replicas, peak" in out


def test_command_json_with_base_shows_the_change(tmp_path: Path) -> None:
    base = write(tmp_path, "base.yaml", "{min_replicas: 1, max_replicas: 6}")
    head = write(tmp_path, "head.yaml", "{min_replicas: 3, max_replicas: 6}")
    args = ["simulate", head, "--base", base, "--format", "json"]
    result = CliRunner().invoke(cli, [*args, "--trace", "steady:rate=1,duration=20,hours=2"])
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert [(r["stack"], r["algorithm"]) for r in found["runs"]] == [
        ("base", "compiled"),
        ("head", "compiled"),
    ]
    base_run, head_run = (r["summary"] for r in found["runs"])
    assert base_run["peak_replicas"] == 1
    assert head_run["peak_replicas"] == 3
    change = found["delta"]["compiled"]
    assert change["replica_hours"] == pytest.approx(4.0)
    assert change["cost"] == pytest.approx(head_run["cost"] - base_run["cost"], abs=0.01)
    assert found["deployments"]["head"][0]["cold_start"]["on_new_node"] == 330
    assert len(head_run)
    assert len(found["runs"][1]["replicas_per_minute"]) == 120


# `--base` in every format (issue #20: text and markdown failed with KeyError: 'served'):
# one replica at most against six, under a load that needs two.
WITH_BASE_TEXT = """\
iac simulate head.yaml: llm / production against base.yaml

trace       steady(rate=4): 1h, 14,400 requests, 20 s each on average
serving     head v1: 64 requests at once per replica (concurrency_target); H100 at $6.88 per replica-hour (aws p5.4xlarge on-demand); billed as whole p5.4xlarge instances (1 replica each)
cold start  330 s on a new node = node 180 s (default: a new GPU node) + image 60 s (default) + weights 60 s (default: no weights_size declared) + engine 30 s (default); 90 s on a node emptied less than 10m ago
autoscaler  KEDA + HPA as compiled: in-flight requests averaged over 1m (Prometheus), target 44.8 per replica, 1..1 replicas; every 15s; scale-down after a 15m window, at most 50% per 15m
serving     base v1: 64 requests at once per replica (concurrency_target); H100 at $6.88 per replica-hour (aws p5.4xlarge on-demand); billed as whole p5.4xlarge instances (1 replica each)
cold start  330 s on a new node = node 180 s (default: a new GPU node) + image 60 s (default) + weights 60 s (default: no weights_size declared) + engine 30 s (default); 90 s on a node emptied less than 10m ago
autoscaler  KEDA + HPA as compiled: in-flight requests averaged over 1m (Prometheus), target 44.8 per replica, 1..6 replicas; every 15s; scale-down after a 15m window, at most 50% per 15m

                            base as compiled   head as compiled                change
peak replicas                              6                  1                    -5
replica-hours                            3.5                1.0                  -2.5
GPU-hours (billed)                       4.2                1.0                  -3.2
cost over the trace                   $28.92              $6.88               -$22.04
cost per month (730 h)               $21,115             $5,022              -$16,093
requests served             14,400 of 14,400   11,520 of 14,400                -2,880
queue wait p50 / p95 / p99     0 / 44 / 64 s  356 / 680 / 712 s  +356 / +636 / +648 s
waited for a cold start         1,640 (11 %)                  0                -1,640
timed out (held too long)                  0                  0                     0
cold starts (from zero)                5 (0)              0 (0)                    -5

over 1h (one column = 50s; bars scaled to the peak)
base as compiled  ▃▄▄▆▇██████████████████████▆▄▄▄▄▄▄▄▄▄▄▄▄▄▄▄▄▄▃▃▃▃▃▃▃▃▃▃▃▃▃▃▃▃▃▃▃▃▃▃▃▃▃▃▃  replicas, peak 6
head as compiled  ▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂  replicas, peak 1
in flight         ▁▁▁▁▁▁▁▂▂▂▂▂▂▂▂▂▂▃▃▃▃▃▃▃▃▃▄▄▄▄▄▄▄▄▄▅▅▅▅▅▅▅▅▅▆▆▆▆▆▆▆▆▆▇▇▇▇▇▇▇▇▇▇█████████  requests (head as compiled), peak 2,944
waiting           ▁▁▁▁▁▁▁▁▁▂▂▂▂▂▂▂▂▂▃▃▃▃▃▃▃▃▃▄▄▄▄▄▄▄▄▄▅▅▅▅▅▅▅▅▅▆▆▆▆▆▆▆▆▆▇▇▇▇▇▇▇▇▇█████████  requests (head as compiled), peak 2,880
"""

WITH_BASE_MARKDOWN = """\
### iac simulate: `llm` / `production`

- **trace**: steady(rate=4): 1h, 14,400 requests, 20 s each on average
- **serving**: head v1: 64 requests at once per replica (concurrency_target); H100 at $6.88 per replica-hour (aws p5.4xlarge on-demand); billed as whole p5.4xlarge instances (1 replica each)
- **cold start**: 330 s on a new node = node 180 s (default: a new GPU node) + image 60 s (default) + weights 60 s (default: no weights_size declared) + engine 30 s (default); 90 s on a node emptied less than 10m ago
- **autoscaler**: KEDA + HPA as compiled: in-flight requests averaged over 1m (Prometheus), target 44.8 per replica, 1..1 replicas; every 15s; scale-down after a 15m window, at most 50% per 15m
- **serving**: base v1: 64 requests at once per replica (concurrency_target); H100 at $6.88 per replica-hour (aws p5.4xlarge on-demand); billed as whole p5.4xlarge instances (1 replica each)
- **cold start**: 330 s on a new node = node 180 s (default: a new GPU node) + image 60 s (default) + weights 60 s (default: no weights_size declared) + engine 30 s (default); 90 s on a node emptied less than 10m ago
- **autoscaler**: KEDA + HPA as compiled: in-flight requests averaged over 1m (Prometheus), target 44.8 per replica, 1..6 replicas; every 15s; scale-down after a 15m window, at most 50% per 15m

|  | base as compiled | head as compiled | change |
|---|---:|---:|---:|
| peak replicas | 6 | 1 | -5 |
| replica-hours | 3.5 | 1.0 | -2.5 |
| GPU-hours (billed) | 4.2 | 1.0 | -3.2 |
| cost over the trace | $28.92 | $6.88 | -$22.04 |
| cost per month (730 h) | $21,115 | $5,022 | -$16,093 |
| requests served | 14,400 of 14,400 | 11,520 of 14,400 | -2,880 |
| queue wait p50 / p95 / p99 | 0 / 44 / 64 s | 356 / 680 / 712 s | +356 / +636 / +648 s |
| waited for a cold start | 1,640 (11 %) | 0 | -1,640 |
| timed out (held too long) | 0 | 0 | 0 |
| cold starts (from zero) | 5 (0) | 0 (0) | -5 |

```
over 1h (one column = 1m; bars scaled to the peak)
base as compiled  ▃▄▆▇███████████████████▄▄▄▄▄▄▄▄▄▄▄▄▄▄▄▃▃▃▃▃▃▃▃▃▃▃▃▃▃▃▃▃▃▃▃▃▃  replicas, peak 6
head as compiled  ▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂▂  replicas, peak 1
in flight         ▁▁▁▁▁▁▂▂▂▂▂▂▂▂▃▃▃▃▃▃▃▄▄▄▄▄▄▄▄▅▅▅▅▅▅▅▅▆▆▆▆▆▆▆▇▇▇▇▇▇▇▇████████  requests (head as compiled), peak 2,944
waiting           ▁▁▁▁▁▁▁▂▂▂▂▂▂▂▂▃▃▃▃▃▃▃▄▄▄▄▄▄▄▄▅▅▅▅▅▅▅▆▆▆▆▆▆▆▆▇▇▇▇▇▇▇████████  requests (head as compiled), peak 2,880
```
"""


def _with_base(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str) -> str:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "base.yaml", "{min_replicas: 1, max_replicas: 6}")
    write(tmp_path, "head.yaml", "{min_replicas: 1, max_replicas: 1}")
    trace = "steady:rate=4,duration=20,hours=1"
    args = ["simulate", "head.yaml", "--base", "base.yaml", "--trace", trace, "--format", fmt]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_command_text_with_base(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert _with_base(tmp_path, monkeypatch, "text") == WITH_BASE_TEXT


def test_command_markdown_with_base(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert _with_base(tmp_path, monkeypatch, "markdown") == WITH_BASE_MARKDOWN


def test_command_json_with_base(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    found = json.loads(_with_base(tmp_path, monkeypatch, "json"))
    assert (found["stack"], found["base_stack"]) == ("head.yaml", "base.yaml")
    assert found["delta"] == {
        "compiled": {
            "peak_replicas": -5,
            "replica_hours": -2.54,
            "gpu_hours": -3.2,
            "cost": -22.04,
            "cost_per_month": -16092.61,
            "served": -2880.0,
            "wait_p50": 356.0,
            "wait_p95": 636.0,
            "wait_p99": 648.0,
            "waited_cold": -1640.0,
            "timeouts": 0.0,
            "cold_starts": -5,
        }
    }


def test_command_with_base_and_both_algorithms(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "base.yaml", "{min_replicas: 1, max_replicas: 6}")
    write(tmp_path, "head.yaml", "{min_replicas: 1, max_replicas: 1}")
    args = ["simulate", "head.yaml", "--base", "base.yaml", "--algorithm", "both"]
    result = CliRunner().invoke(cli, [*args, "--trace", "steady:rate=4,duration=20,hours=1"])
    assert result.exit_code == 0, result.output
    header = next(line for line in result.stdout.splitlines() if "change" in line)
    assert header.split("  ")[-1].strip() == "change Baseten §5.2"
    assert "change as compiled" in header
    served = next(line for line in result.stdout.splitlines() if line.startswith("requests served"))
    assert served.split()[-2:] == ["-2,880", "-2,880"]


def test_command_seed_and_duration_reach_a_generator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = write(tmp_path, "s.yaml", "{min_replicas: 1, max_replicas: 2}")
    args = ["simulate", stack, "--format", "json", "--seed", "7", "--duration", "20"]
    result = CliRunner().invoke(cli, [*args, "--trace", "poisson:rate=3,hours=1"])
    assert result.exit_code == 0, result.output
    trace = json.loads(result.stdout)["trace"]
    assert (trace["source"], trace["mean_duration"]) == ("poisson(rate=3), seed 7", 20.0)
    assert trace["requests"] == generators.poisson(3, 20, 3600, seed=7).requests
    result = CliRunner().invoke(cli, [*args, "--trace", "poisson:rate=3,hours=1,seed=1"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["trace"]["source"] == "poisson(rate=3), seed 1"
    assert result.stderr == (
        "note: --seed 7 does not apply: the generator's own seed=1 does (a parameter of the "
        "generator wins over the flag)\n"
    )


def test_command_markdown(tmp_path: Path) -> None:
    stack = write(tmp_path, "s.yaml", "{min_replicas: 1, max_replicas: 2}")
    result = CliRunner().invoke(
        cli, ["simulate", stack, "--trace", "steady:rate=1,hours=1", "--format", "markdown"]
    )
    assert result.exit_code == 0, result.output
    assert "| queue wait p50 / p95 / p99 |" in result.output


def test_command_plot(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    stack = write(tmp_path, "s.yaml", "{min_replicas: 1, max_replicas: 4}")
    png = tmp_path / "out.png"
    result = CliRunner().invoke(
        cli, ["simulate", stack, "--trace", "steady:rate=3,hours=1", "--plot", str(png)]
    )
    assert result.exit_code == 0, result.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "nope"], "no model 'nope'"),
        (["--environment", "staging"], "has no environment 'staging'"),
        (["--trace", "missing.csv"], "cannot read trace"),
    ],
)
def test_command_errors(tmp_path: Path, args: list[str], message: str) -> None:
    stack = write(tmp_path, "s.yaml", "{min_replicas: 1, max_replicas: 2}")
    trace = [] if "--trace" in args else ["--trace", "steady:rate=1,hours=1"]
    result = CliRunner().invoke(cli, ["simulate", stack, *trace, *args])
    assert result.exit_code == 1
    assert message in result.output


def test_simulate_delta_for_plan(tmp_path: Path) -> None:
    base = compiled(tmp_path, LLM, "{min_replicas: 1, max_replicas: 6}", "base.yaml")
    head = compiled(tmp_path, LLM, "{min_replicas: 2, max_replicas: 6}", "head.yaml")
    trace = generators.steady(1, 20, 3600)
    found = simulate_delta(base, head, "llm", "production", trace)
    assert found["base"]["replica_hours"] == 1
    assert found["head"]["replica_hours"] == 2
    assert found["delta"]["replica_hours"] == 1
    assert found["delta"]["cost"] == pytest.approx(found["head"]["cost"] - found["base"]["cost"])
    json.dumps(found)
    lines = delta_lines(found)
    assert lines[0].startswith("Simulated llm / production")
    assert any("replica-hours: 1.0 → 2.0 (+1.0)" in line for line in lines)
    assert "| replica-hours | 1.0 | 2.0 | +1.0 |" in delta_markdown(found)
    new = simulate_delta(None, head, "llm", "production", trace)
    assert new["base"] is None
    assert new["delta"]["replica_hours"] == 2


def test_a_declared_cold_start_is_used_and_named(tmp_path: Path) -> None:
    from iac.simulate.setup import Params, cold_start
    from iac.validate import check_stack

    path = tmp_path / "stack.yaml"
    path.write_text(
        "version: 1\ncluster: {name: c, provisioner: karpenter}\nmodels:\n"
        "  m: {image: x:1, resources: {accelerator: L4}, cold_start: {node: 2m, weights: 45s},"
        " deployments: {v1: {}}}\n"
        "auth: {public: true}\n"
    )
    deployment = compile_stack(check_stack(str(path))).release.models["m"].deployments["v1"]
    parts = cold_start(deployment, "karpenter", Params())
    assert (parts.node.seconds, parts.node.basis) == (120.0, "declared cold_start")
    assert (parts.weights.seconds, parts.weights.basis) == (45.0, "declared cold_start")
    assert parts.image.basis != "declared cold_start"
    overridden = cold_start(deployment, "karpenter", Params(node_seconds=10))
    assert (overridden.node.seconds, overridden.node.basis) == (10.0, "simulation parameter")


def test_waits_for_a_cold_start_are_filled_in_exactly() -> None:
    # The bundled embeddings day scales to zero some 60 times: requests held while the
    # replica starts (nothing else happens for minutes) are filled in at once, whole sync
    # periods of them decided in bulk, and a scale-down held back by the HPA's rate policy
    # is proved in bulk too. The numbers are those of walking every second, to the bit.
    stack = check_stack(str(ROOT / "stacks/demo.yaml"))
    [setup] = setup_for(compile_stack(stack), stack.spec.pricing, "bge-large", "production")
    trace = traces.load_csv(ROOT / "examples/traces/embeddings-requests.csv")
    for kind in (KedaHpa, Baseten):
        fast = run(trace, setup, kind(setup.scaler))
        walked = run(trace, setup, kind(setup.scaler), walk_all=True)
        assert fast.events == walked.events
        assert fast.waits.tolist() == walked.waits.tolist()
        assert fast.in_flight().tolist() == walked.in_flight().tolist()
        assert fast.queued().tolist() == walked.queued().tolist()
        assert (fast.waited_cold, fast.timeouts, fast.unfinished, fast.cold_starts) == (
            walked.waited_cold,
            walked.timeouts,
            walked.unfinished,
            walked.cold_starts,
        )
        assert walked.walked == trace.seconds
        assert fast.walked < trace.seconds // 20


def test_quiet_ticks_held_by_the_scale_down_policy_match_deciding_each() -> None:
    # 4 → 2 at t = 0 under "at most 50 % per 5 min": recommendations of 1 keep 2 until the
    # removal leaves the period (t = 300, tick 20), then 2 → 1. `quiet` proves the 19 ticks
    # between in bulk, as deciding each one does.
    stack = check_stack(str(ROOT / "stacks/demo.yaml"))
    [setup] = setup_for(compile_stack(stack), stack.spec.pricing, "bge-large", "production")
    scaler = setup.scaler
    assert scaler.down.policies == (("Percent", 50, 300),)
    assert scaler.sync == 15
    one, bulk = KedaHpa(scaler), KedaHpa(scaler)
    for hpa in (one, bulk):
        hpa.reset(60, 0)
        hpa._removed.append((0, 2))
    decided = [one.decide(tick * 15, 1.0, 2, 0.0) for tick in range(1, 21)]
    assert decided == [2] * 19 + [1]
    assert bulk.quiet(1, np.full(40, 1.0), 2, np.zeros(40)) == 19
    assert bulk._recs[1:20] == one._recs[1:20] == [1] * 19


def test_whole_gke_nodes_are_what_a_simulation_bills(monkeypatch: pytest.MonkeyPatch) -> None:
    """On GKE a replica of one H100 runs on an 8-GPU a3-highgpu-8g, billed whole: the
    simulated cost is the node's, as `iac cost` counts it (issue #20), not 1/8 of it."""
    monkeypatch.chdir(ROOT)
    args = ["simulate", "examples/06-gke", "--model", "llama-3-8b", "--format", "json"]
    result = CliRunner().invoke(cli, [*args, "--trace", "steady:rate=1,duration=20,hours=1"])
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    (setup,) = found["deployments"]["head"]
    assert setup["billed_as"] == "whole a3-highgpu-8g nodes (8 GPUs, 8 replicas a node)"
    summary = found["runs"][0]["summary"]
    assert (summary["peak_replicas"], summary["replica_hours"]) == (1, 1.0)
    assert summary["gpu_hours"] == 8.0
    assert summary["cost_per_month"] == round(88.4899999025753 * 730, 2)
    cost = CliRunner().invoke(cli, ["cost", "examples/06-gke", "--format", "json"])
    pools = {p["node_pool"]: p["floor"] for p in json.loads(cost.stdout)["node_pools"]}
    assert summary["cost_per_month"] == pools["gpu-h100"]


def test_the_serving_model_is_written_in_short_functions() -> None:
    """The engine's phases stay one method each (issue #26): none over 60 lines."""
    package = Path(__file__).resolve().parents[2] / "iac" / "simulate"
    long = []
    for name in ("engine.py", "replicas.py", "flow.py", "result.py"):
        tree = ast.parse((package / name).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and node.end_lineno is not None:
                lines = node.end_lineno - node.lineno + 1
                if lines > 60:
                    long.append(f"{name}: {node.name} ({lines} lines)")
    assert long == []


def test_replay_is_what_the_command_prints(tmp_path: Path) -> None:
    """`iac simulate` parses flags and prints; `iac.simulate.replay` decides the rest."""
    from iac.diagnostics import Diagnostics
    from iac.simulate.replay import read_trace, replay, replayed_stack
    from iac.simulate.report import SimulationView

    base = write(tmp_path, "base.yaml", "{min_replicas: 1, max_replicas: 6}")
    head = write(tmp_path, "head.yaml", "{min_replicas: 3, max_replicas: 6}")
    spec = "poisson:rate=1,duration=20,hours=1,seed=1"
    trace, notes = read_trace(spec, None, 30.0, 7)
    assert notes == [
        "--seed 7 does not apply: the generator's own seed=1 does (a parameter of the "
        "generator wins over the flag)"
    ]
    alone = replay(replayed_stack(head, Diagnostics()), trace, Params())
    assert (alone.model, alone.environment) == ("llm", "production")  # the defaults
    assert {s.algorithm for s in alone.simulations} == {"compiled", "baseten"}
    compared = replay(
        replayed_stack(head, Diagnostics()),
        trace,
        Params(),
        base=lambda: replayed_stack(base, Diagnostics(), "base"),
    )
    assert [(s.label, s.algorithm) for s in compared.simulations] == [
        ("base", "compiled"),
        ("head", "compiled"),
    ]
    args = ["simulate", head, "--base", base, "--trace", spec, "--seed", "7", "--format", "json"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert result.stdout == SimulationView(compared).json()


def test_replay_names_an_invalid_base_and_a_trace_it_cannot_use(tmp_path: Path) -> None:
    from iac.diagnostics import Diagnostics
    from iac.simulate.replay import read_trace, replay, replayed_stack

    head = write(tmp_path, "head.yaml", "{min_replicas: 1, max_replicas: 2}")
    broken = write(tmp_path, "base.yaml", "{min_replicas: 3, max_replicas: 2}")
    trace, _ = read_trace("steady:rate=1,hours=1", None, 30.0, None)
    with pytest.raises(IacError, match=r"^the base stack is invalid:\n"):
        replay(
            replayed_stack(head, Diagnostics()),
            trace,
            Params(),
            base=lambda: replayed_stack(broken, Diagnostics(), "base"),
        )
    with pytest.raises(IacError, match="must be above 0"):
        read_trace("steady:rate=1,hours=1", None, 0.0, None)
