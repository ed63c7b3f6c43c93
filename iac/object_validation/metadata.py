"""Checks the API server makes on `metadata` (and on workload templates' labels) that no
JSON schema expresses."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from iac.object_validation.builtin_schemas import Kind
from iac.object_validation.messages import FieldPath, short_repr
from iac.object_validation.names import (
    ANNOTATIONS_MAX_BYTES,
    NAME_RULES,
    dns1123_label,
    dns1123_subdomain,
    label_value,
    qualified_name,
)


def metadata_problems(obj: Mapping[str, Any], kind: Kind | None) -> Iterator[tuple[FieldPath, str]]:
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
        rule = dns1123_subdomain
        if kind is not None:
            rule = NAME_RULES.get((kind.group, kind.kind), dns1123_subdomain)
        if problem := rule(name):
            yield ("metadata", "name"), f"{name!r} {problem}"
    namespace = metadata.get("namespace")
    if kind is not None:
        if kind.namespaced and (namespace is None or namespace == ""):
            yield ("metadata", "namespace"), f"required: {kind.kind} is a namespaced kind"
        elif not kind.namespaced and namespace is not None:
            got = short_repr(namespace)
            yield (
                ("metadata", "namespace"),
                f"must not be set: {kind.kind} is cluster-scoped ({got})",
            )
    if isinstance(namespace, str) and namespace and (problem := dns1123_label(namespace)):
        yield ("metadata", "namespace"), f"{namespace!r} {problem}"
    yield from _labels_problems(metadata.get("labels"), ("metadata", "labels"))
    annotations = metadata.get("annotations")
    if isinstance(annotations, Mapping):
        size = 0
        for key, value in annotations.items():
            if isinstance(key, str) and (problem := qualified_name(key)):
                yield ("metadata", "annotations", key), f"invalid key: {problem}"
            size += len(str(key).encode()) + len(str(value).encode())
        if size > ANNOTATIONS_MAX_BYTES:
            limit = ANNOTATIONS_MAX_BYTES
            yield ("metadata", "annotations"), f"total size {size} bytes is over {limit}"
    if kind is not None and kind.group in ("apps", "batch"):
        yield from _template_label_problems(obj)


def _labels_problems(labels: Any, path: FieldPath) -> Iterator[tuple[FieldPath, str]]:
    if not isinstance(labels, Mapping):
        return
    for key, value in labels.items():
        if isinstance(key, str) and (problem := qualified_name(key)):
            yield path + (key,), f"invalid label key: {problem}"
        if isinstance(value, str) and (problem := label_value(value)):
            yield path + (key,), f"{short_repr(value)}: {problem}"


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
