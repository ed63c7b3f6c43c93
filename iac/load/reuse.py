"""Loading a stack file with the models of an earlier load of another version of it.

In a review the head is loaded after its base, and almost all of its models are unchanged.
Each load keeps what it resolved its models from (`LoadRecord`); a later load handed that
load's result (`load_stack(..., reuse=base)`) takes a base model, moved onto its own file's
lines (`iac.load.rebase`), when everything resolving it reads is the same:

- the model as written: its data as read from YAML, compared with types and key order
  (`1`, `1.0` and `true` are equal in Python, not as a parameter's text);
- the stack's `defaults`, as merged into every model;
- the template it names: the settings and parameters it declares (in whichever file);
- the key paths written under the model, which the resolver asks about (is `state:`
  written?). They follow from the data, except around a `<<` merge key (a merged mapping's
  keys that the mapping overrides are located too): such models are resolved anew.

A model written the same is not validated again either (validating reads its data alone),
whatever else happened in the base. The rest of the stack's top level (cluster, node pools,
pricing, policies) is not read by the resolver: changing it takes nothing away.

The base load must have reported no problem at all: Diagnostics keeps one of each, so in a
load that reported one, a model may have met it again without a trace. The head's own
problems are reported in full: its top level and changed models are checked as always, and
the whole-stack checks (`iac.validate`) run on the result.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from iac.diagnostics import KeyPath
from iac.load.modules import LoadedTemplate
from iac.load.rebase import Files, rebase
from iac.spec.resolved import Locator, ResolvedModel, ResolvedStack
from iac.spec.stack import Model, Stack


@dataclass(frozen=True, slots=True)
class LoadRecord:
    """What one load resolved its models from, and what it made of them."""

    written: Mapping[Any, Any]
    """Each model's data as read from YAML, by name (before validation)."""
    validated: Mapping[str, Model]
    """The models that validated."""
    resolved: Mapping[str, ResolvedModel]
    defaults: str
    """`repr` of the values of the `defaults` level (`repr` tells `1` from `true`)."""
    templates: Mapping[str, LoadedTemplate]
    merged_at: tuple[KeyPath, ...]
    """Where the stack file has `<<` merge keys (`YamlDocument.merged_at`)."""
    source: Locator
    """The stack file's SourceMap, which the Writtens of `resolved` point into."""
    clean: bool
    """The load reported no problem."""
    spec: Stack
    """The load's `ResolvedStack.spec`: a stack derived from it with another spec (not made
    by this load) lends nothing."""


def recall(stack: ResolvedStack) -> LoadRecord | None:
    """The record of the load that made `stack`; None for a stack no load made."""
    record = stack.load_record
    if isinstance(record, LoadRecord) and record.spec is stack.spec:
        return record
    return None


def reusing(stack: ResolvedStack | None, merged_at: tuple[KeyPath, ...]) -> Reuse | None:
    """What a load (with `<<` merge keys at `merged_at`) may take from the one that made
    `stack`; None when there is nothing to take."""
    record = recall(stack) if stack is not None else None
    return Reuse(record, merged_at) if record is not None else None


def same_data(a: Any, b: Any) -> bool:
    """Equal YAML data, with equal types and key order (`repr` shows both)."""
    return repr(a) == repr(b)


def template_key(template: LoadedTemplate) -> tuple[KeyPath, str]:
    """All of a template that resolving a model reads but its file's positions: where in
    its file it is, what it declares. The file may be another: `iac plan --base git:REF`
    loads the base with copies of its modules, and the Writtens move from one to the other.
    """
    declared = template.spec.model_dump(exclude_unset=True)
    return template.prefix, repr(declared)


class Reuse:
    """The base's models one load may take: validated ones while validating, then resolved
    ones once the load has its defaults and templates (`taking`)."""

    def __init__(self, base: LoadRecord, merged_at: tuple[KeyPath, ...]) -> None:
        self._base = base
        self._merged_at = (*base.merged_at, *merged_at)

    def validated(self, name: Any, raw: Any) -> Model | None:
        """The base's validated model `name`, when this load's `raw` is written the same."""
        model = self._base.validated.get(name)
        if model is None or not same_data(raw, self._base.written.get(name)):
            return None
        return model

    def taking(
        self,
        defaults: dict[str, Any] | None,
        templates: Mapping[str, LoadedTemplate],
        source: Locator,
    ) -> TakenModels | None:
        """What to take for this load's `defaults`, `templates` and stack file `source`;
        None when no model can be taken."""
        base = self._base
        if not base.clean or repr(defaults) != base.defaults:
            return None
        if () in self._merged_at or ("models",) in self._merged_at:  # above every model
            return None
        merged = {at[1] for at in self._merged_at if len(at) > 1 and at[0] == "models"}
        files: dict[str | None, Files] = {None: {id(base.source): source}}
        for name, template in templates.items():
            before = base.templates.get(name)
            if before is not None and template_key(before) == template_key(template):
                files[name] = {id(base.source): source, id(before.source): template.source}
        return TakenModels(base, merged, files)


class TakenModels:
    """The base's resolved models, taken where their inputs are this load's."""

    def __init__(self, base: LoadRecord, merged: set[Any], files: dict[str | None, Files]) -> None:
        self._base = base
        self._merged = merged
        """Models with a `<<` merge key in or above them, in either load."""
        self._files = files
        """By template (None: none): the files its models' Writtens are in, base → this
        load. A template that changed is not there."""

    def model(self, name: str, model: Model) -> ResolvedModel | None:
        """The base's model `name` on this load's files, when `model` is the base's own
        (`Reuse.validated` gave it) and what it is resolved with is unchanged."""
        base = self._base
        if model is not base.validated.get(name) or name in self._merged:
            return None
        files = self._files.get(model.template)
        resolved = base.resolved.get(name)
        if files is None or resolved is None:
            return None
        return rebase(resolved, files)
