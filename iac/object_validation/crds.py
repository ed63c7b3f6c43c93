"""Custom resources: every CRD in a folder (`IAC_CRD_DIR`), indexed by group, version and
kind; parsed once per folder state, schemas compiled on first use."""

from __future__ import annotations

import copy
import functools
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema_rs
import yaml

from iac.errors import IacError
from iac.object_validation.builtin_schemas import BuiltinSchemas, Kind
from iac.object_validation.crd_schema import (
    ListMapKeys,
    apply_defaults,
    has_defaults,
    root_schema,
)

CRD_DIR_ENV = "IAC_CRD_DIR"


class CrdDirNotFound(IacError, FileNotFoundError):
    """The folder of CRDs (IAC_CRD_DIR, or its default) does not exist."""


def default_crd_dir() -> Path:
    """`$IAC_CRD_DIR`, else `shared/crds` beside the repository root (`<repo>/../shared/crds`)."""
    configured = os.environ.get(CRD_DIR_ENV)
    if configured:
        return Path(configured)
    repo_root = Path(__file__).resolve().parents[2]
    return repo_root.parent / "shared" / "crds"


@dataclass
class CrdVersion:
    kind: Kind
    openapi: Mapping[str, Any]
    served: bool
    file: str
    # Compiled on first use, per Kubernetes version (whose ObjectMeta the schema refers to).
    _validators: dict[str, jsonschema_rs.Validator] = field(default_factory=dict, repr=False)
    _defaults: bool | None = field(default=None, repr=False)


class Crds:
    """Every CRD in a folder, indexed by (group, version, kind); schemas compiled on first use."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.versions: dict[tuple[str, str, str], CrdVersion] = {}
        files = sorted(
            p for p in folder.iterdir() if p.is_file() and p.suffix in (".yaml", ".yml", ".json")
        )
        for path in files:
            try:
                documents = list(yaml.load_all(path.read_text("utf-8"), Loader=_YamlLoader))
            except yaml.YAMLError as exc:
                raise ValueError(f"{path}: not valid YAML: {exc}") from exc
            for document in documents:
                for crd in _crd_documents(document):
                    self._add(crd, path.name)

    def _add(self, crd: Mapping[str, Any], file: str) -> None:
        spec = crd.get("spec") or {}
        group = spec.get("group", "")
        kind = (spec.get("names") or {}).get("kind", "")
        namespaced = spec.get("scope", "Namespaced") != "Cluster"
        legacy_schema = (spec.get("validation") or {}).get("openAPIV3Schema")  # v1beta1 CRDs
        versions = spec.get("versions") or [{"name": spec.get("version"), "served": True}]
        for entry in versions:
            name = entry.get("name")
            if not (group and kind and name):
                raise ValueError(f"{self.folder / file}: a CRD without group, kind or version")
            schema = (entry.get("schema") or {}).get("openAPIV3Schema") or legacy_schema
            if schema is None:
                schema = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
            key = (group, name, kind)
            previous = self.versions.get(key)
            if previous is not None and previous.openapi != schema:
                raise ValueError(
                    f"{self.folder}: {kind} {group}/{name} is defined twice, "
                    f"differently, in {previous.file} and {file}"
                )
            source = f"CRD {crd.get('metadata', {}).get('name', kind)} ({file})"
            self.versions[key] = CrdVersion(
                kind=Kind(group, name, kind, namespaced, source),
                openapi=schema,
                served=entry.get("served", True) is not False,
                file=file,
            )

    def versions_of(self, group: str, kind: str) -> list[str]:
        return sorted(v for g, v, k in self.versions if g == group and k == kind)

    @staticmethod
    def validator(crd: CrdVersion, builtins: BuiltinSchemas) -> jsonschema_rs.Validator:
        if builtins.version not in crd._validators:
            crd._validators[builtins.version] = jsonschema_rs.validator_for(
                root_schema(crd.openapi),
                registry=builtins.registry,
                validate_formats=True,
                keywords={"x-kubernetes-list-map-keys": ListMapKeys},
                offline=True,
            )
        return crd._validators[builtins.version]

    @staticmethod
    def defaulted(crd: CrdVersion, obj: Mapping[str, Any]) -> Any:
        if crd._defaults is None:
            crd._defaults = has_defaults(crd.openapi)
        if not crd._defaults:
            return obj
        copied = copy.deepcopy(dict(obj))
        apply_defaults(copied, crd.openapi)
        return copied


_YamlLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _crd_documents(document: Any) -> Iterator[Mapping[str, Any]]:
    """CRDs in one YAML document: a CRD, or a List of them (`kubectl get crd -o yaml`)."""
    if not isinstance(document, Mapping):
        return
    if document.get("kind") == "CustomResourceDefinition":
        yield document
    elif document.get("kind") in ("List", "CustomResourceDefinitionList"):
        for item in document.get("items") or ():
            yield from _crd_documents(item)


def _folder_signature(folder: Path) -> tuple[tuple[str, int, int], ...]:
    stats = ((p.name, p.stat()) for p in sorted(folder.iterdir()) if p.is_file())
    return tuple((name, st.st_mtime_ns, st.st_size) for name, st in stats)


@functools.lru_cache(maxsize=8)
def _crds_cached(folder: Path, signature: tuple[tuple[str, int, int], ...]) -> Crds:
    return Crds(folder)


def load_crds(folder: Path, *, passed: bool) -> Crds:
    if not folder.is_dir():
        configured = os.environ.get(CRD_DIR_ENV)
        if passed:
            how = f"passed as crd_dir; without it {CRD_DIR_ENV} names the folder"
        elif configured:
            how = f"from {CRD_DIR_ENV}={configured!r}"
        else:
            how = f"{CRD_DIR_ENV} is not set; its default is <repository>/../shared/crds"
        raise CrdDirNotFound(
            f"CRD folder not found: {folder} ({how}); set {CRD_DIR_ENV} to a folder of "
            "CustomResourceDefinition YAML files"
        )
    return _crds_cached(folder.resolve(), _folder_signature(folder))
