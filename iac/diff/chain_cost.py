"""A plan's cost by chain: its chainlets' lines (models `<chain>-<chainlet>`) grouped per
chain and environment, as `iac cost` groups them (`by chain`), before and after.

`cost.chains` in `iac plan --format json`: each chain whose cost changes, `{chain,
entrypoint, base, head, environments: [{environment, base, head, chainlets: [{chainlet,
model, base, head}]}]}`, each `base`/`head` a `{floor, ceiling}`; only the environments
and chainlets whose cost changes are listed (as `cost.lines`), the chain's `base`/`head`
are its whole totals. `environment` is null for deployments no environment serves.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from iac.compile.capacity.pricing import CostLine
from iac.spec.resolved import ChainMember

_Sums = dict[str, dict[str | None, dict[str, list[float]]]]
"""chain → environment → chainlet → [floor, ceiling]."""


def chain_costs(
    base: list[CostLine], head: list[CostLine], members: Mapping[str, ChainMember]
) -> list[dict[str, Any]]:
    """Each chain (of `members`, chainlets by model name) whose cost changes, by name."""
    before, after = _sums(base, members), _sums(head, members)
    entrypoints = {m.chain: m.chainlet for m in members.values() if m.entrypoint}
    found = []
    for chain in sorted(set(before) | set(after)):
        was, now = before.get(chain, {}), after.get(chain, {})
        environments = []
        for env in sorted(set(was) | set(now), key=lambda e: e or ""):
            chainlets = [
                {
                    "chainlet": chainlet,
                    "model": f"{chain}-{chainlet}",
                    "base": _amounts([was.get(env, {}).get(chainlet)]),
                    "head": _amounts([now.get(env, {}).get(chainlet)]),
                }
                for chainlet in sorted(set(was.get(env, {})) | set(now.get(env, {})))
            ]
            changed = [c for c in chainlets if c["base"] != c["head"]]
            if changed:
                environments.append(
                    {
                        "environment": env,
                        "base": _amounts(list(was.get(env, {}).values())),
                        "head": _amounts(list(now.get(env, {}).values())),
                        "chainlets": changed,
                    }
                )
        if environments:
            found.append(
                {
                    "chain": chain,
                    "entrypoint": entrypoints.get(chain),
                    "base": _amounts([s for e in was.values() for s in e.values()]),
                    "head": _amounts([s for e in now.values() for s in e.values()]),
                    "environments": environments,
                }
            )
    return found


def _sums(lines: list[CostLine], members: Mapping[str, ChainMember]) -> _Sums:
    sums: _Sums = {}
    for line in lines:
        member = members.get(line.model)
        if member is None:
            continue
        envs = sums.setdefault(member.chain, {})
        total = envs.setdefault(line.environment, {}).setdefault(member.chainlet, [0.0, 0.0])
        total[0] += line.floor
        total[1] += line.ceiling
    return sums


def _amounts(sums: list[list[float] | None]) -> dict[str, float]:
    return {
        "floor": round(sum(s[0] for s in sums if s), 2),
        "ceiling": round(sum(s[1] for s in sums if s), 2),
    }
