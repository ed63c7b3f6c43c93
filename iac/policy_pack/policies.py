"""The same rules as `iac validate`, as Pulumi CrossGuard policies.

One `StackValidationPolicy` per rule: it rebuilds the deployment facts from the Kubernetes
objects Pulumi is about to register (`iac.policy.facts.facts_from_objects`) and calls the
rule function `iac` uses. Each policy's configuration is that rule's settings, in the same
shape as under the stack's `policies:` (its JSON schema is generated from the same model),
e.g. `{"budget": {"monthly": 40000}}` in `--policy-pack-config`.

Rules that need facts no object carries (declared resources, weights size, promotion
settings) are judged by `iac validate` / `iac plan` only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyConfigSchema,
    ReportViolation,
    StackValidationArgs,
    StackValidationPolicy,
)
from pydantic import ValidationError

from iac.policy import pricing_context
from iac.policy.facts import facts_from_objects
from iac.policy.rules import RULES, Violation
from iac.spec import policies as p

STACK_ONLY_RULES = frozenset(
    {"resources-declared", "weights-fit", "rolling-promotion", "rollout-keeps-ready"}
)
"""Rules whose facts only the stack file has."""

PACK_NAME = "iac-serving"


def _settings_model(key: str) -> type[p.Rule]:
    """`budget` → the `Budget` model (the field's type, without its `| None`)."""
    annotation = p.Policies.model_fields[key].annotation
    for option in (*getattr(annotation, "__args__", ()), annotation):
        if isinstance(option, type) and issubclass(option, p.Rule):
            return option
    raise TypeError(f"policies.{key} is not a rule")


def _plain(value: Any) -> Any:
    """Values as the compiler wrote them. The engine hands properties and configuration over
    as JSON-like structs whose numbers are all floats (`minReplicaCount: 1.0`, a duration
    of `600` arrives as `600.0`); whole floats become ints again, so messages and duration
    fields read as in `iac validate`."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [_plain(v) for v in value]
    return value


def _objects(args: StackValidationArgs) -> list[dict[str, Any]]:
    """The registered Kubernetes objects, as manifests (pulumi-kubernetes inputs are the
    manifest's own fields)."""
    return [
        _plain(dict(resource.props))
        for resource in args.resources
        if resource.resource_type.startswith("kubernetes:") and "metadata" in resource.props
    ]


def _urns(args: StackValidationArgs) -> dict[tuple[str, str], str]:
    found = {}
    for resource in args.resources:
        props = resource.props
        labels = (props.get("metadata") or {}).get("labels") or {}
        if props.get("kind") == "Deployment" and "iac.dev/model" in labels:
            found[(labels["iac.dev/model"], labels["iac.dev/deployment"])] = resource.urn
    return found


def make_policy(rule_id: str) -> StackValidationPolicy:
    key, function = RULES[rule_id]
    model = _settings_model(key)
    default_on = p.Policies.model_fields[key].default_factory is not None

    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        config = _plain(dict(args.get_config()))
        raw = {k: v for k, v in config.items() if k != "enforcementLevel"}
        if not raw and not default_on:
            return  # a rule with no settings is off, as in the stack
        try:
            settings = model.model_validate(raw)
        except ValidationError as exc:
            report_violation(f"[{rule_id}] invalid policy configuration: {exc}", None)
            return
        if not settings.enabled:
            return
        context = pricing_context(None, raw.get("provisioner", "karpenter"))
        urns = _urns(args)
        for violation in function(facts_from_objects(_objects(args)), settings, context):
            report_violation(
                _text(violation), urns.get((violation.model or "", violation.deployment or ""))
            )

    level = model.model_fields["level"].default
    return StackValidationPolicy(
        name=rule_id,
        description=(model.__doc__ or rule_id).strip().splitlines()[0],
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY
        if level == "error"
        else EnforcementLevel.ADVISORY,
        config_schema=PolicyConfigSchema(properties=_config_properties(model)),
    )


def _config_properties(model: type[p.Rule]) -> dict[str, Any]:
    """The rule's settings as the pack's config schema, without their defaults: the engine
    fills a schema's defaults into the configuration it passes, and a rule that is off
    unless configured would then always look configured (`{enabled: true, level: error}`).
    The rule's own model applies the same defaults when it validates the settings."""
    properties = model.model_json_schema()["properties"]
    stripped = {
        name: {k: v for k, v in schema.items() if k != "default"}
        for name, schema in properties.items()
    }
    return stripped | {"provisioner": {"type": "string"}}


def _text(violation: Violation) -> str:
    where = "/".join(x for x in (violation.model, violation.environment, violation.deployment) if x)
    prefix = f"{where}: " if where else ""
    return f"[{violation.rule}] {prefix}{violation.message}; {violation.fix}"


def all_policies() -> list[Policy]:
    return [make_policy(rule_id) for rule_id in RULES if rule_id not in STACK_ONLY_RULES]
