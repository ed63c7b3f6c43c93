"""`previous_names`: an old name must not be a name in use, nor listed twice."""

from __future__ import annotations

from collections.abc import Iterable

from iac.diagnostics import Diagnostics, KeyPath
from iac.spec.resolved import ResolvedStack


def check_previous_names(stack: ResolvedStack, diagnostics: Diagnostics) -> None:
    models = stack.spec.models
    claimed: dict[str, str] = {}
    for name, spec in models.items():
        path: KeyPath = ("models", name, "previous_names")
        for index, old in _repeats_and_all(spec.previous_names or (), diagnostics, stack, path):
            where = (*path, index)
            if old in models:
                diagnostics.error(
                    stack.source.value(where),
                    f"'{old}' is the name of a model in this stack; a previous name must be "
                    "one no model has now (remove it here, or rename that model)",
                    where,
                )
            elif old in claimed:
                diagnostics.error(
                    stack.source.value(where),
                    f"'{old}' is also a previous name of model '{claimed[old]}'; one old "
                    "name can become only one model",
                    where,
                )
            else:
                claimed[old] = name
        for deployment, dspec in spec.deployments.items():
            dpath: KeyPath = ("models", name, "deployments", deployment, "previous_names")
            previous = dspec.previous_names or ()
            for index, old in _repeats_and_all(previous, diagnostics, stack, dpath):
                where = (*dpath, index)
                if old in spec.deployments:
                    diagnostics.error(
                        stack.source.value(where),
                        f"'{old}' is the name of a deployment of {name}; a previous name must "
                        "be one no deployment of the model has now",
                        where,
                    )


def _repeats_and_all(
    names: Iterable[str],
    diagnostics: Diagnostics,
    stack: ResolvedStack,
    path: KeyPath,
) -> list[tuple[int, str]]:
    """The names with their index; a repeated one is reported and left out."""
    seen: set[str] = set()
    kept = []
    for index, old in enumerate(names):
        if old in seen:
            where = (*path, index)
            diagnostics.error(stack.source.value(where), f"'{old}' is listed twice", where)
            continue
        seen.add(old)
        kept.append((index, old))
    return kept
