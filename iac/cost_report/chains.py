"""`iac cost`'s `by chain`: a chain's chainlets run as models (`<chain>-<chainlet>`), each
with its lines; grouped per chain and environment, with the chain's total (the sum of its
chainlets' lines; a pool's whole nodes are shared by whatever runs there, so they are not a
chain's)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from iac.spec.resolved import ChainMember


class Line(Protocol):
    """A cost line (`iac.cost_report.DeploymentCost`) as read here."""

    @property
    def model(self) -> str: ...
    @property
    def environment(self) -> str | None: ...
    @property
    def floor(self) -> float: ...
    @property
    def ceiling(self) -> float: ...


@dataclass(frozen=True, slots=True)
class Total:
    """Floor and ceiling of a group of lines, by the group's name."""

    name: str
    floor: float
    ceiling: float

    def to_dict(self, key: str) -> dict[str, Any]:
        return {key: self.name, "floor": round(self.floor, 2), "ceiling": round(self.ceiling, 2)}


@dataclass(frozen=True, slots=True)
class ChainEnvironmentCost:
    """A chain in one environment (`(none)`: deployments no environment serves): each
    chainlet's total there, by model name."""

    total: Total
    chainlets: tuple[tuple[str, Total], ...]
    """(chainlet, its model's total), by chainlet name."""


@dataclass(frozen=True, slots=True)
class ChainCost:
    """A chain's total, and per environment its chainlets' (`by chain`)."""

    total: Total
    entrypoint: str
    environments: tuple[ChainEnvironmentCost, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.total.to_dict("chain"),
            "entrypoint": self.entrypoint,
            "environments": [
                {
                    **env.total.to_dict("environment"),
                    "chainlets": [
                        {"chainlet": chainlet, **total.to_dict("model")}
                        for chainlet, total in env.chainlets
                    ],
                }
                for env in self.environments
            ],
        }


def by_chain(lines: Sequence[Line], chains: Mapping[str, ChainMember]) -> list[ChainCost]:
    """Each chain (by name) of the models that are chainlets (`chains`, by model): its total,
    and per environment its chainlets' totals."""
    sums: dict[str, dict[str, dict[str, list[float]]]] = {}
    for line in lines:
        member = chains.get(line.model)
        if member is None:
            continue
        envs = sums.setdefault(member.chain, {})
        total = envs.setdefault(line.environment or "(none)", {}).setdefault(
            member.chainlet, [0.0, 0.0]
        )
        total[0] += line.floor
        total[1] += line.ceiling
    entrypoints = {m.chain: m.chainlet for m in chains.values() if m.entrypoint}
    found = []
    for chain, envs in sorted(sums.items()):
        environments = []
        for env, chainlets in sorted(envs.items()):
            members = tuple(
                (chainlet, Total(f"{chain}-{chainlet}", floor, ceiling))
                for chainlet, (floor, ceiling) in sorted(chainlets.items())
            )
            environments.append(ChainEnvironmentCost(_sum(env, members), members))
        found.append(
            ChainCost(
                Total(
                    chain,
                    sum(e.total.floor for e in environments),
                    sum(e.total.ceiling for e in environments),
                ),
                entrypoints.get(chain, ""),
                tuple(environments),
            )
        )
    return found


def _sum(name: str, members: tuple[tuple[str, Total], ...]) -> Total:
    return Total(name, sum(t.floor for _, t in members), sum(t.ceiling for _, t in members))


def chain_rows(chains: list[ChainCost], nested: bool = True) -> list[tuple[str, float, float]]:
    """`by chain`: each chain's total (`rag (entrypoint router)`), then per environment
    (`rag / production`) its total and its chainlets' models: indented under each other
    (`nested`), or each named in full (`rag / production / rag-llm`)."""
    rows: list[tuple[str, float, float]] = []
    for chain in chains:
        total = chain.total
        rows.append((f"{total.name} (entrypoint {chain.entrypoint})", total.floor, total.ceiling))
        for env in chain.environments:
            where = f"{total.name} / {env.total.name}"
            rows.append((f"  {where}" if nested else where, *_amounts(env.total)))
            rows += [
                (f"    {t.name}" if nested else f"{where} / {t.name}", *_amounts(t))
                for _, t in env.chainlets
            ]
    return rows


def _amounts(total: Total) -> tuple[float, float]:
    return total.floor, total.ceiling
