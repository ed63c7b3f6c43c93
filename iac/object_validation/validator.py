"""The validator: resolves each object's kind (built in, or a served CRD version) and
collects the top-level, metadata and schema problems."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from iac.object_validation.builtin_schemas import (
    Kind,
    builtin_schemas_for,
    split_api_version,
)
from iac.object_validation.crds import CrdVersion, default_crd_dir, load_crds
from iac.object_validation.messages import (
    FieldPath,
    error_messages,
    format_path,
    json_type,
    object_ident,
)
from iac.object_validation.metadata import metadata_problems

# The oldest minor we expect clusters to run: validating against it rejects fields that newer
# minors added. Any minor that the installed kubernetes-validate ships can be asked for.
DEFAULT_KUBERNETES_VERSION = "1.34"


class ObjectValidator:
    """Validates Kubernetes objects (plain dicts) offline; see the package docstring."""

    def __init__(
        self, crd_dir: str | None = None, kubernetes_version: str = DEFAULT_KUBERNETES_VERSION
    ) -> None:
        folder = Path(crd_dir) if crd_dir is not None else default_crd_dir()
        self.crds = load_crds(folder, passed=crd_dir is not None)
        self.builtins = builtin_schemas_for(kubernetes_version)
        self.kubernetes_version = self.builtins.version

    def problems(self, obj: dict[str, Any]) -> list[str]:
        """Every problem of one object, each ``ident: field.path: message``; `[]` when valid."""
        if not isinstance(obj, Mapping):
            return [f"?: (root): expected an object (mapping), got {json_type(obj)}"]
        found: list[tuple[FieldPath, str]] = []
        kind, crd = self._resolve(obj, found)
        ident = object_ident(obj, kind)
        found += metadata_problems(obj, kind)
        if kind is not None:
            found += self._schema_problems(obj, kind, crd)
        unique = sorted(set(found), key=lambda p: (format_path(p[0]), p[1]))
        return [f"{ident}: {format_path(path)}: {message}" for path, message in unique]

    def _resolve(
        self, obj: Mapping[str, Any], found: list[tuple[FieldPath, str]]
    ) -> tuple[Kind | None, CrdVersion | None]:
        """The kind of `obj` and, for a custom resource, its CRD version; else a problem."""
        api_version, kind_name = obj.get("apiVersion"), obj.get("kind")
        if not isinstance(api_version, str) or not api_version:
            found.append((("apiVersion",), "required field is missing or not a string"))
        if not isinstance(kind_name, str) or not kind_name:
            found.append((("kind",), "required field is missing or not a string"))
        if found or not (isinstance(api_version, str) and isinstance(kind_name, str)):
            return None, None
        group, version = split_api_version(api_version)
        kind = self.builtins.kind(group, version, kind_name)
        if kind is not None:
            return kind, None
        crd = self.crds.versions.get((group, version, kind_name))
        if crd is not None and crd.served:
            return crd.kind, crd
        found.append(self._unknown(group, version, kind_name, crd))
        return None, None

    def _schema_problems(
        self, obj: Mapping[str, Any], kind: Kind, crd: CrdVersion | None
    ) -> Iterator[tuple[FieldPath, str]]:
        if crd is None:
            validator = self.builtins.validator(kind.group, kind.version, kind.kind)
            instance: Any = obj
        else:
            validator = self.crds.validator(crd, self.builtins)
            instance = self.crds.defaulted(crd, obj)
        for error in validator.iter_errors(instance):
            yield from error_messages(error)

    def _unknown(
        self, group: str, version: str, kind: str, crd: CrdVersion | None
    ) -> tuple[FieldPath, str]:
        api_version = f"{group}/{version}" if group else version
        if crd is not None:
            return ("apiVersion",), (
                f"{kind} {api_version} is defined by {crd.kind.source} but not served "
                "(served: false)"
            )
        builtin = self.builtins.versions_of(group, kind)
        custom = self.crds.versions_of(group, kind)
        if builtin or custom:
            served = [
                f"{group}/{v}" if group else v
                for v in builtin
                + [v for v in custom if self.crds.versions[(group, v, kind)].served]
            ]
            return ("apiVersion",), (
                f"{kind} is not served at {api_version}; versions that are: {', '.join(served)}"
            )
        hint = ""
        lower = kind.lower()
        for g, _, k in [*self.builtins.kinds, *self.crds.versions]:
            if k.lower() == lower and g == group:
                hint = f" (did you mean kind {k!r}?)"
                break
        return ("kind",), (
            f"no schema for {kind} {api_version}: it is neither a built-in kind of Kubernetes "
            f"{self.builtins.version} nor defined by a CRD in {self.crds.folder}{hint}"
        )


def validation_problems(objects: Iterable[dict[str, Any]], crd_dir: str | None = None) -> list[str]:
    """Each problem as 'apiVersion/kind/namespace/name: field.path: message' (no namespace
    segment for cluster-scoped). `[]` when every object is valid.

    Parsed CRDs and compiled schemas are cached per folder (and its files' sizes and
    modification times) and per Kubernetes version, so calling this again is cheap.
    """
    validator = ObjectValidator(crd_dir)
    out: list[str] = []
    for obj in objects:
        out += validator.problems(obj)
    return out
