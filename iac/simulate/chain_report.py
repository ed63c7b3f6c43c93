"""A chain's simulation (`iac.simulate.chain`) as text, markdown or JSON: what each chainlet
was given and assumed, a column of figures per chainlet and one for the chain, its
replicas over time."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from iac.reports import Style
from iac.simulate.chain import ChainletRun, ChainRun
from iac.simulate.report import ROWS, describe, per_minute, report_for, setup_dict, span, sparkline

_NAMES = {"compiled": "as compiled", "baseten": "Baseten §5.2"}
_CHAIN_NOTE = (
    "a chainlet's figures count its calls; the chain's: costs, hours and starts added up, "
    "the peak of all replicas at once, and the rest per request at the worst chainlet (a "
    "request waiting at two chainlets waits their sum: at least the chain's waits shown)"
)


@dataclass(frozen=True, slots=True)
class ChainReport:
    stack: str
    run: ChainRun


def _fan_out(run: ChainRun) -> str:
    """`each request at router (the entrypoint) calls embedder 1×, llm 2×, in the second
    it arrives`."""
    entry, *rest = run.chainlets
    calls = ", ".join(f"{c.chainlet} {c.calls}×" for c in rest) or "no chainlet"
    return (
        f"each request at {entry.chainlet} (the entrypoint) calls {calls}, in the second it arrives"
    )


def _chainlet_lines(chainlet: ChainletRun, stack: str, run: ChainRun) -> list[tuple[str, str]]:
    calls = chainlet.trace
    lines = [
        (
            chainlet.chainlet,
            f"model {chainlet.model}: {calls.requests:,.0f} calls, "
            f"{calls.mean_duration:.3g} s each on average ({chainlet.duration_basis})",
        )
    ]
    single = report_for(
        stack,
        chainlet.model,
        run.environment,
        calls,
        chainlet.setups,
        (chainlet.simulation,),
    )
    lines += [(f"  {key}", value) for key, value in describe(single)[1:]]
    return lines


def _described(report: ChainReport) -> list[tuple[str, str]]:
    run = report.run
    trace = run.trace
    lines = [
        (
            "trace",
            f"{trace.source}: {span(trace.seconds)}, {trace.requests:,.0f} requests, "
            f"{trace.mean_duration:.3g} s each on average",
        ),
        ("calls", _fan_out(run)),
    ]
    for chainlet in run.chainlets:
        lines += _chainlet_lines(chainlet, report.stack, run)
    return lines


def _table(run: ChainRun) -> tuple[list[str], list[list[str]]]:
    summaries = [c.summary() for c in run.chainlets] + [run.summary()]
    headers = ["", *(c.chainlet for c in run.chainlets), f"chain {run.chain}"]
    rows = [[label, *(cell(s) for s in summaries)] for _, label, cell in ROWS]
    return headers, rows


def _charts(run: ChainRun, width: int) -> list[str]:
    seconds = run.trace.seconds
    column = span(max(1, round(seconds / max(1, min(width, seconds)))))
    label = max(len(c.chainlet) for c in run.chainlets)
    lines = [f"replicas over {span(seconds)} (one column = {column}; each scaled to its peak)"]
    for chainlet in run.chainlets:
        pods = chainlet.simulation.pods()
        top = float(pods.max()) if pods.size else 0.0
        bars = sparkline(pods, width, top) if top > 0 else " " * min(width, seconds)
        lines.append(f"{chainlet.chainlet.ljust(label)}  {bars}  peak {int(top)}")
    return lines


def to_text(report: ChainReport, style: Callable[..., str] | None = None, width: int = 72) -> str:
    paint = style or (lambda text, **_: text)
    run = report.run
    title = (
        f"iac simulate {report.stack}: chain {run.chain} / {run.environment} "
        f"({_NAMES.get(run.algorithm, run.algorithm)})"
    )
    lines = [paint(title, bold=True), ""]
    described = _described(report)
    key_width = max(len(k) for k, _ in described)
    lines += [f"{k.ljust(key_width)}  {v}" for k, v in described]
    lines.append("")
    headers, rows = _table(run)
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    lines.append(paint(line(headers), bold=True))
    lines += [line(row) for row in rows]
    lines.append(f"({_CHAIN_NOTE})")
    lines.append("")
    lines += _charts(run, width)
    lines += [paint(f"warning: {w}", fg="yellow") for w in run.warnings]
    return "\n".join(lines) + "\n"


def to_markdown(report: ChainReport) -> str:
    run = report.run
    lines = [f"### iac simulate: chain `{run.chain}` / `{run.environment}`", ""]
    # A chainlet's serving, cold start and autoscaler nested under it.
    lines += [
        f"{k[: len(k) - len(k.lstrip())]}- **{k.strip()}**: {v}" for k, v in _described(report)
    ]
    lines.append("")
    headers, rows = _table(run)
    lines.append("| " + " | ".join(headers) + " |")
    lines.append("|---" + "|---:" * (len(headers) - 1) + "|")
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    lines += ["", f"_{_CHAIN_NOTE}_", "", "```", *_charts(run, 60), "```"]
    lines += [f"> **warning**: {w}" for w in run.warnings]
    return "\n".join(lines) + "\n"


def to_dict(report: ChainReport) -> dict[str, Any]:
    run = report.run
    trace = run.trace
    return {
        "stack": report.stack,
        "chain": run.chain,
        "environment": run.environment,
        "algorithm": run.algorithm,
        "trace": {
            "source": trace.source,
            "seconds": trace.seconds,
            "requests": round(trace.requests, 1),
            "mean_duration": round(trace.mean_duration, 3),
        },
        "chainlets": [
            {
                "chainlet": c.chainlet,
                "model": c.model,
                "calls_per_request": c.calls,
                "calls": round(c.trace.requests, 1),
                "mean_duration": round(c.trace.mean_duration, 3),
                "duration_basis": c.duration_basis,
                "deployments": [setup_dict(s) for s in c.setups],
                "summary": c.summary(),
                "replicas_per_minute": per_minute(c.simulation.pods()),
                "warnings": c.simulation.warnings,
            }
            for c in run.chainlets
        ],
        "summary": run.summary(),
    }


def to_json(report: ChainReport) -> str:
    return json.dumps(to_dict(report), indent=2) + "\n"


@dataclass(frozen=True)
class ChainSimulationView:
    """What `iac simulate --model <chain>` prints (`iac.reports.Report`)."""

    report: ChainReport

    def text(self, style: Style) -> str:
        return to_text(self.report, style)

    def markdown(self) -> str:
        return to_markdown(self.report)

    def json(self) -> str:
        return to_json(self.report)
