"""A chain's lifecycle events as one event each, not one per chainlet.

`iac.diff.events` compares releases model by model, and a chain's chainlets are models
(`<chain>-<chainlet>`), so promoting chain deployment `v2` gives one `promote` per chainlet.
A plan reports them as what they are: one `promote_chain` naming the chain, the chainlets it
moves, and (in text and markdown) the rollout of its entrypoint; the same for creating,
deleting, deactivating and activating the chain, its deployments and its environments. Each
such event has `kind`, `model: null` (it belongs to no one model, like `node_pool`),
`chain`, `entrypoint`, `chainlets`, and the fields of the events it groups (`deployment`,
`environment`, `from`, `to`, `changes`). Other events of a chainlet (`image`, `resources`,
`container`, `autoscaling`) stay per chainlet, with `chain` and `chainlet` added; so do
findings about a chainlet, and one said alike of each chainlet is said once, of the chain.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from iac.compile.release import ModelRelease, Release
from iac.diff.events import Event
from iac.diff.finding import Finding
from iac.rollout.planner import RolloutPlan

CHAIN_KINDS: Mapping[str, str] = {
    "create_model": "create_chain",
    "delete_model": "delete_chain",
    "create_deployment": "create_chain_deployment",
    "delete_deployment": "delete_chain_deployment",
    "create_environment": "create_chain_environment",
    "delete_environment": "delete_chain_environment",
    "promote": "promote_chain",
    "deactivate": "deactivate_chain",
    "activate": "activate_chain",
}
"""Each model event kind that a chain has as one unit, and the kind of the chain's event."""


def chain_events(events: list[Event], base: Release | None, head: Release) -> list[Event]:
    """`events` with the chainlets' lifecycle events grouped into one per chain (in the
    place of the first), the others marked with their chain."""
    members: dict[str, ModelRelease] = {**(base.models if base else {}), **head.models}
    entrypoints = {
        m.chain.chain: m.chain.chainlet
        for m in members.values()
        if m.chain is not None and m.chain.entrypoint
    }
    found: list[Event] = []
    grouped: dict[tuple[object, ...], Event] = {}
    for event in events:
        model = members.get(event["model"] or "")
        member = model.chain if model is not None else None
        if member is None:
            found.append(event)
            continue
        kind = CHAIN_KINDS.get(event["kind"])
        if kind is None:
            found.append({**event, "chain": member.chain, "chainlet": member.chainlet})
            continue
        fields = {k: v for k, v in event.items() if k not in ("kind", "model")}
        key = (member.chain, kind, *sorted((k, repr(v)) for k, v in fields.items()))
        if key in grouped:
            grouped[key]["chainlets"].append(member.chainlet)
            continue
        grouped[key] = {
            "kind": kind,
            "model": None,
            "chain": member.chain,
            "entrypoint": entrypoints.get(member.chain),
            **fields,
        }
        grouped[key]["chainlets"] = [member.chainlet]
        found.append(grouped[key])
    for event in grouped.values():
        event["chainlets"] = sorted(event["chainlets"])
    return found


def chain_rollouts(rollouts: list[RolloutPlan], head: Release) -> list[RolloutPlan]:
    """`rollouts` with a chain's promotion as one: its entrypoint's plan (whose route
    switches), carrying its other chainlets' plans (`RolloutPlan.chainlets`), in the place
    of the first."""
    found: list[RolloutPlan] = []
    chains: dict[tuple[str, str, str | None, str], list[RolloutPlan]] = {}
    for rollout in rollouts:
        member = head.models[rollout.model].chain
        if member is None:
            found.append(rollout)
            continue
        key = (member.chain, rollout.environment, rollout.previous, rollout.candidate)
        if key not in chains:
            chains[key] = []
            found.append(rollout)  # a place holder, replaced below
        chains[key].append(rollout)
    grouped = {}
    for (chain, *_), plans in chains.items():
        first = next((p for p in plans if _is_entrypoint(head, p.model)), plans[0])
        others = tuple(p for p in plans if p is not first)
        grouped[id(plans[0])] = replace(first, chain=chain, chainlets=others)
    return [grouped.get(id(r), r) for r in found]


def _is_entrypoint(head: Release, model: str) -> bool:
    member = head.models[model].chain
    return member is not None and member.entrypoint


ENDPOINT_FINDINGS = frozenset({"public-endpoint", "api-keys"})
"""Findings of who may call an endpoint (`iac.diff.access`): of a chain, about the chain."""


def chain_findings(found: list[Finding], base: Release | None, head: Release) -> list[Finding]:
    """`found` with each finding about a chainlet's model naming its chain and chainlet;
    those said alike of several chainlets of a chain (`v2 is new in this change...`) said
    once, of the chain (no model, no chainlet), in the place of the first."""
    members: dict[str, ModelRelease] = {**(base.models if base else {}), **head.models}
    named: list[Finding] = []
    for finding in found:
        model = members.get(finding.model or "")
        member = model.chain if model is not None else None
        if member is not None and finding.chain is None:
            # Its endpoints are the chain's (its entrypoint's, the only ones routed).
            chainlet = None if finding.id in ENDPOINT_FINDINGS else member.chainlet
            finding = replace(finding, chain=member.chain, chainlet=chainlet)
        named.append(finding)
    alike: dict[tuple[object, ...], list[Finding]] = {}
    for finding in named:
        if finding.chain is not None and finding.chainlet is not None:
            alike.setdefault(_said(finding), []).append(finding)
    kept: list[Finding] = []
    for finding in named:
        group = alike.get(_said(finding), []) if finding.chainlet is not None else []
        if len({f.chainlet for f in group}) < 2:
            kept.append(finding)
        elif finding is group[0]:
            kept.append(replace(finding, model=None, chainlet=None))
    return kept


def _said(finding: Finding) -> tuple[object, ...]:
    """What a finding says, but for the chainlet it says it of."""
    return (
        finding.id,
        finding.level,
        finding.message,
        finding.chain,
        finding.environment,
        finding.deployment,
        finding.setting,
    )
