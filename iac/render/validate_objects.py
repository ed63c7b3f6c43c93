"""Offline validation of the Kubernetes objects the compiler emits.

Every object is a plain dict, as it would appear in YAML. Three checks run on each:

* **the top level**: `apiVersion` and `kind` name something we have a schema for,
  `metadata.name` is there and is a valid name for that kind (DNS-1123 subdomain; DNS-1035
  label for a Service, DNS-1123 label for a Namespace, ...), `metadata.namespace` is there
  for a namespaced kind and absent for a cluster-scoped one, label keys and values and
  annotation keys have the forms the API server accepts;
* **built-in kinds** against the strict JSON schemas that the `kubernetes-validate` package
  ships for each Kubernetes minor version (strict: unknown fields are errors);
* **custom resources** against the `openAPIV3Schema` of the served version of their CRD,
  read from the folder named by `IAC_CRD_DIR` (default: `shared/crds` beside the repository)
  and converted to a JSON schema the way the API server reads it (see `_convert`).

Schemas are compiled once (per Kubernetes version, per CRD folder) with jsonschema-rs, so
10,000 objects take under a second. An object whose apiVersion/kind is neither built in nor
defined by a CRD in that folder is a problem too: nothing passes unchecked. CEL rules
(`x-kubernetes-validations`) and admission webhooks are not checked; see
docs/object-validation.md.

Problems are strings ``apiVersion/kind/namespace/name: field.path: message`` (no namespace
segment for a cluster-scoped kind; ``?`` for a missing part).
"""

from __future__ import annotations

import copy
import functools
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema_rs
import yaml

from iac.errors import IacError

__all__ = [
    "CRD_DIR_ENV",
    "DEFAULT_KUBERNETES_VERSION",
    "CrdDirNotFound",
    "ObjectValidator",
    "default_crd_dir",
    "validation_problems",
]

CRD_DIR_ENV = "IAC_CRD_DIR"
# The oldest minor we expect clusters to run: validating against it rejects fields that newer
# minors added. Any minor that the installed kubernetes-validate ships can be asked for.
DEFAULT_KUBERNETES_VERSION = "1.34"

_SCHEMA_PACKAGE = "kubernetes_validate"
_SCHEMA_FOLDER = "kubernetes-json-schema"
_DEFINITIONS_ID = "https://kubernetes.io/api/_definitions.json"
_QUANTITY_DEFINITION = "io.k8s.apimachinery.pkg.api.resource.Quantity"
_OBJECT_META_REF = _DEFINITIONS_ID + "#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"

# Built-in kinds without a namespace (`kubectl api-resources --namespaced=false`), by
# (group, kind). Every other built-in kind is namespaced.
_CLUSTER_SCOPED_BUILTINS = frozenset(
    {
        ("", "ComponentStatus"),
        ("", "Namespace"),
        ("", "Node"),
        ("", "PersistentVolume"),
        ("admissionregistration.k8s.io", "MutatingAdmissionPolicy"),
        ("admissionregistration.k8s.io", "MutatingAdmissionPolicyBinding"),
        ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"),
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"),
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding"),
        ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"),
        ("apiextensions.k8s.io", "CustomResourceDefinition"),
        ("apiregistration.k8s.io", "APIService"),
        ("authentication.k8s.io", "SelfSubjectReview"),
        ("authentication.k8s.io", "TokenReview"),
        ("authorization.k8s.io", "SelfSubjectAccessReview"),
        ("authorization.k8s.io", "SelfSubjectRulesReview"),
        ("authorization.k8s.io", "SubjectAccessReview"),
        ("certificates.k8s.io", "CertificateSigningRequest"),
        ("certificates.k8s.io", "ClusterTrustBundle"),
        ("flowcontrol.apiserver.k8s.io", "FlowSchema"),
        ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"),
        ("internal.apiserver.k8s.io", "StorageVersion"),
        ("networking.k8s.io", "IPAddress"),
        ("networking.k8s.io", "IngressClass"),
        ("networking.k8s.io", "ServiceCIDR"),
        ("node.k8s.io", "RuntimeClass"),
        ("rbac.authorization.k8s.io", "ClusterRole"),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
        ("resource.k8s.io", "DeviceClass"),
        ("resource.k8s.io", "DeviceTaintRule"),
        ("resource.k8s.io", "ResourcePoolStatusRequest"),
        ("resource.k8s.io", "ResourceSlice"),
        ("scheduling.k8s.io", "PriorityClass"),
        ("storage.k8s.io", "CSIDriver"),
        ("storage.k8s.io", "CSINode"),
        ("storage.k8s.io", "StorageClass"),
        ("storage.k8s.io", "VolumeAttachment"),
        ("storage.k8s.io", "VolumeAttributesClass"),
        ("storagemigration.k8s.io", "StorageVersionMigration"),
    }
)

# --- names (k8s.io/apimachinery/pkg/util/validation) ------------------------------------------

_DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_DNS1035_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
_QUALIFIED_NAME_PART = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
_ANNOTATIONS_MAX_BYTES = 256 * 1024
# resource.Quantity's syntax (k8s.io/apimachinery/pkg/api/resource), as CRDs spell it.
_QUANTITY_PATTERN = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))"
    r"(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)


def _dns1123_label(value: str) -> str | None:
    if len(value) > 63:
        return f"must be at most 63 characters (a DNS-1123 label), is {len(value)}"
    if not _DNS1123_LABEL.fullmatch(value):
        return (
            "must be a DNS-1123 label: lower-case letters, digits and '-', "
            "starting and ending with a letter or digit"
        )
    return None


def _dns1035_label(value: str) -> str | None:
    if len(value) > 63:
        return f"must be at most 63 characters (a DNS-1035 label), is {len(value)}"
    if not _DNS1035_LABEL.fullmatch(value):
        return (
            "must be a DNS-1035 label: lower-case letters, digits and '-', "
            "starting with a letter and ending with a letter or digit"
        )
    return None


def _dns1123_subdomain(value: str) -> str | None:
    if len(value) > 253:
        return f"must be at most 253 characters (a DNS-1123 subdomain), is {len(value)}"
    if not _DNS1123_SUBDOMAIN.fullmatch(value):
        return (
            "must be a DNS-1123 subdomain: lower-case letters, digits, '-' and '.', "
            "starting and ending with a letter or digit"
        )
    return None


def _path_segment(value: str) -> str | None:
    # RBAC objects: ValidateRBACName = path.IsValidPathSegmentName.
    if value in (".", ".."):
        return f"may not be {value!r}"
    if "/" in value or "%" in value:
        return "may not contain '/' or '%'"
    return None


def _cronjob_name(value: str) -> str | None:
    # The controller appends an 11-character suffix to name Jobs, which are DNS-1035 labels.
    return _dns1123_subdomain(value) or (
        f"must be at most 52 characters for a CronJob, is {len(value)}" if len(value) > 52 else None
    )


_NAME_RULES = {
    ("", "Service"): _dns1035_label,
    ("", "Namespace"): _dns1123_label,
    ("batch", "CronJob"): _cronjob_name,
    ("rbac.authorization.k8s.io", "Role"): _path_segment,
    ("rbac.authorization.k8s.io", "RoleBinding"): _path_segment,
    ("rbac.authorization.k8s.io", "ClusterRole"): _path_segment,
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"): _path_segment,
}


def _qualified_name(key: str) -> str | None:
    """A label or annotation key: `[prefix/]name`, prefix a DNS subdomain, name ≤ 63."""
    prefix, slash, name = key.rpartition("/")
    if slash:
        if not prefix:
            return "prefix before '/' must not be empty"
        if problem := _dns1123_subdomain(prefix):
            return f"prefix {problem}"
    if not name:
        return "name part must not be empty"
    if len(name) > 63:
        return f"name part must be at most 63 characters, is {len(name)}"
    if not _QUALIFIED_NAME_PART.fullmatch(name):
        return (
            "name part must be letters, digits, '-', '_' or '.', "
            "starting and ending with a letter or digit"
        )
    return None


def _label_value(value: str) -> str | None:
    if len(value) > 63:
        return f"label value must be at most 63 characters, is {len(value)}"
    if not _LABEL_VALUE.fullmatch(value):
        return (
            "label value must be empty or letters, digits, '-', '_' or '.', "
            "starting and ending with a letter or digit"
        )
    return None


# --- paths and messages ----------------------------------------------------------------------

FieldPath = tuple[str | int, ...]
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_$-]+")


def _format_path(path: Iterable[str | int]) -> str:
    """`("spec", "containers", 0, "resources", "limits", "nvidia.com/gpu")` →
    `spec.containers[0].resources.limits["nvidia.com/gpu"]`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _PLAIN_KEY.fullmatch(part):
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(part)}]"
    return out or "(root)"


def _short(value: Any, limit: int = 80) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


_JSON_TYPE_NAMES = {
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    list: "array",
    dict: "object",
    type(None): "null",
}


def _json_type(value: Any) -> str:
    return _JSON_TYPE_NAMES.get(type(value), type(value).__name__)


def _type_names(error: jsonschema_rs.ValidationError) -> list[str] | None:
    """The types a `type` error wanted (without "null"), else None."""
    kind = error.kind
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.Type):
        return [t for t in kind.types if t != "null"] or list(kind.types)
    return None


def _wrong_type_here(error: jsonschema_rs.ValidationError, path: FieldPath) -> bool:
    return _type_names(error) is not None and tuple(error.instance_path) == path


def _messages(error: jsonschema_rs.ValidationError) -> Iterator[tuple[FieldPath, str]]:
    """One schema error → (path, message) pairs that name the offending field."""
    path: FieldPath = tuple(error.instance_path)
    instance = error.instance
    kind = error.kind
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.AdditionalProperties):
        for key in kind.unexpected:
            yield path + (key,), "unknown field (not in the schema)"
        return
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.Required):
        yield path + (kind.property,), "required field is missing"
        return
    wanted = _type_names(error)
    if wanted is None and isinstance(
        kind,
        jsonschema_rs.ValidationErrorKind.AnyOf | jsonschema_rs.ValidationErrorKind.OneOfNotValid,
    ):
        # int-or-string, quantities: say what was expected rather than "not valid under any".
        branches = [_type_names(e) if len(b) == 1 else None for b in kind.context for e in b[:1]]
        if branches and len(branches) == len(kind.context) and all(branches):
            wanted = list(dict.fromkeys(t for types in branches if types for t in types))
        else:  # the one branch whose type fits says what is wrong
            fitting = [
                b for b in kind.context if b and not any(_wrong_type_here(e, path) for e in b)
            ]
            if len(fitting) == 1:
                for sub in fitting[0]:
                    yield from _messages(sub)
                return
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.Pattern) and kind.pattern in (
        _QUANTITY_PATTERN,
        _QUANTITY_PATTERN.strip("^$"),
    ):
        yield path, f"{_short(instance)} is not a quantity (such as 500m, 4, 1.5, 32Gi, 100G)"
        return
    if wanted is not None:
        expected = " or ".join(wanted)
        yield path, f"expected {expected}, got {_json_type(instance)} {_short(instance)}"
        return
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.Enum):
        options = ", ".join(json.dumps(o) for o in kind.options)
        yield path, f"{_short(instance)} is not one of: {options}"
        return
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.Custom):
        yield path, kind.message
        return
    yield path, error.message


# --- CRD schema → JSON schema ----------------------------------------------------------------

# OpenAPI keywords that are annotations, or CEL, or handled apart.
_DROPPED_KEYWORDS = frozenset(
    {"description", "default", "example", "externalDocs", "nullable", "x-kubernetes-validations"}
)


def _convert(node: Mapping[str, Any], *, structural: bool = True) -> dict[str, Any]:
    """A CRD (OpenAPI v3, structural) schema node → a JSON schema (2020-12) node.

    * `type` with `nullable: true` → `[type, "null"]` (and `null` added to an `enum`);
    * `x-kubernetes-int-or-string: true` → `type: [integer, string]`;
    * `x-kubernetes-preserve-unknown-fields: true` → any field allowed (and any type if untyped);
    * `x-kubernetes-embedded-resource: true` → `apiVersion` and `kind` required strings,
      `metadata` an ObjectMeta;
    * every other object node of the structural part (reached through `properties`, `items`,
      `additionalProperties`) gets `additionalProperties: false`, since the API server prunes
      or rejects unknown fields: a typo in our output must fail;
    * `x-kubernetes-list-type: set` → `uniqueItems`; `map` keeps `x-kubernetes-list-map-keys`,
      checked by a custom keyword (`_ListMapKeys`);
    * `format` is kept for `ipv4`/`ipv6` only (see `_CRD_FORMATS`);
    * draft-4 boolean `exclusiveMinimum`/`exclusiveMaximum` → the numeric 2020-12 form;
    * `x-kubernetes-validations` (CEL) and annotations are dropped: CEL is not checked.

    Nodes under `allOf`/`anyOf`/`oneOf`/`not` are value validations, never structural: they get
    no `additionalProperties`.
    """
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROPPED_KEYWORDS:
            continue
        if key in ("properties", "patternProperties") and isinstance(value, Mapping):
            out[key] = {
                name: _convert(child, structural=structural) for name, child in value.items()
            }
        elif key in ("items", "additionalProperties") and isinstance(value, Mapping):
            out[key] = _convert(value, structural=structural)
        elif key in ("allOf", "anyOf", "oneOf") and isinstance(value, Sequence):
            out[key] = [_convert(child, structural=False) for child in value]
        elif key == "not" and isinstance(value, Mapping):
            out[key] = _convert(value, structural=False)
        elif key in ("exclusiveMinimum", "exclusiveMaximum") and isinstance(value, bool):
            bound = "minimum" if key == "exclusiveMinimum" else "maximum"
            if value and bound in node:
                out[key] = node[bound]
        elif key in ("minimum", "maximum") and node.get(f"exclusive{key.capitalize()}") is True:
            continue  # moved into exclusiveMinimum/exclusiveMaximum above
        elif key == "format":
            if value in _CRD_FORMATS:
                out[key] = value
        elif key == "x-kubernetes-list-type":
            if value == "set":
                out["uniqueItems"] = True
        elif key == "x-kubernetes-list-map-keys":
            if node.get("x-kubernetes-list-type") == "map":
                out[key] = list(value)
        elif key.startswith("x-kubernetes-"):
            continue  # handled below or meaningless to a validator (map-type, ...)
        else:
            out[key] = value

    nullable = node.get("nullable") is True
    preserve = node.get("x-kubernetes-preserve-unknown-fields") is True
    if node.get("x-kubernetes-int-or-string") is True:
        out["type"] = ["integer", "string"]
    if "type" in out and nullable:
        types = [out["type"]] if isinstance(out["type"], str) else list(out["type"])
        out["type"] = [*types, "null"]
    if "enum" in out and nullable and None not in out["enum"]:
        out["enum"] = [*out["enum"], None]

    if node.get("x-kubernetes-embedded-resource") is True:
        props = out.setdefault("properties", {})
        props["apiVersion"] = props.get("apiVersion", {"type": "string"})
        props["kind"] = props.get("kind", {"type": "string"})
        props["metadata"] = _metadata_schema(node.get("properties", {}).get("metadata"))
        required = out.get("required", [])
        out["required"] = [*required, *(k for k in ("apiVersion", "kind") if k not in required)]

    is_object = out.get("type") in ("object", ["object", "null"]) or "properties" in out
    if structural and is_object and not preserve and "additionalProperties" not in node:
        out["additionalProperties"] = False
    return out


def _metadata_schema(crd_metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    """Object metadata is validated as the built-in ObjectMeta (the API server does so for the
    root and for embedded resources), plus whatever the CRD adds (it may only constrain
    `name` and `generateName`)."""
    if not crd_metadata or not crd_metadata.get("properties"):
        return {"$ref": _OBJECT_META_REF}
    return {"allOf": [{"$ref": _OBJECT_META_REF}, _convert(crd_metadata, structural=False)]}


def _root_schema(openapi: Mapping[str, Any]) -> dict[str, Any]:
    schema = _convert(openapi)
    props = schema.setdefault("properties", {})
    props["metadata"] = _metadata_schema(openapi.get("properties", {}).get("metadata"))
    props.setdefault("apiVersion", {"type": "string"})
    props.setdefault("kind", {"type": "string"})
    schema["type"] = "object"
    schema["$schema"] = _SCHEMA_DIALECT
    return schema


def _apply_defaults(value: Any, schema: Mapping[str, Any]) -> None:
    """Structural defaulting, as the API server does before validating a custom resource
    (apiextensions-apiserver schema/defaulting): a missing property, or a null one that is not
    nullable, gets its `default`; then the children are defaulted, defaults included."""
    if isinstance(value, dict):
        props: Mapping[str, Any] = schema.get("properties") or {}
        for key, prop in props.items():
            if "default" in prop and (
                key not in value or (value[key] is None and prop.get("nullable") is not True)
            ):
                value[key] = copy.deepcopy(prop["default"])
        additional = schema.get("additionalProperties")
        for key, child in value.items():
            if key in props:
                _apply_defaults(child, props[key])
            elif isinstance(additional, Mapping):
                _apply_defaults(child, additional)
    elif isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, Mapping):
            for child in value:
                _apply_defaults(child, items)


def _has_defaults(schema: Mapping[str, Any]) -> bool:
    if "default" in schema:
        return True
    children: list[Any] = list((schema.get("properties") or {}).values())
    children += [schema.get("items"), schema.get("additionalProperties")]
    return any(isinstance(c, Mapping) and _has_defaults(c) for c in children)


class _ListMapKeys:
    """`x-kubernetes-list-type: map` with `x-kubernetes-list-map-keys`: no two items of the
    list may have the same values of the key fields (a jsonschema-rs custom keyword)."""

    def __init__(
        self, parent_schema: dict[str, Any], value: Any, schema_path: list[str | int]
    ) -> None:
        self.keys = [str(k) for k in value] if isinstance(value, list) else []

    def validate(self, instance: Any) -> None:
        for problem in self._duplicates(instance):
            raise ValueError(problem)

    def iter_errors(self, instance: Any) -> Iterator[ValueError]:
        for problem in self._duplicates(instance):
            yield ValueError(problem)

    def _duplicates(self, instance: Any) -> Iterator[str]:
        if not isinstance(instance, list):
            return
        seen: dict[str, int] = {}
        for index, item in enumerate(instance):
            if not isinstance(item, Mapping):
                continue
            key = json.dumps([item.get(k) for k in self.keys], sort_keys=True, default=str)
            if key in seen:
                shown = ", ".join(f"{k}={_short(item.get(k))}" for k in self.keys)
                yield (
                    f"items {seen[key]} and {index} have the same key ({shown}); "
                    "x-kubernetes-list-type: map allows one item per key"
                )
            else:
                seen[key] = index


_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
# Kubernetes checks these formats on custom resources; the others a CRD may name (date-time,
# int32, Go durations, ...) are dropped by `_convert`, as we check them nowhere.
_CRD_FORMATS = frozenset({"ipv4", "ipv6"})


# --- built-in kinds: kubernetes-validate's strict schemas ------------------------------------


@dataclass(frozen=True, slots=True)
class _Kind:
    """What the top-level checks need to know about a kind."""

    group: str
    version: str
    kind: str
    namespaced: bool
    source: str  # where its schema came from, for messages

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


def _split_api_version(api_version: str) -> tuple[str, str]:
    group, slash, version = api_version.rpartition("/")
    return (group, version) if slash else ("", api_version)


class _BuiltinSchemas:
    """The strict schemas of one Kubernetes minor, as shipped by kubernetes-validate.

    kubernetes-validate's own `validate()` re-reads the 1.8 MB definitions file and recompiles
    the schema on every call (25 ms an object) and stops at the first error. So we read the
    same files in the same way (`<kind>-<group prefix>-<version>.json` against
    `_definitions.json`, Draft 2020-12) once, compile each kind once with jsonschema-rs, and
    collect every error.
    """

    def __init__(self, kubernetes_version: str) -> None:
        folder = resources.files(_SCHEMA_PACKAGE).joinpath(_SCHEMA_FOLDER)
        available = sorted(
            (p.name for p in folder.iterdir() if p.name.endswith("-local-strict")),
            key=lambda n: tuple(int(x) for x in re.findall(r"\d+", n)),
        )
        wanted = f"v{kubernetes_version.removeprefix('v')}"
        matches = [n for n in available if n == f"{wanted}.0-local-strict"]
        if not matches:
            shown = ", ".join(n.removeprefix("v").split(".0-")[0] for n in available)
            raise ValueError(
                f"kubernetes-validate has no schemas for Kubernetes {kubernetes_version!r}; "
                f"it ships: {shown}"
            )
        self.version = kubernetes_version.removeprefix("v")
        self._folder = folder.joinpath(matches[0])
        definitions = json.loads(self._folder.joinpath("_definitions.json").read_text("utf-8"))
        # The OpenAPI of Kubernetes says only "string or number" for a quantity; the API server
        # parses it, so "32GB" or "one" fail there. Check its syntax here too.
        definitions["$defs"][_QUANTITY_DEFINITION] = {
            "anyOf": [{"type": "string", "pattern": _QUANTITY_PATTERN}, {"type": "number"}]
        }
        self.registry = jsonschema_rs.Registry([(_DEFINITIONS_ID, definitions)])
        # (group, version, kind) → definition name, from the definitions' own GVK annotations.
        self.kinds: dict[tuple[str, str, str], str] = {}
        for name, definition in definitions["$defs"].items():
            if "metadata" not in definition.get("properties", {}):
                continue
            for gvk in definition.get("x-kubernetes-group-version-kind", ()):
                if not gvk["kind"].endswith("List"):
                    self.kinds[(gvk["group"], gvk["version"], gvk["kind"])] = name
        self._validators: dict[tuple[str, str, str], jsonschema_rs.Validator] = {}

    def kind(self, group: str, version: str, kind: str) -> _Kind | None:
        if (group, version, kind) not in self.kinds:
            return None
        namespaced = (group, kind) not in _CLUSTER_SCOPED_BUILTINS
        source = f"Kubernetes {self.version} (kubernetes-validate)"
        return _Kind(group, version, kind, namespaced, source)

    def versions_of(self, group: str, kind: str) -> list[str]:
        return sorted(v for g, v, k in self.kinds if g == group and k == kind)

    def validator(self, group: str, version: str, kind: str) -> jsonschema_rs.Validator:
        key = (group, version, kind)
        if key not in self._validators:
            api_version = f"{group}/{version}" if group else version
            # kubernetes_validate.utils.validate: the group's first label names the file.
            prefix = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
            path = self._folder.joinpath(f"{kind.lower()}-{prefix}.json")
            if path.is_file():
                schema = json.loads(path.read_text("utf-8"))
            else:  # a few kinds have a definition but no file of their own
                schema = {
                    "$schema": _SCHEMA_DIALECT,
                    "$ref": f"{_DEFINITIONS_ID}#/$defs/{self.kinds[key]}",
                    "type": "object",
                }
            self._validators[key] = jsonschema_rs.validator_for(
                schema, registry=self.registry, offline=True
            )
        return self._validators[key]


@functools.lru_cache(maxsize=8)
def _builtin_schemas(kubernetes_version: str) -> _BuiltinSchemas:
    return _BuiltinSchemas(kubernetes_version)


# --- custom resources: CRDs from a folder ----------------------------------------------------


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
class _CrdVersion:
    kind: _Kind
    openapi: Mapping[str, Any]
    served: bool
    file: str
    # Compiled on first use, per Kubernetes version (whose ObjectMeta the schema refers to).
    _validators: dict[str, jsonschema_rs.Validator] = field(default_factory=dict, repr=False)
    _defaults: bool | None = field(default=None, repr=False)


class _Crds:
    """Every CRD in a folder, indexed by (group, version, kind); schemas compiled on first use."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.versions: dict[tuple[str, str, str], _CrdVersion] = {}
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
            self.versions[key] = _CrdVersion(
                kind=_Kind(group, name, kind, namespaced, source),
                openapi=schema,
                served=entry.get("served", True) is not False,
                file=file,
            )

    def versions_of(self, group: str, kind: str) -> list[str]:
        return sorted(v for g, v, k in self.versions if g == group and k == kind)

    @staticmethod
    def validator(crd: _CrdVersion, builtins: _BuiltinSchemas) -> jsonschema_rs.Validator:
        if builtins.version not in crd._validators:
            crd._validators[builtins.version] = jsonschema_rs.validator_for(
                _root_schema(crd.openapi),
                registry=builtins.registry,
                validate_formats=True,
                keywords={"x-kubernetes-list-map-keys": _ListMapKeys},
                offline=True,
            )
        return crd._validators[builtins.version]

    @staticmethod
    def defaulted(crd: _CrdVersion, obj: Mapping[str, Any]) -> Any:
        if crd._defaults is None:
            crd._defaults = _has_defaults(crd.openapi)
        if not crd._defaults:
            return obj
        copied = copy.deepcopy(dict(obj))
        _apply_defaults(copied, crd.openapi)
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
def _crds_cached(folder: Path, signature: tuple[tuple[str, int, int], ...]) -> _Crds:
    return _Crds(folder)


def _crds(folder: Path, *, passed: bool) -> _Crds:
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


# --- the validator ---------------------------------------------------------------------------


class ObjectValidator:
    """Validates Kubernetes objects (plain dicts) offline; see the module docstring."""

    def __init__(
        self, crd_dir: str | None = None, kubernetes_version: str = DEFAULT_KUBERNETES_VERSION
    ) -> None:
        folder = Path(crd_dir) if crd_dir is not None else default_crd_dir()
        self.crds = _crds(folder, passed=crd_dir is not None)
        self.builtins = _builtin_schemas(kubernetes_version)
        self.kubernetes_version = self.builtins.version

    def problems(self, obj: dict[str, Any]) -> list[str]:
        """Every problem of one object, each ``ident: field.path: message``; `[]` when valid."""
        if not isinstance(obj, Mapping):
            return [f"?: (root): expected an object (mapping), got {_json_type(obj)}"]
        found: list[tuple[FieldPath, str]] = []
        kind, crd = self._resolve(obj, found)
        ident = _ident(obj, kind)
        found += _metadata_problems(obj, kind)
        if kind is not None:
            found += self._schema_problems(obj, kind, crd)
        unique = sorted(set(found), key=lambda p: (_format_path(p[0]), p[1]))
        return [f"{ident}: {_format_path(path)}: {message}" for path, message in unique]

    def _resolve(
        self, obj: Mapping[str, Any], found: list[tuple[FieldPath, str]]
    ) -> tuple[_Kind | None, _CrdVersion | None]:
        """The kind of `obj` and, for a custom resource, its CRD version; else a problem."""
        api_version, kind_name = obj.get("apiVersion"), obj.get("kind")
        if not isinstance(api_version, str) or not api_version:
            found.append((("apiVersion",), "required field is missing or not a string"))
        if not isinstance(kind_name, str) or not kind_name:
            found.append((("kind",), "required field is missing or not a string"))
        if found or not (isinstance(api_version, str) and isinstance(kind_name, str)):
            return None, None
        group, version = _split_api_version(api_version)
        kind = self.builtins.kind(group, version, kind_name)
        if kind is not None:
            return kind, None
        crd = self.crds.versions.get((group, version, kind_name))
        if crd is not None and crd.served:
            return crd.kind, crd
        found.append(self._unknown(group, version, kind_name, crd))
        return None, None

    def _schema_problems(
        self, obj: Mapping[str, Any], kind: _Kind, crd: _CrdVersion | None
    ) -> Iterator[tuple[FieldPath, str]]:
        if crd is None:
            validator = self.builtins.validator(kind.group, kind.version, kind.kind)
            instance: Any = obj
        else:
            validator = self.crds.validator(crd, self.builtins)
            instance = self.crds.defaulted(crd, obj)
        for error in validator.iter_errors(instance):
            yield from _messages(error)

    def _unknown(
        self, group: str, version: str, kind: str, crd: _CrdVersion | None
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


def _ident(obj: Mapping[str, Any], kind: _Kind | None) -> str:
    metadata = obj.get("metadata")
    metadata = metadata if isinstance(metadata, Mapping) else {}

    def part(value: Any) -> str:
        return value if isinstance(value, str) and value else "?"

    parts = [part(obj.get("apiVersion")), part(obj.get("kind"))]
    namespace = metadata.get("namespace")
    if (kind is not None and kind.namespaced) or (kind is None and namespace is not None):
        parts.append(part(namespace))
    parts.append(part(metadata.get("name")))
    return "/".join(parts)


def _metadata_problems(
    obj: Mapping[str, Any], kind: _Kind | None
) -> Iterator[tuple[FieldPath, str]]:
    """Checks the API server makes on metadata that no JSON schema expresses."""
    metadata = obj.get("metadata")
    if metadata is None:
        yield ("metadata",), "required field is missing"
        return
    if not isinstance(metadata, Mapping):
        return  # the schema reports the type
    name = metadata.get("name")
    if name is None or name == "":
        yield ("metadata", "name"), "required field is missing"
    elif isinstance(name, str):
        rule = _dns1123_subdomain
        if kind is not None:
            rule = _NAME_RULES.get((kind.group, kind.kind), _dns1123_subdomain)
        if problem := rule(name):
            yield ("metadata", "name"), f"{name!r} {problem}"
    namespace = metadata.get("namespace")
    if kind is not None:
        if kind.namespaced and (namespace is None or namespace == ""):
            yield ("metadata", "namespace"), f"required: {kind.kind} is a namespaced kind"
        elif not kind.namespaced and namespace is not None:
            got = _short(namespace)
            yield (
                ("metadata", "namespace"),
                f"must not be set: {kind.kind} is cluster-scoped ({got})",
            )
    if isinstance(namespace, str) and namespace and (problem := _dns1123_label(namespace)):
        yield ("metadata", "namespace"), f"{namespace!r} {problem}"
    yield from _labels_problems(metadata.get("labels"), ("metadata", "labels"))
    annotations = metadata.get("annotations")
    if isinstance(annotations, Mapping):
        size = 0
        for key, value in annotations.items():
            if isinstance(key, str) and (problem := _qualified_name(key)):
                yield ("metadata", "annotations", key), f"invalid key: {problem}"
            size += len(str(key).encode()) + len(str(value).encode())
        if size > _ANNOTATIONS_MAX_BYTES:
            limit = _ANNOTATIONS_MAX_BYTES
            yield ("metadata", "annotations"), f"total size {size} bytes is over {limit}"
    if kind is not None and kind.group in ("apps", "batch"):
        yield from _template_label_problems(obj)


def _labels_problems(labels: Any, path: FieldPath) -> Iterator[tuple[FieldPath, str]]:
    if not isinstance(labels, Mapping):
        return
    for key, value in labels.items():
        if isinstance(key, str) and (problem := _qualified_name(key)):
            yield path + (key,), f"invalid label key: {problem}"
        if isinstance(value, str) and (problem := _label_value(value)):
            yield path + (key,), f"{_short(value)}: {problem}"


def _template_label_problems(obj: Mapping[str, Any]) -> Iterator[tuple[FieldPath, str]]:
    """Labels of the pod template and the selector of workloads (Deployment, Job, ...)."""
    spec = obj.get("spec")
    if not isinstance(spec, Mapping):
        return
    base: FieldPath = ("spec",)
    job_template = spec.get("jobTemplate")
    if isinstance(job_template, Mapping) and isinstance(job_template.get("spec"), Mapping):
        spec, base = job_template["spec"], ("spec", "jobTemplate", "spec")
    template = spec.get("template")
    if isinstance(template, Mapping) and isinstance(template.get("metadata"), Mapping):
        yield from _labels_problems(
            template["metadata"].get("labels"), base + ("template", "metadata", "labels")
        )
    selector = spec.get("selector")
    if isinstance(selector, Mapping):
        yield from _labels_problems(selector.get("matchLabels"), base + ("selector", "matchLabels"))


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
