"""A plan as markdown (a pull-request comment), within a budget of characters.

The budget is `--max-chars` (by default within GitHub's 65,536 for a comment, with room for
a marker line): where the whole plan is longer, detail goes first (the list of objects, the
rollouts' steps), then repeated rows are grouped, then whole sections and rows, and the
comment says what it left out and where the whole plan is.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from iac.diagnostics import Diagnostic, format_path
from iac.diff.describe import (
    chain_cost_lines,
    deleted_deployments,
    describe,
    describe_rollout,
    endpoint_lines,
    events_by_model,
    money,
    money_change,
    restart_effect,
    symbol,
)
from iac.diff.findings import Finding
from iac.diff.plan import Plan
from iac.rollout.planner import RolloutPlan, Step
from iac.simulate.report import delta_markdown
from iac.spec.types import format_duration

GITHUB_COMMENT_LIMIT = 65_536
"""Characters GitHub takes in a pull-request comment; a longer one is refused."""
DEFAULT_MAX_CHARS = 60_000
"""The markdown plan's default budget: GitHub's limit with room for what a workflow adds
(a marker line) and for counting differences (an emoji is two characters to some)."""
MIN_MAX_CHARS = 2_000
"""The smallest budget a plan's title, cost and the note of what was left out fit in."""


@dataclass(frozen=True, slots=True)
class _Detail:
    """How much of the plan the markdown shows; each field, set to its other value, is one
    cut, in the order they are made (`_CUTS`)."""

    object_list: bool = True
    """Each object that changes (else their count only)."""
    rollout_steps: bool = True
    """Each rollout's table of steps (else one line per rollout)."""
    grouped: bool = False
    """Rows equal but for their model shown once, with the models they are about."""
    simulations: bool = True
    """The replays of traces before and after."""
    added_endpoints: bool = True
    """The endpoints that appear (those that move or go are kept longer)."""
    rollouts: bool = True
    """The rollouts at all (else their count)."""
    rows: int | None = None
    """At most this many rows of each list (events, endpoints, findings, rollouts)."""


_CUTS: tuple[str, ...] = (
    "object_list",
    "rollout_steps",
    "grouped",
    "simulations",
    "added_endpoints",
    "rollouts",
)


def to_markdown(
    plan: Plan,
    title: str,
    max_chars: int | None = DEFAULT_MAX_CHARS,
    whole_plan: str | None = None,
) -> str:
    """The plan as a pull-request comment of at most `max_chars` characters (None: no
    limit). `whole_plan` says where the whole plan is, for the note on what was left out
    (by default: how to get it)."""
    text = _render(plan, title, _Detail(), whole_plan)
    if max_chars is None or len(text) <= max_chars:
        return text
    detail = _Detail()
    for cut in _CUTS:
        detail = replace(detail, **{cut: not getattr(detail, cut)})
        text = _render(plan, title, detail, whole_plan)
        if len(text) <= max_chars:
            return text
    # Then a number of rows per list: the most that fits.
    low, high = 0, max(_row_counts(plan), default=0)
    best = _render(plan, title, replace(detail, rows=0), whole_plan)
    while low <= high:
        middle = (low + high) // 2
        text = _render(plan, title, replace(detail, rows=middle), whole_plan)
        if len(text) <= max_chars:
            best, low = text, middle + 1
        else:
            high = middle - 1
    return best if len(best) <= max_chars else _hard_cut(best, max_chars)


def _row_counts(plan: Plan) -> list[int]:
    return [
        len(plan.events),
        len(plan.findings),
        len(endpoint_lines(plan.endpoints)),
        len(plan.rollouts),
    ]


def _hard_cut(text: str, max_chars: int) -> str:
    """The last resort (a title or a note longer than the budget): whole lines that fit."""
    ending = "\n\n_… cut here to fit the budget (`--max-chars`)._\n"
    kept: list[str] = []
    size = len(ending)
    for line in text.splitlines():
        if size + len(line) + 1 > max_chars:
            break
        kept.append(line)
        size += len(line) + 1
    return "\n".join(kept) + ending if size <= max_chars else ending[-max_chars:]


def _render(plan: Plan, title: str, detail: _Detail, whole_plan: str | None) -> str:
    left: list[str] = []  # what this rendering leaves out, said under the title
    body: list[str] = []
    if not plan.changed:
        body += ["No changes.", ""]
    elif plan.events:
        body += _events_markdown(plan, detail, left)
    if not plan.endpoints.empty:
        body += _endpoints_markdown(plan, detail, left)
    if plan.findings:
        body += _findings_markdown(plan.findings, detail, left)
    body += _cost_markdown(plan.cost)
    if plan.simulations and detail.simulations:
        for simulation in plan.simulations:
            body += [*delta_markdown(simulation), ""]
    elif plan.simulations:
        left.append(_count(len(plan.simulations), "simulated trace"))
    if plan.rollouts:
        body += _rollouts_markdown(plan, detail, left)
    body += _objects_markdown(plan, detail, left)
    out = [f"### {title}", ""]
    if left:
        out += [_left_out_note(left, whole_plan), ""]
    return "\n".join(out + body)


def _left_out_note(parts: list[str], whole_plan: str | None) -> str:
    where = whole_plan or "`iac plan … --format json` prints it"
    return (
        f"✂️ **Shortened to fit the comment** (`--max-chars`): left out {_listed(parts)}. "
        f"The whole plan: {where}."
    )


def _listed(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"


def _count(number: int, thing: str) -> str:
    return f"{number:,} {thing}{'s' if number != 1 else ''}"


def _models(models: list[str], shown: int = 5) -> str:
    """`a`, `2 models: a, b`, `145 models: a, b, c, d, e and 140 more`."""
    if len(models) == 1:
        return models[0]
    names = ", ".join(models[:shown])
    more = f" and {len(models) - shown} more" if len(models) > shown else ""
    return f"{len(models)} models: {names}{more}"


_Row = tuple[Any, ...]


def _grouped(rows: Iterable[tuple[str, _Row]]) -> list[tuple[list[str], _Row]]:
    """(model, row) → (models, row) for each distinct row, in the order first seen."""
    found: dict[_Row, list[str]] = {}
    for model, row in rows:
        found.setdefault(row, []).append(model)
    return [(models, row) for row, models in found.items()]


def _limited(rows: list[Any], detail: _Detail, left: list[str], what: str) -> tuple[list[Any], str]:
    """The first `detail.rows` of `rows`, and the line saying how many more there are."""
    if detail.rows is None or len(rows) <= detail.rows:
        return rows, ""
    more = len(rows) - detail.rows
    left.append(f"{more:,} of {_count(len(rows), what)}")
    return rows[
        : detail.rows
    ], f"_… and {more:,} more {what}{'s' * (more != 1)}: see the whole plan._"


def _events_markdown(plan: Plan, detail: _Detail, left: list[str]) -> list[str]:
    rows = []
    for model, events in events_by_model(plan).items():
        for event in events:
            text = describe(event)
            if event.get("restarts"):
                whose = event.get("environment") or event["deployment"]
                text += (
                    f". **Rolling restart** of {whose}'s pods, one at a time (a cold start each)"
                )
            elif "restarts" in event:
                text += f" ({restart_effect(event)})"
            rows.append((model, (symbol(event), text)))
    table = (
        [(_models(models), row) for models, row in _grouped(rows)]
        if detail.grouped
        else [(model, row) for model, row in rows]
    )
    shown, more = _limited(table, detail, left, "event row")
    out = _table(
        ["", "model", "change"],
        ["---", "---", "---"],
        [[mark, _cell(model), _cell(text)] for model, (mark, text) in shown],
    )
    return [*out, *([more, ""] if more else [])]


def _endpoints_markdown(plan: Plan, detail: _Detail, left: list[str]) -> list[str]:
    lines = endpoint_lines(plan.endpoints)
    if not detail.added_endpoints:
        added = [line for line in lines if line[0] == "+"]
        lines = [line for line in lines if line[0] != "+"]
        if added:
            verb = "appears" if len(added) == 1 else "appear"
            left.append(f"{_count(len(added), 'endpoint')} that {verb}")
    shown, more = _limited(lines, detail, left, "endpoint row")
    table = _table(
        ["", "endpoint", "URL"],
        ["---", "---", "---"],
        [[mark, _cell(what), _cell(url)] for mark, what, url in shown],
    )
    if not table and not more:
        return []
    return ["**Endpoints**", "", *table, *([more, ""] if more else [])]


_ICON = {"error": "🛑", "warning": "⚠️", "info": "ℹ️"}


def _findings_markdown(found: list[Finding], detail: _Detail, left: list[str]) -> list[str]:
    if detail.grouped:
        keyed = _grouped((f.about or "", (f.level, f.id, f.message)) for f in found)
        items = [
            f"- {_ICON[level]} **{level}** `{ident}`"
            + (f" ({_models([m for m in models if m])})" if any(models) else "")
            + f": {_cell(message)}"
            for models, (level, ident, message) in keyed
        ]
    else:
        items = [
            f"- {_ICON[f.level]} **{f.level}** `{f.id}`"
            + (f" ({f.about})" if f.about else "")
            + f": {_cell(f.message)}"
            for f in found
        ]
    shown, more = _limited(items, detail, left, "finding")
    return ["**Findings**", "", *shown, *([more] if more else []), ""]


def _cost_markdown(cost: dict[str, Any]) -> list[str]:
    return [
        "**Cost** (USD per month, 730 h)",
        "",
        "| | base | head | change |",
        "|---|---:|---:|---:|",
        f"| floor (min replicas) | {money(cost['base']['floor'])} | "
        f"{money(cost['head']['floor'])} | {money_change(cost['delta']['floor'])} |",
        f"| ceiling (max replicas) | {money(cost['base']['ceiling'])} | "
        f"{money(cost['head']['ceiling'])} | {money_change(cost['delta']['ceiling'])} |",
        "",
        *_chain_cost_markdown(cost.get("chains", [])),
    ]


def _chain_cost_markdown(chains: list[dict[str, Any]]) -> list[str]:
    """Each chain whose cost changes, its environments and chainlets nested under it."""
    if not chains:
        return []
    return [
        "By chain:",
        "",
        *(f"{'  ' * _depth(line)}- {line.strip()}" for line in chain_cost_lines(chains)),
        "",
    ]


def _depth(line: str) -> int:
    return (len(line) - len(line.lstrip())) // 2


def _rollouts_markdown(plan: Plan, detail: _Detail, left: list[str]) -> list[str]:
    if not detail.rollouts:
        left.append(_count(len(plan.rollouts), "rollout"))
        return []
    out = ["<details><summary>Rollouts</summary>", ""]
    if detail.rollout_steps:
        for rollout in plan.rollouts:
            out += [
                f"**{rollout.label} / {rollout.environment}**: {rollout.previous or '(none)'} → "
                f"{rollout.candidate}, "
                f"{describe_rollout(rollout, deleted_deployments(plan, rollout.model))}",
                "",
                *([f"_{_cell(rollout.note)}_", ""] if rollout.note else []),
                *_steps_table(rollout),
            ]
    else:
        left.append("the rollouts' steps")
        rows = [
            (
                r.label,
                (
                    r.environment,
                    f"{r.previous or '(none)'} → {r.candidate}, "
                    f"{describe_rollout(r, deleted_deployments(plan, r.model))}"
                    + (f". {r.note}" if r.note else ""),
                ),
            )
            for r in plan.rollouts
        ]
        items = [
            f"- **{_models(models) if detail.grouped else models[0]} / {env}**: {_cell(text)}"
            for models, (env, text) in (
                _grouped(rows) if detail.grouped else [([m], row) for m, row in rows]
            )
        ]
        shown, more = _limited(items, detail, left, "rollout")
        out += [*shown, *([more] if more else []), ""]
    return [*out, "</details>", ""]


def _steps_table(rollout: RolloutPlan) -> list[str]:
    """The rollout's steps; a chain's, each step a row per chainlet (the entrypoint's first,
    whose route moves the traffic), as `iac up` brings each chainlet up in the same stages."""
    header = ["step", "previous", "candidate", "ready", "traffic to candidate", "wait"]
    align = ["---", "---:", "---:", "---:", "---:", "---:"]

    def cells(s: Step) -> list[str]:
        return [
            str(s.previous_replicas),
            str(s.candidate_replicas),
            str(s.ready_replicas),
            f"{s.candidate_weight}%",
            format_duration(s.wait_seconds),
        ]

    if rollout.chain is None:
        return _table(header, align, [[s.action, *cells(s)] for s in rollout.steps])
    prefix = f"{rollout.chain}-"
    rows = [
        [step.action, plan.model.removeprefix(prefix), *cells(plan.steps[i])]
        for i, step in enumerate(rollout.steps)
        for plan in rollout.moved
    ]
    return _table([header[0], "chainlet", *header[1:]], [align[0], "---", *align[1:]], rows)


def _objects_markdown(plan: Plan, detail: _Detail, left: list[str]) -> list[str]:
    objects = plan.objects
    if objects.empty:
        return []
    summary = (
        f"Objects: {len(objects.added)} to add, {len(objects.changed)} to change, "
        f"{len(objects.removed)} to remove"
    )
    if not detail.object_list:
        left.append("the list of objects")
        return [f"{summary}.", ""]
    out = [f"<details><summary>{summary}</summary>", ""]
    out += [f"- ➕ `{item}`" for item in objects.added]
    for change in objects.changed:
        note = " (**replaced**)" if change.replaced_by else ""
        paths = ", ".join(f"`{p}`" for p in change.paths[:8])
        more = f" and {len(change.paths) - 8} more" if len(change.paths) > 8 else ""
        out.append(f"- ✏️ `{change.id}`{note}: {paths}{more}")
    out += [f"- ➖ `{item}`" for item in objects.removed]
    return [*out, "", "</details>", ""]


def _table(header: list[str], align: list[str], rows: list[list[str]]) -> list[str]:
    """A markdown table, or nothing at all when it has no rows."""
    if not rows:
        return []
    return [
        f"| {' | '.join(header)} |".replace("|  |", "| |"),
        f"|{'|'.join(align)}|",
        *(f"| {' | '.join(row)} |" for row in rows),
        "",
    ]


def errors_markdown(
    title: str, errors: list[Diagnostic], problem: str | None = None, max_chars: int | None = None
) -> str:
    """The comment of a plan that could not be made: the head's errors, located (or the
    `problem` that stopped it), so a pull request shows why instead of an empty comment."""
    out = [f"### {title}", ""]
    if problem is not None:
        out += [f"🛑 **No plan**: {_cell(problem)}", ""]
        return "\n".join(out)
    out += [
        f"🛑 **No plan: the stack is invalid** ({_count(len(errors), 'error')}). Fix "
        f"{'it' if len(errors) == 1 else 'them'} (`iac validate` shows the same) and push again:",
        "",
    ]
    items = [
        f"- `{error.location}`"
        + (f" `{format_path(error.path)}`" if error.path else "")
        + f": {_cell(error.message)}"
        for error in errors
    ]
    text = "\n".join(out + items) + "\n"
    if max_chars is None or len(text) <= max_chars:
        return text

    def shown(count: int) -> str:
        more = len(items) - count
        note = f"- _… and {more:,} more error{'s' * (more != 1)} (`iac validate` lists them)_"
        return "\n".join([*out, *items[:count], note]) + "\n"

    low, high, best = 0, len(items) - 1, shown(0)
    while low <= high:  # the most errors that fit
        middle = (low + high) // 2
        if len(shown(middle)) <= max_chars:
            best, low = shown(middle), middle + 1
        else:
            high = middle - 1
    return best if len(best) <= max_chars else _hard_cut(best, max_chars)


def _cell(text: str) -> str:
    """Text safe inside a markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")
