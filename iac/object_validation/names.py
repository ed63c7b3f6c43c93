"""Names, label keys and values, and quantities: the string forms the API server accepts
beyond what any JSON schema says (k8s.io/apimachinery/pkg/util/validation).

Each rule returns the problem as text, or None when the value is valid.
"""

from __future__ import annotations

import re

_DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_DNS1035_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
_QUALIFIED_NAME_PART = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
ANNOTATIONS_MAX_BYTES = 256 * 1024
# resource.Quantity's syntax (k8s.io/apimachinery/pkg/api/resource), as CRDs spell it.
QUANTITY_PATTERN = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))"
    r"(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)


def dns1123_label(value: str) -> str | None:
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


def dns1123_subdomain(value: str) -> str | None:
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
    return dns1123_subdomain(value) or (
        f"must be at most 52 characters for a CronJob, is {len(value)}" if len(value) > 52 else None
    )


NAME_RULES = {
    ("", "Service"): _dns1035_label,
    ("", "Namespace"): dns1123_label,
    ("batch", "CronJob"): _cronjob_name,
    ("rbac.authorization.k8s.io", "Role"): _path_segment,
    ("rbac.authorization.k8s.io", "RoleBinding"): _path_segment,
    ("rbac.authorization.k8s.io", "ClusterRole"): _path_segment,
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"): _path_segment,
}


def qualified_name(key: str) -> str | None:
    """A label or annotation key: `[prefix/]name`, prefix a DNS subdomain, name ≤ 63."""
    prefix, slash, name = key.rpartition("/")
    if slash:
        if not prefix:
            return "prefix before '/' must not be empty"
        if problem := dns1123_subdomain(prefix):
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


def label_value(value: str) -> str | None:
    if len(value) > 63:
        return f"label value must be at most 63 characters, is {len(value)}"
    if not _LABEL_VALUE.fullmatch(value):
        return (
            "label value must be empty or letters, digits, '-', '_' or '.', "
            "starting and ending with a letter or digit"
        )
    return None
