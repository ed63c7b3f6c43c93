"""Moving a resolved model onto the files of another load.

A resolved model says where each setting was written with `Written` objects: a file's
SourceMap and a key path, turned into a line only when a message needs one. A model taken
from the load of another version of the stack file has the same key paths, but the lines
are this version's: every Written is made again on this load's SourceMap (and the frozen
objects that hold them with it). The settings themselves (validated, immutable) are shared.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from iac.diagnostics import KeyPath
from iac.spec.resolved import (
    Locator,
    Origins,
    ResolvedDeployment,
    ResolvedEnvironment,
    ResolvedModel,
    Written,
)

Files = Mapping[int, Locator]
"""`id` of a file's SourceMap in the other load → the same file's SourceMap in this one."""


class _ForeignFile(Exception):
    """A Written in a file that `Files` does not map."""


def rebase(model: ResolvedModel, files: Files) -> ResolvedModel | None:
    """`model` with every Written on `files[id(its source)]`; None when one of them is in a
    file `files` does not map (then the model must be resolved anew)."""
    moving = _Moving(files)
    try:
        return ResolvedModel(
            name=model.name,
            template=model.template,
            deployments={
                name: _deployment(deployment, moving)
                for name, deployment in model.deployments.items()
            },
            environments={
                name: _environment(environment, moving)
                for name, environment in model.environments.items()
            },
            origins=moving.origins(model.origins),
        )
    except _ForeignFile:
        return None


class _Moving:
    """The Writtens of one model moved so far, by `id` of the old one: the deployments and
    environments of a model share those of the model's level, and share them again moved."""

    def __init__(self, files: Files) -> None:
        self._files = files
        self._moved: dict[int, Written] = {}

    def origins(self, origins: Origins) -> Origins:
        moved = self._moved
        written: dict[KeyPath, Written] = {}
        for rel, old in origins.written.items():
            new = moved.get(id(old))
            written[rel] = new if new is not None else self._move(old)
        return Origins(self._move(origins.anchor), written)

    def _move(self, old: Written) -> Written:
        source = self._files.get(id(old.source))
        if source is None:
            raise _ForeignFile
        new = self._moved[id(old)] = Written(source, old.path, old.at_key)
        return new


def _deployment(deployment: ResolvedDeployment, moving: _Moving) -> ResolvedDeployment:
    return dataclasses.replace(deployment, origins=moving.origins(deployment.origins))


def _environment(environment: ResolvedEnvironment, moving: _Moving) -> ResolvedEnvironment:
    return dataclasses.replace(environment, origins=moving.origins(environment.origins))
