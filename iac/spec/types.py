"""Value types shared by the stack file models: names, durations, quantities, accelerators.

Each type validates and normalizes one kind of value, and says in its error message what a
valid value looks like.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError, core_schema

from iac.catalog import accelerator_names, catalog
from iac.diagnostics import did_you_mean

INT32_MAX = 2**31 - 1
"""The largest value of the Kubernetes fields replica counts, targets and node counts land
in (`int32` in the API and in the CRDs' schemas: `replicas`, `maxReplicaCount`,
`targetValue`, a GKE pool's `totalMaxNodeCount`); also the most the API server allows as a
`runAsUser`."""

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


def _suggest_name(value: str) -> str:
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9-]", "-", value.lower())).strip("-")[:63]


def _dns_label(value: str) -> str:
    if len(value) > 63 or not _DNS_LABEL.match(value):
        suggestion = _suggest_name(value)
        hint = f" (e.g. '{suggestion}')" if suggestion and suggestion != value else ""
        raise PydanticCustomError(
            "dns_label",
            "'{value}' is not a valid name: use at most 63 lower-case letters, digits and '-', "
            "starting and ending with a letter or digit{hint}",
            {"value": value, "hint": hint},
        )
    return value


def _dns_subdomain(value: str) -> str:
    if len(value) > 253 or not _DNS_SUBDOMAIN.match(value):
        raise PydanticCustomError(
            "dns_subdomain",
            "'{value}' is not a valid Kubernetes object name: use lower-case letters, digits, "
            "'-' and '.', starting and ending with a letter or digit",
            {"value": value},
        )
    return value


Name = Annotated[
    str,
    AfterValidator(_dns_label),
    WithJsonSchema(
        {"type": "string", "pattern": _DNS_LABEL.pattern, "maxLength": 63},
        mode="validation",
    ),
]
"""A DNS-1123 label: what Kubernetes accepts as a name and Gateway paths carry safely."""

_DNS_1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")

ModelName = Annotated[
    str,
    AfterValidator(_dns_label),
    WithJsonSchema(
        {"type": "string", "pattern": _DNS_1035_LABEL.pattern, "maxLength": 63},
        mode="validation",
    ),
]
"""A model's name: a DNS-1123 label that starts with a letter, as its Services' names
(`MODEL-DEPLOYMENT`, DNS-1035 labels) must. The schema says so for editors; `iac validate`
reports a leading digit itself (`iac.validate.references`), at the model's key and with the
rename to make, which a pydantic error could not say as well."""

_HOSTNAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+$")
_IP_ADDRESS = re.compile(r"^[0-9.]+$")
URL_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
"""A URL's scheme (`https://`), written where a host name or an image belongs."""
_PORT = re.compile(r":[0-9]*$")


def is_hostname(value: str) -> bool:
    """Whether `value` is a host name a Gateway listener and an HTTPRoute accept (and not an
    IP address, nor a name of one label)."""
    return (
        len(value) <= 253
        and bool(_HOSTNAME.match(value))
        and all(len(label) <= 63 for label in value.split("."))
        and not _IP_ADDRESS.match(value)
    )


def hostname_corrections(value: str) -> tuple[list[str], str]:
    """The common mistakes in a host name (a URL's scheme, port or path, upper case, a
    trailing dot, an underscore), each said as what to do, and the value without them."""
    fixes: list[str] = []
    dropped: list[str] = []
    text = value.strip()
    scheme = URL_SCHEME.match(text)
    if scheme:
        dropped.append("the scheme")
        text = text[scheme.end() :]
    text, slash, path = text.partition("/")
    port = _PORT.search(text)
    if port:
        dropped.append("the port")
        text = text[: port.start()]
    if slash and (path or not scheme):  # `https://host/` is a URL's way of writing `host`
        dropped.append("the path" if path else "the trailing '/'")
    if text.endswith(".") and text.strip("."):
        dropped.append("the trailing dot")
        text = text.rstrip(".")
    if dropped:
        fixes.append("drop " + _and(dropped))
    if text != text.lower():
        fixes.append("host names are lower case")
        text = text.lower()
    if "_" in text:
        fixes.append("'_' cannot be in a host name (use '-')")
        text = text.replace("_", "-")
    return fixes, text


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _hostname(value: str) -> str:
    if is_hostname(value):
        return value
    if value.startswith("*.") and is_hostname(value[2:]):
        raise PydanticCustomError(
            "hostname",
            "'{value}' is not a host name: iac routes exact hosts, and the wildcard belongs "
            "on the Gateway's listener; write a host such as 'models.{rest}'",
            {"value": value, "rest": value[2:]},
        )
    fixes, corrected = hostname_corrections(value)
    if fixes and is_hostname(corrected):
        raise PydanticCustomError(
            "hostname",
            "'{value}' is not a host name: {fixes}: write '{corrected}'",
            {"value": value, "fixes": "; ".join(fixes), "corrected": corrected},
        )
    raise PydanticCustomError(
        "hostname",
        "'{value}' is not a host name: write a fully qualified name such as "
        "'models.example.com' (lower-case letters, digits, '-' and '.', at least two "
        "labels of at most 63 characters; no scheme, port, path, wildcard or IP address)",
        {"value": value},
    )


Hostname = Annotated[
    str,
    AfterValidator(_hostname),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": _HOSTNAME.pattern,
            "maxLength": 253,
            "not": {"pattern": _IP_ADDRESS.pattern},
        }
    ),
]
"""A DNS name a Gateway listener and an HTTPRoute accept (Gateway API `Hostname`, without
the wildcard: iac names exact hosts)."""

SecretName = Annotated[
    str,
    AfterValidator(_dns_subdomain),
    WithJsonSchema({"type": "string", "pattern": _DNS_SUBDOMAIN.pattern, "maxLength": 253}),
]
"""The name of a Kubernetes Secret in the stack's namespace."""

_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s?)?$")
_DURATION_HELP = "write seconds (90) or a number with s, m or h (90s, 15m, 1h)"


def parse_duration(value: Any) -> int:
    """`90`, `"90"`, `"90s"`, `"15m"`, `"1h"`, `"1h30m"` → seconds."""
    if isinstance(value, bool):
        raise PydanticCustomError("duration", "expected a duration; " + _DURATION_HELP)
    if isinstance(value, int):
        if value < 0:
            raise PydanticCustomError("duration", "a duration cannot be negative")
        return value
    if isinstance(value, str):
        match = _DURATION.match(value.strip())
        if match and value.strip() and any(match.groups()):
            hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
            return hours * 3600 + minutes * 60 + seconds
    raise PydanticCustomError(
        "duration", "'{value}' is not a duration; " + _DURATION_HELP, {"value": value}
    )


def format_duration(seconds: int) -> str:
    """900 → '15m', 5400 → '1h30m', 90 → '90s' (for messages)."""
    if seconds and seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    if seconds >= 3600 and seconds % 60 == 0:
        return f"{seconds // 3600}h{seconds % 3600 // 60}m"
    if seconds and seconds % 60 == 0:
        return f"{seconds // 60}m"
    return f"{seconds}s"


@dataclass(frozen=True, slots=True)
class DurationRange:
    """Marks an `int` field as a duration in seconds, written `90`, `90s`, `15m` or `1h`,
    within [low, high]: `Annotated[int, DurationRange(10, 3600)]`."""

    low: int
    high: int

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_before_validator_function(
            parse_duration,
            core_schema.no_info_after_validator_function(self._check, handler(source)),
        )

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> dict[str, Any]:
        return {
            "anyOf": [
                {"type": "integer", "minimum": self.low, "maximum": self.high},
                {"type": "string", "pattern": r"^(\d+h)?(\d+m)?(\d+s?)?$"},
            ],
        }

    def _check(self, seconds: int) -> int:
        if not self.low <= seconds <= self.high:
            raise PydanticCustomError(
                "duration_range",
                "{got} is out of range; use {low} to {high}",
                {
                    "got": format_duration(seconds),
                    "low": format_duration(self.low),
                    "high": format_duration(self.high),
                },
            )
        return seconds


_CPU = re.compile(r"^\d+(\.\d+)?m?$")
_MEMORY = re.compile(r"^\d+(\.\d+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)$")
_NUMBER = re.compile(r"^\d+(\.\d+)?$")
_WRONG_UNIT = re.compile(r"^(\d+(?:\.\d+)?)\s*([A-Za-z]+)$")
_BINARY_UNIT = {"k": "Ki", "m": "Mi", "g": "Gi", "t": "Ti", "p": "Pi", "e": "Ei"}
"""A unit written the way people write it elsewhere (`GB`, `gib`, `g`, `m`) → the binary
unit they almost always mean."""


def _cpu(value: Any) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not _CPU.match(value):
        raise PydanticCustomError(
            "quantity",
            "'{value}' is not a CPU quantity; write e.g. '8' or '500m'",
            {"value": value},
        )
    return value


def _memory(value: Any) -> str:
    if isinstance(value, str) and _MEMORY.match(value):
        return value
    number = value if isinstance(value, str) else None
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = f"{value:g}" if isinstance(value, float) else str(value)
    if number is not None and _NUMBER.match(number):
        raise PydanticCustomError(
            "quantity",
            "'{number}' has no unit, so Kubernetes would read it as {number} bytes: write "
            "'{number}Gi' (gibibytes) or '{number}Mi' (mebibytes)",
            {"number": number},
        )
    wrong = _WRONG_UNIT.match(value) if isinstance(value, str) else None
    if wrong is not None:
        amount, unit = wrong.groups()
        suggested = _BINARY_UNIT.get(unit.lower().removesuffix("b").removesuffix("i"))
        if suggested is not None:
            raise PydanticCustomError(
                "quantity",
                "'{value}' is not a memory quantity: the units are Ki, Mi, Gi, Ti (powers of "
                "1024) and k, M, G, T (of 1000); write '{amount}{unit}'",
                {"value": value, "amount": amount, "unit": suggested},
            )
    raise PydanticCustomError(
        "quantity",
        "{value} is not a memory quantity; write e.g. '64Gi' or '512Mi'",
        {"value": f"'{value}'" if isinstance(value, str) else repr(value).lower()},
    )


Cpu = Annotated[
    str,
    BeforeValidator(_cpu),
    WithJsonSchema(
        {"anyOf": [{"type": "string", "pattern": _CPU.pattern}, {"type": "number", "minimum": 0}]}
    ),
]
"""CPU cores: `8`, `"8"`, `"500m"`."""
Memory = Annotated[
    str,
    BeforeValidator(_memory),
    WithJsonSchema({"type": "string", "pattern": _MEMORY.pattern}),
]
"""Memory with a Kubernetes unit: `64Gi`, `512Mi`. A number alone is refused: Kubernetes
reads it as bytes, which is never what was meant."""


PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")
"""A template parameter in a string (`${hf_model}`), filled in when a model is loaded."""


# Asked for every deployment at several stages (placing, pool demand, pricing) about the
# handful of accelerator values a stack names.
@functools.lru_cache(maxsize=256)
def parse_accelerator(value: str) -> tuple[str, int]:
    """`"H100:2"` → `("H100", 2)`; `"H100"` → `("H100", 1)`. The value is already validated."""
    name, _, count = value.partition(":")
    return name, int(count) if count else 1


def _accelerator(value: Any) -> str:
    if not isinstance(value, str):
        raise PydanticCustomError(
            "accelerator", "expected TYPE or TYPE:COUNT, like 'H100' or 'H100:2'"
        )
    name, sep, count_text = value.partition(":")
    kind = catalog().accelerators.get(name)
    if kind is None:
        raise PydanticCustomError(
            "accelerator",
            "unknown accelerator '{name}'{hint} (known: {known})",
            {
                "name": name,
                "hint": did_you_mean(name, accelerator_names()),
                "known": ", ".join(accelerator_names()),
            },
        )
    if not sep:
        return name
    if not count_text.isdigit() or int(count_text) < 1:
        raise PydanticCustomError(
            "accelerator",
            "'{value}': the count after ':' must be a whole number of at least 1",
            {"value": value},
        )
    count = int(count_text)
    if count > kind.max_per_node:
        raise PydanticCustomError(
            "accelerator",
            "'{value}': at most {most} {name} fit on one node",
            {"value": value, "most": kind.max_per_node, "name": name},
        )
    return name if count == 1 else f"{name}:{count}"


Accelerator = Annotated[
    str,
    BeforeValidator(_accelerator),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": "^(" + "|".join(accelerator_names()) + r")(:[1-9][0-9]*)?$",
            "examples": ["H100", "H100:2", "L4"],
        }
    ),
]
"""`TYPE[:COUNT]` with Baseten's accelerator names; normalized to `H100` / `H100:2`."""


def _env_value(value: Any) -> Any:
    if isinstance(value, bool):
        raise PydanticCustomError(
            "env_bool",
            'YAML read this as a boolean; quote it ("{text}") to pass it as text',
            {"text": "true" if value else "false"},
        )
    if isinstance(value, int | float):
        return str(value)
    return value


EnvValue = Annotated[
    str,
    BeforeValidator(_env_value),
    WithJsonSchema({"type": ["string", "number"]}),
]
"""An environment variable's value; numbers are taken as their text."""

Port = Annotated[int, Field(ge=1, le=65535)]


def _traffic_weight(value: Any) -> int:
    # bool is an int in Python, and YAML reads `yes`/`on` as true: never a weight.
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 100:
        return value
    raise PydanticCustomError(
        "traffic_weight",
        "a traffic weight is a whole percent from 0 to 100, like `90` (got {value})",
        {"value": repr(value)},
    )


TrafficWeight = Annotated[
    int,
    BeforeValidator(_traffic_weight),
    WithJsonSchema({"type": "integer", "minimum": 0, "maximum": 100}, mode="validation"),
]
"""A percent of an environment's requests; an environment's weights add up to 100."""

ParamValue = str | int | float | bool
"""A template parameter's value."""
