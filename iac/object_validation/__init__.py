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
  and converted to a JSON schema the way the API server reads it (see `_convert` in
  crd_schema.py).

Schemas are compiled once (per Kubernetes version, per CRD folder) with jsonschema-rs, so
validating a large stack's objects costs little next to rendering them. An object whose
apiVersion/kind is neither built in nor defined by a CRD in that folder is a problem too:
nothing passes unchecked. CEL rules (`x-kubernetes-validations`) and admission webhooks are
not checked; see docs/object-validation.md.

Problems are strings ``apiVersion/kind/namespace/name: field.path: message`` (no namespace
segment for a cluster-scoped kind; ``?`` for a missing part).

    validator.py        ObjectValidator, validation_problems: resolve the kind, collect problems
    metadata.py         metadata checks no schema expresses (names, namespace, labels, size)
    names.py            the string rules: DNS names, label keys and values, quantities
    builtin_schemas.py  built-in kinds: kubernetes-validate's strict schemas, compiled per kind
    crds.py             custom resources: the CRDs of a folder (IAC_CRD_DIR), cached per folder
    crd_schema.py       a CRD's openAPIV3Schema → JSON schema; structural defaulting
    messages.py         field paths, object identifiers, schema errors → messages
"""

from __future__ import annotations

from iac.object_validation.crds import CRD_DIR_ENV, CrdDirNotFound, default_crd_dir
from iac.object_validation.validator import (
    DEFAULT_KUBERNETES_VERSION,
    ObjectValidator,
    validation_problems,
)

__all__ = [
    "CRD_DIR_ENV",
    "DEFAULT_KUBERNETES_VERSION",
    "CrdDirNotFound",
    "ObjectValidator",
    "default_crd_dir",
    "validation_problems",
]
