"""Built-in kinds: the strict JSON schemas that kubernetes-validate ships per Kubernetes
minor, compiled once per kind."""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

import jsonschema_rs

from iac.object_validation.names import QUANTITY_PATTERN

_SCHEMA_PACKAGE = "kubernetes_validate"
_SCHEMA_FOLDER = "kubernetes-json-schema"
SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
DEFINITIONS_ID = "https://kubernetes.io/api/_definitions.json"
_QUANTITY_DEFINITION = "io.k8s.apimachinery.pkg.api.resource.Quantity"
OBJECT_META_REF = DEFINITIONS_ID + "#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"

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


INTEGER_RANGES = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}
"""What an integer of each OpenAPI format holds. JSON schema treats `format` as a note, but
the API server decodes a built-in object into Go's `int32`/`int64` and refuses a value
past their range, and a controller decodes a custom resource the same way."""


def with_integer_ranges(node: Any) -> Any:
    """A schema in which each integer of format int32 or int64 has that format's range
    (where the schema gives no narrower one), so a value past it is a problem."""
    if isinstance(node, list):
        return [with_integer_ranges(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: with_integer_ranges(value) for key, value in node.items()}
    kind = out.get("format")
    bounds = INTEGER_RANGES.get(kind) if isinstance(kind, str) else None
    types = out.get("type")
    if bounds is not None and (
        types == "integer" or (isinstance(types, list) and "integer" in types)
    ):
        low, high = bounds
        out["minimum"] = max(out.get("minimum", low), low)
        out["maximum"] = min(out.get("maximum", high), high)
    return out


@dataclass(frozen=True, slots=True)
class Kind:
    """What the top-level checks need to know about a kind."""

    group: str
    version: str
    kind: str
    namespaced: bool
    source: str  # where its schema came from, for messages

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


def split_api_version(api_version: str) -> tuple[str, str]:
    group, slash, version = api_version.rpartition("/")
    return (group, version) if slash else ("", api_version)


class BuiltinSchemas:
    """The strict schemas of one Kubernetes minor, as shipped by kubernetes-validate.

    kubernetes-validate's own `validate()` re-reads the 1.8 MB definitions file and recompiles
    the schema on every call (docs/benchmarks.md: its cost per object) and stops at the first
    error. So we read the
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
        definitions = with_integer_ranges(
            json.loads(self._folder.joinpath("_definitions.json").read_text("utf-8"))
        )
        # The OpenAPI of Kubernetes says only "string or number" for a quantity; the API server
        # parses it, so "32GB" or "one" fail there. Check its syntax here too.
        definitions["$defs"][_QUANTITY_DEFINITION] = {
            "anyOf": [{"type": "string", "pattern": QUANTITY_PATTERN}, {"type": "number"}]
        }
        self.registry = jsonschema_rs.Registry([(DEFINITIONS_ID, definitions)])
        # (group, version, kind) → definition name, from the definitions' own GVK annotations.
        self.kinds: dict[tuple[str, str, str], str] = {}
        for name, definition in definitions["$defs"].items():
            if "metadata" not in definition.get("properties", {}):
                continue
            for gvk in definition.get("x-kubernetes-group-version-kind", ()):
                if not gvk["kind"].endswith("List"):
                    self.kinds[(gvk["group"], gvk["version"], gvk["kind"])] = name
        self._validators: dict[tuple[str, str, str], jsonschema_rs.Validator] = {}

    def kind(self, group: str, version: str, kind: str) -> Kind | None:
        if (group, version, kind) not in self.kinds:
            return None
        namespaced = (group, kind) not in _CLUSTER_SCOPED_BUILTINS
        source = f"Kubernetes {self.version} (kubernetes-validate)"
        return Kind(group, version, kind, namespaced, source)

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
                schema = with_integer_ranges(json.loads(path.read_text("utf-8")))
            else:  # a few kinds have a definition but no file of their own
                schema = {
                    "$schema": SCHEMA_DIALECT,
                    "$ref": f"{DEFINITIONS_ID}#/$defs/{self.kinds[key]}",
                    "type": "object",
                }
            self._validators[key] = jsonschema_rs.validator_for(
                schema, registry=self.registry, offline=True
            )
        return self._validators[key]


@functools.lru_cache(maxsize=8)
def builtin_schemas_for(kubernetes_version: str) -> BuiltinSchemas:
    return BuiltinSchemas(kubernetes_version)
