"""Chains, desugared: each chainlet of a chain becomes the model `<chain>-<chainlet>`.

A chain's deployments and environments are its chainlets' deployments and environments, by
the same names: deployment `v2` of chain `rag` is deployment `v2` of models `rag-router`,
`rag-embedder` and `rag-llm`, each with the chainlet's fields and the deployment's override
for it (`deployments.v2.chainlets.embedder`); environment `production` names `v2` for all of
them, with each chainlet's `autoscaling` from the environment's mapping. Everything models
have (node pools, cost, policies, monitoring, promotion) then comes along; what only chains
have (calls, one entrypoint, promotion as one unit) reads `ResolvedModel.chain`.

Before desugaring, a chain's own structure is checked here (docs/chains.md): an entrypoint
that is a chainlet, calls to chainlets that exist and that end (no cycle), overrides and
autoscaling naming chainlets, and model names no other model or chainlet has. A chain that
fails one is left out, so its chainlets' errors do not repeat one mistake.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError

from iac.diagnostics import Diagnostics, KeyPath, did_you_mean
from iac.load.layers import ModelPaths
from iac.load.yaml_source import SourceMap
from iac.spec.resolved import ChainMember
from iac.spec.stack import Chain, Model
from iac.spec.types import ModelName

_MODEL_NAME: TypeAdapter[str] = TypeAdapter(ModelName)


def chainlet_model_name(chain: str, chainlet: str) -> str:
    """The model a chainlet runs as (its objects are named after it)."""
    return f"{chain}-{chainlet}"


@dataclass(frozen=True, slots=True)
class Desugared:
    """One chainlet as the model it runs as, and where its parts are written."""

    name: str
    model: Model
    paths: ModelPaths
    member: ChainMember


def desugar_chains(
    chains: Mapping[str, Chain],
    models: Mapping[str, Model],
    source: SourceMap,
    diagnostics: Diagnostics,
) -> dict[str, list[Desugared]]:
    """Each chain that passes its checks, as the models of its chainlets (by chain)."""
    taken: dict[str, KeyPath] = {name: ("models", name) for name in models}
    found: dict[str, list[Desugared]] = {}
    for name, chain in chains.items():
        path: KeyPath = ("chains", name)
        if not _structure_ok(name, chain, path, source, diagnostics):
            continue
        if not _names_free(name, chain, taken, source, diagnostics):
            continue
        found[name] = [
            Desugared(
                chainlet_model_name(name, chainlet),
                _chainlet_model(chain, chainlet),
                ModelPaths((*path, "chainlets", chainlet), path, chainlet),
                ChainMember(
                    chain=name,
                    chainlet=chainlet,
                    entrypoint=chainlet == chain.entrypoint,
                    calls=tuple(dict.fromkeys(chain.chainlets[chainlet].calls)),
                ),
            )
            for chainlet in chain.chainlets
        ]
    return found


def _structure_ok(
    name: str, chain: Chain, path: KeyPath, source: SourceMap, diagnostics: Diagnostics
) -> bool:
    errors = len(diagnostics.errors)
    names = chain.chainlets
    listed = ", ".join(names)
    if chain.entrypoint is None:
        diagnostics.error(
            source.key(path),
            "no entrypoint: set `entrypoint:` to the chainlet that takes the chain's requests "
            f"(one of: {listed})",
            path,
        )
    elif chain.entrypoint not in names:
        where = (*path, "entrypoint")
        diagnostics.error(
            source.value(where),
            f"no chainlet '{chain.entrypoint}' in chain '{name}'"
            f"{did_you_mean(chain.entrypoint, names)} (chainlets: {listed})",
            where,
        )
    for chainlet_name, chainlet in names.items():
        for index, callee in enumerate(chainlet.calls):
            if callee not in names:
                where = (*path, "chainlets", chainlet_name, "calls", index)
                diagnostics.error(
                    source.value(where),
                    f"no chainlet '{callee}' in chain '{name}' to call"
                    f"{did_you_mean(callee, names)} (chainlets: {listed})",
                    where,
                )
    _check_cycles(chain, path, source, diagnostics)
    for deployment_name, deployment in chain.deployments.items():
        where = (*path, "deployments", deployment_name, "chainlets")
        _check_named(name, deployment.chainlets, names, where, "override", source, diagnostics)
    for env_name, env in chain.environments.items():
        where = (*path, "environments", env_name, "autoscaling")
        _check_named(name, env.autoscaling or {}, names, where, "scale", source, diagnostics)
        if env.promotion is not None and env.promotion.strategy == "rolling":
            where = (*path, "environments", env_name, "promotion", "strategy")
            diagnostics.error(
                source.value(where),
                "a chain is promoted as one unit: every chainlet of the new deployment comes "
                "up, then the entrypoint switches at once (Baseten's chains have no rolling "
                "deployments either); use `strategy: immediate`, with `gates` to check it",
                where,
            )
    return len(diagnostics.errors) == errors


def _check_named(
    chain: str,
    written: Mapping[str, Any],
    names: Mapping[str, Any],
    path: KeyPath,
    what: str,
    source: SourceMap,
    diagnostics: Diagnostics,
) -> None:
    """Keys of a per-chainlet mapping that name no chainlet of the chain."""
    for key in written:
        if key not in names:
            where = (*path, key)
            diagnostics.error(
                source.key(where),
                f"no chainlet '{key}' in chain '{chain}' to {what} (chainlets: "
                f"{', '.join(names)}){did_you_mean(key, names)}",
                where,
            )


def _check_cycles(chain: Chain, path: KeyPath, source: SourceMap, diagnostics: Diagnostics) -> None:
    """Each cycle of `calls` once, at the call that closes it: a request would go round
    for ever (Baseten's chains are acyclic: each chainlet's dependencies are built first)."""
    done: set[str] = set()

    def visit(name: str, trail: list[str]) -> None:
        for index, callee in enumerate(chain.chainlets[name].calls):
            if callee not in chain.chainlets or callee in done:
                continue
            if callee in trail:
                cycle = " → ".join([*trail[trail.index(callee) :], callee])
                where = (*path, "chainlets", name, "calls", index)
                diagnostics.error(
                    source.value(where),
                    f"`calls` go round in a circle: {cycle}; a chain's calls must end (a "
                    "request would go round for ever): remove one of these calls",
                    where,
                )
                continue
            visit(callee, [*trail, callee])
        done.add(name)

    for name in chain.chainlets:
        if name not in done:
            visit(name, [name])


def _names_free(
    name: str,
    chain: Chain,
    taken: dict[str, KeyPath],
    source: SourceMap,
    diagnostics: Diagnostics,
) -> bool:
    """Each chainlet's model name is a valid model name no model or other chainlet has."""
    ok = True
    for chainlet in chain.chainlets:
        model = chainlet_model_name(name, chainlet)
        where: KeyPath = ("chains", name, "chainlets", chainlet)
        try:
            _MODEL_NAME.validate_python(model)
        except ValidationError as exc:
            diagnostics.error(
                source.key(where),
                f"chainlet '{chainlet}' runs as model '{model}', which is not a valid name: "
                f"{exc.errors()[0]['msg']}; shorten the chain's or the chainlet's name",
                where,
            )
            ok = False
            continue
        other = taken.get(model)
        if other is not None:
            line = source.key(other).line
            diagnostics.error(
                source.key(where),
                f"chainlet '{chainlet}' runs as model '{model}', the name of "
                f"{_described(other)} (line {line}): rename one of them",
                where,
            )
            ok = False
            continue
        taken[model] = where
    return ok


def _described(path: KeyPath) -> str:
    if path[0] == "models":
        return f"model '{path[1]}'"
    return f"chainlet '{path[3]}' of chain '{path[1]}'"


def _chainlet_model(chain: Chain, chainlet: str) -> Model:
    """The model a chainlet runs as: its fields, each chain deployment with the override for
    it, each chain environment with its autoscaling; the chain's host and auth."""
    values = chain.chainlets[chainlet].model_dump(exclude_unset=True, exclude={"calls"})
    deployments: dict[str, Any] = {}
    for name, deployment in chain.deployments.items():
        own = deployment.model_dump(exclude_unset=True, by_alias=True, exclude={"chainlets"})
        override = deployment.chainlets.get(chainlet)
        if override is not None:
            own.update(override.model_dump(exclude_unset=True))
        deployments[name] = own
    environments: dict[str, Any] = {}
    for name, env in chain.environments.items():
        own = env.model_dump(exclude_unset=True, exclude={"autoscaling"})
        scaling = (env.autoscaling or {}).get(chainlet)
        if scaling is not None:
            own["autoscaling"] = scaling.model_dump(exclude_unset=True)
        environments[name] = own
    values["deployments"] = deployments
    values["environments"] = environments
    if chain.hostname is not None:
        values["hostname"] = chain.hostname
    if chain.auth is not None:
        values["auth"] = chain.auth.model_dump(exclude_unset=True)
    return Model.model_validate(values)
